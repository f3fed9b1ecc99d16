"""The FastAPI application: health now; the API proper is added resource by resource."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from leadflow import __version__
from leadflow.api.webhooks import router as webhooks_router
from leadflow.errors import LeadflowError
from leadflow.playbook.load import cached_playbook
from leadflow.settings import Settings, get_settings
from leadflow.store.db import Store


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for one store and playbook (taken from the environment by default)."""
    settings = settings or get_settings()
    store = Store(settings.database_url)
    playbook = cached_playbook(settings.playbook)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.dispose()

    app = FastAPI(
        title="leadflow", version=__version__, description="Lead lifecycle and routing engine.", lifespan=lifespan
    )
    app.state.store = store
    app.state.playbook = playbook

    @app.exception_handler(LeadflowError)
    async def _refusal(request: Request, exc: LeadflowError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content=exc.to_dict())

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, Any]:
        """Liveness and readiness: the database answers and a playbook is in force."""
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "playbook": playbook.name,
                "database": store.engine.dialect.name}

    app.include_router(webhooks_router)  # signed per source (I2); not behind the API's tokens
    return app
