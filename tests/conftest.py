"""Shared fixtures: a real store on SQLite and on PostgreSQL, builders, and a fixed `now`.

PostgreSQL comes from LEADFLOW_TEST_POSTGRES_URL. Without it the PostgreSQL half of every
storage test is skipped with a visible reason; with LEADFLOW_REQUIRE_POSTGRES=1 (as in CI)
a missing or unreachable PostgreSQL fails the run instead.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text

from leadflow.playbook.load import cached_playbook
from leadflow.playbook.schema import Playbook
from leadflow.store.db import Store
from leadflow.store.models import Base

PG_URL = os.environ.get("LEADFLOW_TEST_POSTGRES_URL", "")
REQUIRE_PG = os.environ.get("LEADFLOW_REQUIRE_POSTGRES") == "1"
NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)

# Property tests: random examples where people run `make test` (new counter-examples get found there), the same
# examples on every CI run (`make ci` sets LEADFLOW_REQUIRE_POSTGRES=1), so that a verdict on main never depends
# on the draw, and no per-example deadline on a loaded 2-core machine.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if REQUIRE_PG else "dev"))


def pytest_sessionstart(session: pytest.Session) -> None:
    if REQUIRE_PG and not PG_URL:
        raise pytest.UsageError("LEADFLOW_REQUIRE_POSTGRES=1 but LEADFLOW_TEST_POSTGRES_URL is not set")


def pytest_report_header(config: pytest.Config) -> str:
    where = f"postgresql at {PG_URL.split('@')[-1]}" if PG_URL else "no postgresql (skipped)"
    return f"leadflow stores: sqlite + {where}"


@pytest.fixture
def now() -> dt.datetime:
    return NOW


@pytest.fixture(scope="session")
def playbook() -> Playbook:
    return cached_playbook(None)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating once keeps tests fast)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("PostgreSQL is required (LEADFLOW_REQUIRE_POSTGRES=1) but not configured")
        pytest.skip("PostgreSQL not configured: set LEADFLOW_TEST_POSTGRES_URL to run these")
    name = f"leadflow_t_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server: fail in CI, skip locally
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL at {PG_URL} is not reachable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} is not reachable")
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    store = Store(url)
    store.migrate()
    store.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(store: Store) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store: the test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "leadflow.db"
        shutil.copy(template, path)
        s = Store(f"sqlite:///{path}")
    else:
        s = Store(request.getfixturevalue("postgres_database"))
        _truncate(s)
    yield s
    s.dispose()
