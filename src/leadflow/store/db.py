"""Opening the store: engine, sessions and migrations, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from leadflow.store.uow import UnitOfWork

MIGRATIONS = Path(__file__).with_name("migrations")
# Execution option of a session's connection that is going to write (see `_sqlite_begin`, `Store.writing`).
WRITE_OPTION = "leadflow_write"
# Connections an engine keeps open (the API admits one request fewer at a time; see `api.deps.Gates`).
POOL_SIZE, POOL_OVERFLOW = 12, 8


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, start transactions, so SAVEPOINTs work (SQLAlchemy docs,
    # "Serializable isolation / Savepoints / Transactional DDL" for pysqlite).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Write-ahead log: readers never wait for the writer, and a commit appends to the log instead of
    # rewriting pages through a rollback journal; NORMAL syncs at checkpoints, which in WAL mode still
    # never corrupts the database (a power cut may lose the last commits, not the file). SQLite's docs,
    # "Write-Ahead Logging" and "PRAGMA synchronous".
    if cursor.execute("PRAGMA database_list").fetchone()[2]:  # a file, not :memory:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A transaction that will write takes the write lock at BEGIN (IMMEDIATE): two deferred transactions that
    # both read and then write would deadlock, and SQLite answers that with "database is locked" at once
    # instead of waiting (busy_timeout covers only waits that cannot deadlock).
    immediate = connection.get_execution_options().get(WRITE_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets foreign keys and a busy timeout (single writer)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        # A file database keeps its connections open (a new one costs an open and the pragmas above, which
        # under load was most of a cheap request); an in-memory one is one connection per thread anyway.
        pool: dict[str, Any] = {} if _in_memory(url) else {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
        engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Connections beyond pool_size are opened and closed per checkout; a PostgreSQL connect is a fork on
    # the server, so the pool keeps what a busy API uses (its request gate admits pool_size - 1 at once).
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)


def _in_memory(url: str) -> bool:
    database = url.split("://", 1)[-1].lstrip("/")
    return database in ("", ":memory:") or "mode=memory" in url


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Store:
    """One database: an engine, its sessions, and its migrations."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # No autoflush: the unit of work flushes at every change boundary, so queries still see
        # earlier changes, without a flush (and history pass) before every SELECT.
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    def migrate(self) -> None:
        """Apply every Alembic migration up to head (idempotent)."""
        cfg = alembic_config(str(self.engine.url.render_as_string(hide_password=False)))
        if self.engine.dialect.name != "sqlite":
            with self.engine.begin() as connection:
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")
            return
        # SQLite alters a table by copying it (Alembic batch mode); the copy and the drop must
        # not trip foreign keys mid-way, so they are off for the migration (outside any
        # transaction, where SQLite honours the pragma) and checked before they come back on.
        with self.engine.connect() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with connection.begin():
                    cfg.attributes["connection"] = connection
                    command.upgrade(cfg, "head")
                broken = raw.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left {len(broken)} broken foreign key(s), e.g. {broken[0]}")
            finally:
                raw.execute("PRAGMA foreign_keys=ON")

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    @staticmethod
    def writing(uow: UnitOfWork) -> None:
        """Declare, before its first statement, that this unit of work will write (SQLite: BEGIN IMMEDIATE, so
        concurrent writers queue for the lock instead of failing; no effect on PostgreSQL)."""
        uow.session.connection(execution_options={WRITE_OPTION: True})

    def dispose(self) -> None:
        self.engine.dispose()
