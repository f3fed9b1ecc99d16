"""What every request needs: one unit of work, the playbook in force, the clock and the signed-in principal.

`Ctx` bundles them; an endpoint asks for `Depends(ctx("leads.read"))` and gets the principal only when its
role has that permission (playbook `permissions.roles`), otherwise 403; no valid token is 401.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leadflow.domain.permissions import Principal
from leadflow.domain.records import Actor
from leadflow.playbook.schema import Playbook
from leadflow.services.auth import Unauthorized, user_for_token
from leadflow.services.playbooks import playbook_or
from leadflow.store.db import Store
from leadflow.store.uow import UnitOfWork

bearer = HTTPBearer(auto_error=False, description="A per-user API token: `leadflow user token create USER`.")


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Gates:
    """Where requests wait for the database: in the event loop, never in a worker thread.

    A request's unit of work is opened in one worker thread and used in another (FastAPI runs each sync
    dependency and the endpoint as separate thread-pool calls). If requests waited for a pooled connection
    or for SQLite's single write lock inside threads, they could fill the thread pool while the request that
    holds the connection or the lock waits for a thread to finish: everything stalls. So at most `pooled`
    requests hold a connection at once (below the engine's pool size), and on SQLite one writer at a time.
    """

    def __init__(self, store: Store) -> None:
        # Within the pool's kept connections: an overflow connection is opened and closed per request.
        pool_size = getattr(store.engine.pool, "size", lambda: 5)()
        self.pooled = anyio.Semaphore(max(1, pool_size - 1))
        self.writer = anyio.Semaphore(1) if store.engine.dialect.name == "sqlite" else None


async def gate(request: Request) -> AsyncIterator[None]:
    gates: Gates = request.app.state.gates
    writer = gates.writer if request.method not in SAFE_METHODS else None
    if writer is not None:
        await writer.acquire()
    try:
        async with gates.pooled:
            yield
    finally:
        if writer is not None:
            writer.release()


def get_uow(request: Request, _: Annotated[None, Depends(gate)]) -> Iterator[UnitOfWork]:
    """One unit of work per request; leaving it without commit rolls back. A request that may write declares
    it first, so that concurrent writers queue on SQLite rather than fail."""
    store = get_store(request)
    with store.uow() as uow:
        if request.method not in SAFE_METHODS:
            store.writing(uow)
        yield uow


def playbook_in_force(request: Request, uow: UnitOfWork) -> Playbook:
    """The database's active playbook version; the configured file when the database holds none."""
    return playbook_or(uow, request.app.state.playbook)


def now_of(request: Request) -> dt.datetime:
    """The edge is the only place that reads the clock (tests replace `app.state.clock`)."""
    clock: Callable[[], dt.datetime] = request.app.state.clock
    return clock()


@dataclass
class Ctx:
    """One request: its unit of work, playbook, time and principal."""

    store: Store
    uow: UnitOfWork
    pb: Playbook
    now: dt.datetime
    principal: Principal

    @property
    def actor(self) -> Actor:
        return Actor.user(self.principal.user_id)

    def require(self, permission: str) -> None:
        self.principal.require(permission)


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The request's bearer token, checked for its form before any database work (401 without one)."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("an API token is required: Authorization: Bearer <token>", "authorization")
    return credentials.credentials


def _principal(request: Request, uow: UnitOfWork, token: str) -> tuple[Playbook, Principal]:
    """The playbook in force and the principal of an active user's live token (401 otherwise)."""
    user = user_for_token(uow, token)
    pb = playbook_in_force(request, uow)
    return pb, user.principal(pb)


def _authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    _: Annotated[None, Depends(gate)],
) -> Iterator[Ctx]:
    """Open the request's unit of work and authenticate in one step (one thread-pool call, not one per
    dependency: under load every hop between the event loop and a worker thread costs a GIL hand-over)."""
    token = _token(credentials)
    store = get_store(request)
    with store.uow() as uow:
        if request.method not in SAFE_METHODS:
            store.writing(uow)
        pb, who = _principal(request, uow, token)
        yield Ctx(store=store, uow=uow, pb=pb, now=now_of(request), principal=who)


async def bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """A dependency: the request's bearer token, checked for its form only (401 without one). For endpoints
    whose writer checks it in its own transaction (the intake's group commit), so no request pays a thread
    hop and a read of its own to authenticate. It does no I/O, so it runs on the event loop (`async`): a
    plain `def` dependency is called in the thread pool, a GIL hand-over and a wake-up of the loop each."""
    return _token(credentials)


def ctx(permission: str | None = None) -> Callable[..., Ctx]:
    """A dependency: the request's Ctx, after checking the principal may `permission`."""

    async def dependency(c: Annotated[Ctx, Depends(_authenticated)]) -> Ctx:  # no I/O: runs on the loop
        if permission is not None:
            c.require(permission)
        return c

    return dependency
