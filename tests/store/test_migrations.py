"""D1: one Alembic chain builds exactly the models' schema, identically on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from leadflow.store.db import Store
from leadflow.store.models import Base


def test_D1_migrations_produce_the_models_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_D1_tables_are_plural_snake_case(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {"leads", "contacts", "accounts", "users", "queues", "opportunities", "field_history", "outbox",
            "activities", "campaigns", "campaign_members", "sequence_enrollments", "tasks", "intakes"} <= tables


def test_D1_migrating_twice_changes_nothing(store: Store) -> None:
    store.migrate()
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() is not None
        assert compare_metadata(context, Base.metadata) == []
