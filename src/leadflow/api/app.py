"""The FastAPI application: health, then the API proper (auth, records, actions, playbooks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import text

from leadflow import __version__, gc_policy
from leadflow.api import actions, auth, errors, playbooks, records, working
from leadflow.api.deps import Gates
from leadflow.api.webhooks import router as webhooks_router
from leadflow.playbook.load import cached_playbook
from leadflow.services.intake_batcher import IntakeBatcher
from leadflow.services.playbooks import playbook_or
from leadflow.settings import Settings, get_settings
from leadflow.store.db import Store


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for one store and playbook (taken from the environment by default).

    The playbook in force is the database's active version (`leadflow init`, `POST /playbooks`); the
    configured file is used only while the database holds none.
    """
    settings = settings or get_settings()
    store = Store(settings.database_url)
    playbook = cached_playbook(settings.playbook)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        gc_policy.serving()  # start-up's objects frozen, fewer full collections (leadflow/gc_policy.py)
        yield
        store.dispose()

    app = FastAPI(
        title="leadflow", version=__version__, description="Lead lifecycle and routing engine. Every endpoint "
        "but /health and the webhook receiver needs `Authorization: Bearer <API token>`.", lifespan=lifespan
    )
    app.state.store = store
    app.state.playbook = playbook
    app.state.clock = _utc_now
    app.state.gates = Gates(store)

    app.state.intake_batcher = IntakeBatcher(store, lambda uow: playbook_or(uow, playbook),
                                             lambda: app.state.clock(), max_batch=settings.api_intake_batch)
    errors.install(app)

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, Any]:
        """Liveness and readiness: the database answers and a playbook is in force."""
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "playbook": playbook.name,
                "database": store.engine.dialect.name}

    app.include_router(webhooks_router)  # signed per source (I2); not behind the API's tokens
    app.include_router(auth.router)
    app.include_router(actions.router)
    for router in records.routers():
        app.include_router(router)
    app.include_router(playbooks.router)
    app.include_router(working.router)
    return app
