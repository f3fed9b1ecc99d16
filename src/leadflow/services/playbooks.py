"""Playbook versions in the database: validate, store with author and time, activate atomically, restore.

Every version ever activated is kept (`playbooks` table); exactly one is active. Activation is one
transaction (all rows inactive, the new one active, its queues created), so a running service sees the
old playbook or the new one, never half. Services that run read the active version through
`active_playbook`, which parses each version once per process (keyed by its SHA-256).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass

from sqlalchemy import select, update

from leadflow.errors import NotFound
from leadflow.playbook.load import parse_playbook
from leadflow.playbook.schema import Playbook
from leadflow.services.setup import install_playbook
from leadflow.store.models import PlaybookVersion
from leadflow.store.uow import UnitOfWork


@dataclass(frozen=True)
class ActiveVersion:
    id: int
    sha256: str
    playbook: Playbook


_BY_SHA: dict[str, Playbook] = {}  # parsed versions of this process; a playbook is frozen, so sharing is safe
# One parse per version: the first burst of requests after a start or an activation would otherwise each
# parse the same text at once (a cold API under 32 clients spent seconds doing so).
_PARSING = threading.Lock()


def activate_playbook(uow: UnitOfWork, text: str, source: str, author: str, now: dt.datetime) -> PlaybookVersion:
    """Validate `text` (PlaybookError listing every problem, nothing stored) and make it the active version."""
    pb = parse_playbook(text, source)
    install_playbook(uow, pb, text, source, now)
    uow.session.flush()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    row = uow.session.scalars(select(PlaybookVersion).where(PlaybookVersion.sha256 == digest)).one()
    if row.author is None:
        row.author = author
    row.activated_at = now
    return row


def restore_playbook(uow: UnitOfWork, version_id: int, author: str, now: dt.datetime) -> PlaybookVersion:
    """Make a stored version the active one again (re-validated against today's schema first)."""
    row = uow.session.get(PlaybookVersion, version_id)
    if row is None:
        raise NotFound(f"no playbook version {version_id}", "version_id")
    pb = parse_playbook(row.text, f"playbook version {version_id}")
    install_playbook(uow, pb, row.text, row.source, now)
    uow.session.execute(update(PlaybookVersion).where(PlaybookVersion.id != row.id).values(active=False))
    row.active = True
    row.activated_at = now
    return row


def list_versions(uow: UnitOfWork) -> list[PlaybookVersion]:
    return list(uow.session.scalars(select(PlaybookVersion).order_by(PlaybookVersion.id.desc())))


def active_playbook(uow: UnitOfWork) -> ActiveVersion | None:
    """The active version, parsed (cached per text), or None when the database holds none."""
    row = uow.session.execute(
        select(PlaybookVersion.id, PlaybookVersion.sha256).where(PlaybookVersion.active.is_(True))
        .order_by(PlaybookVersion.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    pb = _BY_SHA.get(row.sha256)
    if pb is None:
        text = uow.session.scalar(select(PlaybookVersion.text).where(PlaybookVersion.id == row.id)) or ""
        with _PARSING:
            pb = _BY_SHA.get(row.sha256)
            if pb is None:
                pb = _BY_SHA[row.sha256] = parse_playbook(text, f"playbook version {row.id}")
    return ActiveVersion(id=row.id, sha256=row.sha256, playbook=pb)


def playbook_or(uow: UnitOfWork, fallback: Playbook) -> Playbook:
    """The playbook in force: the database's active version, or `fallback` (the configured file) while the
    database holds none."""
    active = active_playbook(uow)
    return active.playbook if active is not None else fallback
