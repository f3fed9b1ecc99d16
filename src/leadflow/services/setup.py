"""Initialising a database: migrations, the playbook in force, its queues (idempotent)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from sqlalchemy import select, update

from leadflow.playbook.load import default_playbook_path, parse_playbook
from leadflow.playbook.schema import Playbook
from leadflow.store.db import Store
from leadflow.store.models import Meta, PlaybookVersion, Queue
from leadflow.store.uow import UnitOfWork


def read_playbook(path: str | Path | None) -> tuple[Playbook, str, str]:
    """The playbook at `path` (built-in when None), its text and where it came from."""
    source = Path(path) if path else default_playbook_path()
    text = source.read_text(encoding="utf-8")
    return parse_playbook(text, str(source)), text, str(source)


def install_playbook(uow: UnitOfWork, pb: Playbook, text: str, source: str, now: dt.datetime) -> bool:
    """Make this playbook the one in force and create its queues; False if already in force."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    session = uow.session
    existing = session.scalars(select(PlaybookVersion).where(PlaybookVersion.sha256 == digest)).first()
    for queue in pb.queues:
        row = session.get(Queue, queue.name)
        if row is None:
            session.add(Queue(id=queue.name, description=queue.description))
        elif row.description != queue.description:
            row.description = queue.description
    if existing is not None and existing.active:
        return False
    session.execute(update(PlaybookVersion).values(active=False))
    if existing is not None:
        existing.active = True
        existing.activated_at = now
    else:
        session.add(PlaybookVersion(name=pb.name, sha256=digest, source=source, text=text, loaded_at=now, active=True,
                                    activated_at=now))
    return True


def get_meta(uow: UnitOfWork, key: str) -> str | None:
    row = uow.session.get(Meta, key)
    return row.value if row else None


def set_meta(uow: UnitOfWork, key: str, value: str) -> None:
    row = uow.session.get(Meta, key)
    if row is None:
        uow.session.add(Meta(key=key, value=value))
    else:
        row.value = value


def initialise(store: Store, pb: Playbook, text: str, source: str, now: dt.datetime) -> bool:
    """Migrate and install the playbook; True when the playbook in force changed."""
    store.migrate()
    with store.uow() as uow:
        changed = install_playbook(uow, pb, text, source, now)
        uow.commit()
    return changed
