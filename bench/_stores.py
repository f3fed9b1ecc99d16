"""Throw-away stores for benchmarks: a temp SQLite file, or a database created (and dropped) on the
PostgreSQL cluster named by LEADFLOW_BENCH_POSTGRES_URL or LEADFLOW_TEST_POSTGRES_URL.

`copy_of` makes an identical copy of a seeded store (a file copy on SQLite, `CREATE DATABASE ...
TEMPLATE` on PostgreSQL), so that each timed run starts from the same data without seeding again.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from leadflow.store.db import Store


def postgres_url(disabled: bool = False) -> str | None:
    if disabled:
        return None
    return os.environ.get("LEADFLOW_BENCH_POSTGRES_URL") or os.environ.get("LEADFLOW_TEST_POSTGRES_URL") or None


@dataclass
class ThrowAway:
    """One throw-away store and how to get rid of it."""

    store: Store
    kind: str
    name: str  # the SQLite file, or the PostgreSQL database name
    admin: Engine | None = field(default=None, repr=False)

    def drop(self) -> None:
        self.store.dispose()
        if self.admin is not None:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()
        else:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(self.name + suffix).unlink(missing_ok=True)


def _admin(pg_url: str) -> Engine:
    return create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")


def fresh_store(kind: str, pg_url: str | None, tmp: Path, migrate: bool = True) -> ThrowAway:
    """An empty, migrated store of `kind` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        path = str(tmp / f"{uuid.uuid4().hex}.db")
        store = Store(f"sqlite:///{path}")
        if migrate:
            store.migrate()
        return ThrowAway(store, kind, path)
    assert pg_url, "PostgreSQL needs LEADFLOW_BENCH_POSTGRES_URL or LEADFLOW_TEST_POSTGRES_URL"
    name = f"leadflow_bench_{uuid.uuid4().hex[:8]}"
    admin = _admin(pg_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    store = Store(pg_url.rsplit("/", 1)[0] + f"/{name}")
    if migrate:
        store.migrate()
    return ThrowAway(store, kind, name, admin)


def copy_of(seeded: ThrowAway, pg_url: str | None, tmp: Path) -> ThrowAway:
    """A new throw-away store holding exactly what `seeded` holds (its connections are closed first)."""
    seeded.store.dispose()
    if seeded.kind == "sqlite":
        path = str(tmp / f"{uuid.uuid4().hex}.db")
        shutil.copyfile(seeded.name, path)
        return ThrowAway(Store(f"sqlite:///{path}"), "sqlite", path)
    assert pg_url
    name = f"leadflow_bench_{uuid.uuid4().hex[:8]}"
    admin = _admin(pg_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{seeded.name}"'))
    return ThrowAway(Store(pg_url.rsplit("/", 1)[0] + f"/{name}"), "postgresql", name, admin)
