"""What every request needs: one unit of work, the playbook in force, the clock and the signed-in principal.

`Ctx` bundles them; an endpoint asks for `Depends(ctx("leads.read"))` and gets the principal only when its
role has that permission (playbook `permissions.roles`), otherwise 403; no valid token is 401.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leadflow.domain.permissions import Principal, principal_for
from leadflow.domain.records import Actor
from leadflow.errors import NotPermitted
from leadflow.playbook.schema import Playbook
from leadflow.services.auth import Unauthorized, user_for_token
from leadflow.services.playbooks import active_playbook
from leadflow.store.db import Store
from leadflow.store.uow import UnitOfWork

bearer = HTTPBearer(auto_error=False, description="A per-user API token: `leadflow user token create USER`.")


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_uow(request: Request) -> Iterator[UnitOfWork]:
    """One unit of work per request; leaving it without commit rolls back."""
    with get_store(request).uow() as uow:
        yield uow


def playbook_in_force(request: Request, uow: UnitOfWork) -> Playbook:
    """The database's active playbook version; the configured file when the database holds none."""
    active = active_playbook(uow)
    if active is not None:
        return active.playbook
    pb: Playbook = request.app.state.playbook
    return pb


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
        if not self.principal.can(permission):
            raise NotPermitted(f"role {self.principal.role} may not {permission} (playbook permissions)", None)


def _authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    uow: Annotated[UnitOfWork, Depends(get_uow)],
) -> Ctx:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("an API token is required: Authorization: Bearer <token>", "authorization")
    user = user_for_token(uow, credentials.credentials)
    pb = playbook_in_force(request, uow)
    principal = principal_for(pb, user.id, user.role, user.team, user.region, user.segment)
    return Ctx(store=get_store(request), uow=uow, pb=pb, now=now_of(request), principal=principal)


def ctx(permission: str | None = None) -> Callable[..., Ctx]:
    """A dependency: the request's Ctx, after checking the principal may `permission`."""

    def dependency(c: Annotated[Ctx, Depends(_authenticated)]) -> Ctx:
        if permission is not None:
            c.require(permission)
        return c

    return dependency
