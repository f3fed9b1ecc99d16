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


def _start_again_at(store: Store, revision: str) -> None:
    """Drop every table, then migrate the empty database up to `revision` only."""
    from alembic import command
    from sqlalchemy import text

    from leadflow.store.db import alembic_config

    with store.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE' if store.engine.dialect.name
                              == "postgresql" else f'DROP TABLE IF EXISTS "{table.name}"'))
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    command.upgrade(alembic_config(store.url), revision)


def test_D1_upgrading_a_populated_database_keeps_every_row(tmp_path_factory: object, store: Store) -> None:
    """A database made by the first migration, with linked rows, upgrades to head intact."""
    from sqlalchemy import text

    _start_again_at(store, "0001")
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, name, email, role, active, out_of_office, rr_weight) "
                          "VALUES ('u1', 'Ana', 'ana@example.org', 'BDR', true, false, 1)"))
        conn.execute(text("INSERT INTO accounts (id, name, type, addresses, owner_id, named, public_sector, restricted,"
                          " using_ce) VALUES ('a1', 'Acme', 'Customer', '{}', 'u1', false, false, false, false)"))
        conn.execute(text("INSERT INTO leads (id, last_name, status, bad_data_reasons, score, score_parts, lc_unknown,"
                          " lc_user, lc_prospect_hierarchy, lc_customer_hierarchy_account, lc_former_customer_account,"
                          " lc_partner_managed, high_priority, opt_out, inactive, matched_account_id) VALUES ('l1', "
                          "'Doe', 'Raw', '[]', 0, '[]', '-', '-', '-', '-', '-', '-', false, false, false, 'a1')"))
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT matched_account_id FROM leads WHERE id = 'l1'")).scalar() == "a1"
        assert conn.execute(text("SELECT owner_id FROM accounts WHERE id = 'a1'")).scalar() == "u1"
        context = MigrationContext.configure(conn)
        assert compare_metadata(context, Base.metadata) == []


def test_M1_upgrading_fills_the_address_and_number_keys_of_stored_people(store: Store) -> None:
    """0015 fills `email_key` and `phone_key` for the leads a database holds, as the unit of work keeps them."""
    from sqlalchemy import text

    _start_again_at(store, "0014_name_initials")
    lead = ("INSERT INTO leads (id, last_name, email, phone, country, status, bad_data_reasons, score, score_parts,"
            " lc_unknown, lc_user, lc_prospect_hierarchy, lc_customer_hierarchy_account, lc_former_customer_account,"
            " lc_partner_managed, high_priority, opt_out, inactive) VALUES (:id, 'Doe', :email, :phone, :country,"
            " 'Raw', '[]', 0, '[]', '-', '-', '-', '-', '-', '-', false, false, false)")
    with store.engine.begin() as conn:
        conn.execute(text(lead), [
            {"id": "l1", "email": "Jane@Acme.COM", "phone": "030 1234567", "country": "Germany"},
            {"id": "l2", "email": "not an address", "phone": None, "country": None},
            {"id": "l3", "email": None, "phone": "+1 617 810 6583", "country": None},
        ])
    store.migrate()
    with store.engine.connect() as conn:
        keys = dict((r.id, (r.email_key, r.phone_key)) for r in conn.execute(
            text("SELECT id, email_key, phone_key FROM leads ORDER BY id")))
    assert keys == {"l1": ("jane@acme.com", "DE:+49301234567"), "l2": ("", None), "l3": (None, ":+16178106583")}
