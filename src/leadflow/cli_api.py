"""Operator commands for the API: API tokens and passwords (`leadflow user ...`) and playbook versions
(`leadflow playbook activate|versions|restore`). Registered on cli.py's apps by `register`."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leadflow.cli import err, handles_errors, open_store, out, parse_now
from leadflow.domain.records import Actor
from leadflow.errors import LeadflowError
from leadflow.store.db import Store

token_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)
password_app = typer.Typer(help="Passwords for signing in (argon2).", no_args_is_help=True)

NowOption = Annotated[str | None, typer.Option("--now", help="ISO time to act at (default: the current UTC time).")]
ActorOption = Annotated[str, typer.Option("--as", help="User id acting (default: the operator).")]


def register(app: typer.Typer, user_app: typer.Typer, playbook_app: typer.Typer) -> None:
    """Attach these commands to the main CLI's sub-apps (one line in cli.py)."""
    user_app.add_typer(token_app, name="token")
    user_app.add_typer(password_app, name="password")
    playbook_app.command("activate")(playbook_activate)
    playbook_app.command("versions")(playbook_versions)
    playbook_app.command("restore")(playbook_restore)


# --------------------------------------------------------------------------- tokens and passwords


@token_app.command("create")
@handles_errors
def token_create(
    user_id: Annotated[str, typer.Argument(help="User the token acts as.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    actor: ActorOption = "",
    now: NowOption = None,
) -> None:
    """Create an API token for USER_ID; it is printed once and only its hash is stored."""
    from leadflow.services.auth import create_token

    with open_store() as store, store.uow() as uow:
        issued = create_token(uow, user_id, name, str(Actor.user(actor) if actor else Actor.system("cli")),
                              parse_now(now))
        uow.commit()
    err.print(f"token {issued.id} for {user_id} ({issued.name}); shown once, keep it safe:", markup=False)
    out.print(issued.token, markup=False)


@token_app.command("list")
@handles_errors
def token_list(user_id: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None) -> None:
    """Tokens (never their secret): id, user, name, created, revoked."""
    from leadflow.services.auth import list_tokens

    with open_store() as store, store.uow() as uow:
        rows = list_tokens(uow, user_id)
        table = Table(title=f"API tokens: {len(rows)}", title_justify="left")
        for column in ("id", "user", "name", "created", "by", "revoked"):
            table.add_column(column, overflow="fold")
        for t in rows:
            table.add_row(t.id, t.user_id, t.name, f"{t.created_at:%Y-%m-%d %H:%M}", t.created_by,
                          f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "")
    out.print(table)


@token_app.command("revoke")
@handles_errors
def token_revoke(token_id: Annotated[str, typer.Argument(help="Token id (from `token list`).")],
                 now: NowOption = None) -> None:
    """Revoke a token at once (idempotent)."""
    from leadflow.services.auth import revoke_token

    with open_store() as store, store.uow() as uow:
        row = revoke_token(uow, token_id, parse_now(now))
        uow.commit()
        out.print(f"{row.id}: revoked at {row.revoked_at:%Y-%m-%d %H:%M} UTC", markup=False)


@password_app.command("set")
@handles_errors
def password_set(
    user_id: Annotated[str, typer.Argument(help="User id.")],
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from standard input.")] = False,
    now: NowOption = None,
) -> None:
    """Set a user's sign-in password (at least 12 characters; stored as an argon2 hash)."""
    from leadflow.services.auth import set_password

    if stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with open_store() as store, store.uow() as uow:
        set_password(uow, user_id, password, parse_now(now))
        uow.commit()
    out.print(f"{user_id}: password set", markup=False)


# --------------------------------------------------------------------------- playbook versions


@handles_errors
def playbook_activate(
    file: Annotated[Path, typer.Argument(help="Playbook YAML file.", exists=True, dir_okay=False)],
    actor: ActorOption = "",
    now: NowOption = None,
) -> None:
    """Validate FILE and make it the playbook in force (stored with author and time; the old one is kept)."""
    from leadflow.services.playbooks import activate_playbook

    text = file.read_text(encoding="utf-8")
    with open_store() as store, store.uow() as uow:
        row = activate_playbook(uow, text, str(file), actor or "cli", parse_now(now))
        uow.commit()
        out.print(f"playbook version {row.id} ({row.name}) is in force", markup=False)


@handles_errors
def playbook_versions() -> None:
    """Every stored playbook version, newest first; * marks the one in force."""
    from leadflow.services.playbooks import list_versions

    with open_store() as store, store.uow() as uow:
        table = Table(title="playbook versions", title_justify="left")
        for column in ("", "id", "name", "source", "author", "stored", "activated", "sha256"):
            table.add_column(column, overflow="fold")
        for v in list_versions(uow):
            table.add_row("*" if v.active else "", str(v.id), v.name, v.source, v.author or "",
                          f"{v.loaded_at:%Y-%m-%d %H:%M}", f"{v.activated_at:%Y-%m-%d %H:%M}" if v.activated_at else "",
                          v.sha256[:12])
    out.print(table)


@handles_errors
def playbook_restore(
    version_id: Annotated[int, typer.Argument(help="Version id (from `playbook versions`).")],
    actor: ActorOption = "",
    now: NowOption = None,
) -> None:
    """Make a stored playbook version the one in force again."""
    from leadflow.services.playbooks import restore_playbook

    with open_store() as store, store.uow() as uow:
        row = restore_playbook(uow, version_id, actor or "cli", parse_now(now))
        uow.commit()
        out.print(f"playbook version {row.id} ({row.name}) is in force again", markup=False)


# --------------------------------------------------------------------------- `leadflow init`: the first admin


def first_admin_token(store: Store, now: dt.datetime) -> str:
    """After `init`: make sure an active admin exists and has a token; create one (printed once) if not."""
    from sqlalchemy import select

    from leadflow.services.auth import create_token
    from leadflow.store.models import ApiToken, User

    with store.uow() as uow:
        admin = uow.session.scalars(
            select(User).where(User.role == "Admin", User.active.is_(True)).order_by(User.id).limit(1)
        ).first()
        if admin is None:
            with uow.changing(actor=Actor.system("init"), now=now, rule="init", why="the first admin (API)"):
                admin = uow.add(User(id="admin", name="Administrator", email="admin@leadflow.invalid", role="Admin",
                                     team="Sales Operations", active=True, out_of_office=False))
        live = uow.session.scalars(
            select(ApiToken.id).where(ApiToken.user_id == admin.id, ApiToken.revoked_at.is_(None)).limit(1)
        ).first()
        if live is not None:
            return (f"API: admin {admin.id} has a token already; another: leadflow user token create {admin.id}")
        try:
            issued = create_token(uow, admin.id, "init", "system:init", now)
        except LeadflowError as exc:
            return f"API: no admin token ({exc})"
        uow.commit()
    return f"API: admin token for {admin.id} (shown once): {issued.token}"
