"""Configuration from the environment (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """LEADFLOW_DATABASE_URL, LEADFLOW_PLAYBOOK, LEADFLOW_HOST, LEADFLOW_PORT, LEADFLOW_API_THREADS,
    LEADFLOW_API_INTAKE_BATCH."""

    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", extra="ignore")

    database_url: str = "sqlite:///leadflow.db"
    playbook: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # Worker threads that run the API's synchronous work. Under the GIL more threads add no parallelism, only
    # hand-overs: with 32 clients, 40 threads (anyio's default) served /auth/me at ~350 requests/s, 1-4 at ~450.
    api_threads: int = Field(default=4, ge=1, le=64)
    # Intakes over HTTP that may share one transaction (group commit, services/intake_batcher.py); 1 = each
    # its own.
    api_intake_batch: int = Field(default=64, ge=1, le=1000)


def get_settings() -> Settings:
    return Settings()
