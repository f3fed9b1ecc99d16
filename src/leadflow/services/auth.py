"""Authentication (P5): argon2 passwords and per-user API tokens, stored hashed, revocable, shown once.

A token is `lf_` + 32 random bytes (secrets.token_urlsafe); only its SHA-256 is stored, so a leaked
database does not leak tokens, and the clear token exists only in the answer that created it. SHA-256 (not
argon2) is right for tokens: they are long random secrets, and every API call checks one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from leadflow.domain.permissions import Principal, principal_for
from leadflow.errors import InvalidInput, LeadflowError, NotFound
from leadflow.playbook.schema import Playbook
from leadflow.store.models import ApiToken, User, UserPassword
from leadflow.store.uow import UnitOfWork

TOKEN_PREFIX = "lf_"
MIN_PASSWORD = 12
_hasher = PasswordHasher()


class Unauthorized(LeadflowError):
    """No valid credentials: a missing, unknown or revoked token, or a wrong password."""

    status_code = 401


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: `token` is the only time the clear value is seen."""

    id: str
    user_id: str
    name: str
    token: str
    created_at: dt.datetime


def create_token(uow: UnitOfWork, user_id: str, name: str, created_by: str, now: dt.datetime) -> IssuedToken:
    """A new API token for an active user; the caller commits and shows `token` once."""
    user = uow.session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id '{user_id}'", "user_id")
    if not user.active:
        raise InvalidInput(f"user {user_id} is inactive and cannot have tokens", "user_id")
    name = name.strip() or "api"
    if len(name) > 120:
        raise InvalidInput("a token name is at most 120 characters", "name")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user_id, name=name, token_sha256=token_digest(clear), created_at=now,
                   created_by=created_by)
    uow.session.add(row)
    uow.session.flush()
    return IssuedToken(id=row.id, user_id=user_id, name=name, token=clear, created_at=now)


def revoke_token(uow: UnitOfWork, token_id: str, now: dt.datetime, *, user_id: str | None = None) -> ApiToken:
    """Revoke a token (idempotent); with `user_id`, only that user's own token."""
    row = uow.session.get(ApiToken, token_id)
    if row is None or (user_id is not None and row.user_id != user_id):
        raise NotFound(f"no token with id '{token_id}'", "token_id")
    if row.revoked_at is None:
        row.revoked_at = now
    return row


def list_tokens(uow: UnitOfWork, user_id: str | None = None) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    return list(uow.session.scalars(stmt))


@dataclass(frozen=True)
class TokenUser:
    """The user behind a live API token: what a principal is made of (domain.permissions.principal_for)."""

    id: str
    role: str
    team: str | None
    region: str | None
    segment: str | None

    def principal(self, pb: Playbook) -> Principal:
        """This user's principal under the playbook's permissions."""
        return principal_for(pb, self.id, self.role, self.team, self.region, self.segment)


def users_for_tokens(uow: UnitOfWork, tokens: Iterable[str]) -> dict[str, TokenUser | Unauthorized]:
    """For each token, the active user its live token belongs to, or why it is refused; one query for all
    (the intake's group commit checks a whole group's tokens in its own transaction)."""
    digests = {token_digest(token): token for token in set(tokens)}
    found: dict[str, TokenUser | Unauthorized] = {
        token: Unauthorized("unknown API token", "authorization") for token in digests.values()}
    if not digests:
        return found
    rows = uow.session.execute(
        select(ApiToken.token_sha256, ApiToken.revoked_at, User.id, User.active, User.role, User.team,
               User.region, User.segment)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_sha256.in_(sorted(digests)))
    )
    for digest, revoked_at, user_id, active, role, team, region, segment in rows:
        token = digests[digest]
        if revoked_at is not None:
            found[token] = Unauthorized("this API token was revoked", "authorization")
        elif not active:
            found[token] = Unauthorized(f"user {user_id} is inactive", "authorization")
        else:
            found[token] = TokenUser(user_id, role, team, region, segment)
    return found


def user_for_token(uow: UnitOfWork, token: str) -> TokenUser:
    """The active user a live token belongs to, or Unauthorized."""
    found = users_for_tokens(uow, [token])[token]
    if isinstance(found, Unauthorized):
        raise found
    return found


def set_password(uow: UnitOfWork, user_id: str, password: str, now: dt.datetime) -> None:
    """Store an argon2 hash of `password` (at least 12 characters) for the user."""
    if uow.session.get(User, user_id) is None:
        raise NotFound(f"no user with id '{user_id}'", "user_id")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password has at least {MIN_PASSWORD} characters", "password")
    digest = _hasher.hash(password)
    row = uow.session.get(UserPassword, user_id)
    if row is None:
        uow.session.add(UserPassword(user_id=user_id, password_hash=digest, set_at=now))
    else:
        row.password_hash = digest
        row.set_at = now


def check_password(uow: UnitOfWork, email: str, password: str) -> User:
    """The active user with this email and password, or Unauthorized (the same answer for every failure)."""
    refused = Unauthorized("wrong email or password", "password")
    user = uow.session.scalars(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        user = uow.session.scalars(select(User).where(User.email == email.strip())).first()
    row = uow.session.get(UserPassword, user.id) if user is not None else None
    if user is None or row is None or not user.active:
        raise refused
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise refused from None
    if _hasher.check_needs_rehash(row.password_hash):
        row.password_hash = _hasher.hash(password)
    return user
