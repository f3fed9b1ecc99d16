"""D5: the group commit's bulk insert stores exactly what SQLAlchemy's `insert` stores, on both stores."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError, StatementError

from leadflow.store.bulk import insert_many
from leadflow.store.db import Store
from leadflow.store.models import Activity, FieldHistory, OutboxEvent

BERLIN = dt.timezone(dt.timedelta(hours=1))


def _history(n: int, now: dt.datetime, change: str) -> list[dict[str, Any]]:
    values: list[Any] = [None, "Raw", 42, 0.5, True, {"a": [1, "x", None]}, ["MQL", "Accepted"],
                         "=cmd|' /C calc'!A0", "quote ' and \" and % and ?", "ünïcødé ✓"]
    return [{"change_id": change, "entity_type": "lead", "entity_id": f"lead-{i}", "field": f"f{i % 7}",
             "old_value": values[i % len(values)], "new_value": values[(i + 3) % len(values)],
             "changed_at": now + dt.timedelta(seconds=i), "actor_type": "rule", "actor_id": "intake",
             "rule": None if i % 4 == 0 else f"rule {i}", "why": "because"} for i in range(n)]


def _read(store: Store, table: Table, where: Any, drop: tuple[str, ...]) -> list[dict[str, Any]]:
    with store.uow() as uow:
        rows = uow.session.execute(select(table).where(where).order_by(*table.primary_key.columns)).mappings()
        return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def test_D5_bulk_insert_stores_what_sqlalchemys_insert_stores(store: Store, now: dt.datetime) -> None:
    table = FieldHistory.__table__
    with store.uow() as uow:
        conn = uow.session.connection()
        conn.execute(insert(table), _history(25, now, "core"))
        insert_many(conn, table, _history(25, now, "bulk"))
        uow.commit()
    core = _read(store, table, table.c.change_id == "core", ("id", "change_id"))
    bulk = _read(store, table, table.c.change_id == "bulk", ("id", "change_id"))
    assert len(bulk) == 25
    assert bulk == core
    assert bulk[3]["new_value"] == ["MQL", "Accepted"] and bulk[2]["new_value"] == {"a": [1, "x", None]}
    assert bulk[3]["changed_at"] == now + dt.timedelta(seconds=3)


def test_D5_bulk_insert_fills_defaults_and_converts_times_to_utc(store: Store, now: dt.datetime) -> None:
    table = Activity.__table__
    local = now.astimezone(BERLIN)
    rows = [{"subject_type": "lead", "subject_id": f"b{i}", "type": "Web Visit", "at": local, "actor_id": None}
            for i in range(3)]
    with store.uow() as uow:
        insert_many(uow.session.connection(), table, rows)
        uow.commit()
    got = _read(store, table, table.c.subject_id.in_(["b0", "b1", "b2"]), ())
    assert [r["subject_id"] for r in sorted(got, key=lambda r: r["subject_id"])] == ["b0", "b1", "b2"]
    assert all(r["id"].startswith("act") for r in got) and len({r["id"] for r in got}) == 3
    assert all(r["details"] == {} for r in got)  # the column's default, as insert() gives it
    assert all(r["at"] == now and r["at"].utcoffset() == dt.timedelta(0) for r in got)


def test_D5_bulk_insert_refuses_rows_that_leave_out_a_value_as_insert_does(store: Store, now: dt.datetime) -> None:
    table = OutboxEvent.__table__
    base = {"event_type": "t", "entity_type": "lead", "entity_id": "x", "created_at": now, "available_at": now}
    rows = [{**base, "dedupe_key": "k1", "payload": {"n": 1}}, {**base, "dedupe_key": "k2"}]  # keys differ
    for write in (lambda conn: conn.execute(insert(table), rows), lambda conn: insert_many(conn, table, rows)):
        with pytest.raises(StatementError, match="payload"), store.uow() as uow:
            write(uow.session.connection())
    assert _read(store, table, table.c.dedupe_key.in_(["k1", "k2"]), ()) == []


def test_D5_a_failed_bulk_insert_changes_nothing(store: Store, now: dt.datetime) -> None:
    table = OutboxEvent.__table__
    row = {"event_type": "t", "entity_type": "lead", "entity_id": "x", "created_at": now, "available_at": now,
           "dedupe_key": "same", "payload": {}}
    with pytest.raises(IntegrityError), store.uow() as uow:
        insert_many(uow.session.connection(), table, [row, dict(row)])  # the unique dedupe key
        uow.commit()
    assert _read(store, table, table.c.dedupe_key == "same", ()) == []


def test_D5_statement_listeners_see_a_bulk_insert_once(store: Store, now: dt.datetime) -> None:
    from sqlalchemy import event

    seen: list[tuple[str, str, bool]] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        seen.append(("before", statement.split()[0].upper(), many))

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        seen.append(("after", statement.split()[0].upper(), many))

    table = FieldHistory.__table__
    with store.uow() as uow:
        conn = uow.session.connection()
        event.listen(store.engine, "before_cursor_execute", before)
        event.listen(store.engine, "after_cursor_execute", after)
        try:
            insert_many(conn, table, _history(40, now, "seen"))
        finally:
            event.remove(store.engine, "before_cursor_execute", before)
            event.remove(store.engine, "after_cursor_execute", after)
        uow.commit()
    verb = "COPY" if store.engine.dialect.name == "postgresql" else "INSERT"  # PostgreSQL loads with COPY
    assert seen == [("before", verb, True), ("after", verb, True)]
    assert len(_read(store, table, table.c.change_id == "seen", ())) == 40
