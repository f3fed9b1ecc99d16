"""Sign-in and API tokens (P5): log in with a password, see who you are, create and revoke tokens.

A token is shown once, in the answer that creates it; only its SHA-256 is stored. A user manages their own
tokens; `tokens.manage` (admins) manages anyone's.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from leadflow.api.deps import Ctx, ctx, get_uow, now_of
from leadflow.api.errors import ERROR_RESPONSES
from leadflow.domain.records import Actor
from leadflow.errors import NotFound, NotPermitted
from leadflow.services.auth import check_password, create_token, list_tokens, revoke_token
from leadflow.store.models import ApiToken
from leadflow.store.uow import UnitOfWork

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1000)
    token_name: str = Field(default="login", min_length=1, max_length=120)


class IssuedTokenOut(BaseModel):
    """A new token: `token` is shown this once and never again."""

    id: str
    user_id: str
    name: str
    token: str
    created_at: dt.datetime


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    user_id: str
    name: str
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None


class MeOut(BaseModel):
    user_id: str
    role: str
    team: str | None
    region: str | None
    segment: str | None
    admin: bool
    read_scope: str
    sees_public_sector: bool
    permissions: list[str]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="api", min_length=1, max_length=120)


@router.post("/auth/login", response_model=IssuedTokenOut, status_code=201)
def login(body: LoginIn, request: Request, uow: Annotated[UnitOfWork, Depends(get_uow)]) -> Any:
    """Sign in with email and password (argon2); the answer holds a new API token for this session."""
    user = check_password(uow, body.email, body.password)
    issued = create_token(uow, user.id, body.token_name, f"user:{user.id}", now_of(request))
    uow.commit()
    return IssuedTokenOut(**issued.__dict__)


@router.get("/auth/me", response_model=MeOut)
async def me(c: Annotated[Ctx, Depends(ctx())]) -> Any:
    """Who the token belongs to and what the playbook lets them do (no I/O of its own: on the event loop)."""
    p = c.principal
    return MeOut(user_id=p.user_id, role=p.role, team=p.team, region=p.region, segment=p.segment, admin=p.admin,
                 read_scope=p.read_scope, sees_public_sector=p.sees_public_sector, permissions=sorted(p.permissions))


def _own_or_manager(c: Ctx, user_id: str) -> None:
    if user_id != c.principal.user_id and not c.principal.can("tokens.manage"):
        raise NotPermitted("only the user themself or `tokens.manage` may manage a user's tokens", "user_id")


@router.get("/users/{user_id}/tokens", response_model=list[TokenOut], tags=["users"])
def tokens(user_id: Annotated[str, Path(max_length=64)], c: Annotated[Ctx, Depends(ctx())]) -> Any:
    """The user's tokens (never their secret)."""
    _own_or_manager(c, user_id)
    return [TokenOut.model_validate(t) for t in list_tokens(c.uow, user_id)]


@router.post("/users/{user_id}/tokens", response_model=IssuedTokenOut, status_code=201, tags=["users"])
def new_token(user_id: Annotated[str, Path(max_length=64)], body: TokenIn, c: Annotated[Ctx, Depends(ctx())]) -> Any:
    """A new API token for the user, shown once."""
    _own_or_manager(c, user_id)
    issued = create_token(c.uow, user_id, body.name, str(Actor.user(c.principal.user_id)), c.now)
    c.uow.commit()
    return IssuedTokenOut(**issued.__dict__)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke(token_id: Annotated[str, Path(max_length=64)], c: Annotated[Ctx, Depends(ctx())]) -> Any:
    """Revoke a token at once (idempotent): your own, or anyone's with `tokens.manage`."""
    row = c.uow.session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token with id '{token_id}'", "token_id")
    _own_or_manager(c, row.user_id)
    revoked = revoke_token(c.uow, token_id, c.now)
    c.uow.commit()
    return TokenOut.model_validate(revoked)
