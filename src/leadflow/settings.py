"""Configuration from the environment (pydantic-settings)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """LEADFLOW_DATABASE_URL, LEADFLOW_PLAYBOOK, LEADFLOW_HOST, LEADFLOW_PORT."""

    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore")

    database_url: str = "sqlite:///leadflow.db"
    playbook: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000


def get_settings() -> Settings:
    return Settings()
