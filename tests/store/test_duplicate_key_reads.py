"""M1: the batch's per-key reads of duplicate candidates, on both stores.

The batch reads many keys in one statement: PostgreSQL unnests them and joins each key's ordered, limited
select LATERAL; SQLite takes them from a JSON array, each key's values once (a materialized CTE where
SQLite has it), and joins the rows by rowid. Whatever the form, each key must give its oldest `limit` live
people by (created_at, id), through its name filter for a broad key, exactly as a plain select of that key.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from leadflow.domain.duplicates import NameFilter
from leadflow.domain.records import Actor
from leadflow.services import batch_intake
from leadflow.store.db import Store
from leadflow.store.models import Lead

FIRSTS = ["Anna", "Ben", "Bea", "Carl", None, "Sam", "Saskia", "Otto"]
LASTS = ["Smith", "SMITH", "Schmidt", "Berg", "Sánchez"]
DOMAINS = ["acme.de", "globex.com", None]


def _people(store: Store, now: dt.datetime) -> list[Lead]:
    """40 leads over three domains and five last names (two spellings of one), created a minute apart in
    an order of their own; every seventh merged away (never a candidate)."""
    leads = []
    for i in range(40):
        first, last = FIRSTS[i % len(FIRSTS)], LASTS[(i * 3) % len(LASTS)]
        domain = DOMAINS[(i * 7) % len(DOMAINS)]
        leads.append(Lead(id=f"ld_{i:03d}", first_name=first, last_name=last, status="Raw",
                          email=f"p{i}@{domain or 'mail.example'}", domain=domain,
                          created_at=now - dt.timedelta(minutes=(i * 17) % 40)))
    with store.uow() as uow:
        with uow.changing(actor=Actor.system("test"), now=now):
            uow.session.add_all(leads)
        uow.commit()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE leads SET merged_into_id = 'ld_000' WHERE id IN ('ld_007', 'ld_014', 'ld_021')"))
    with store.uow() as uow:
        return list(uow.session.query(Lead).order_by(Lead.id))


def _expected(leads: list[Lead], kind: str, key: str, second: str | None, filt: tuple[str, str] | None,
              limit: int) -> list[str]:
    def initial(name: str | None) -> str | None:
        return name[0].lower() if name else None

    def holds(lead: Lead) -> bool:
        if lead.merged_into_id is not None:
            return False
        lower = lead.last_name.lower() if lead.last_name else None
        if kind == "last_name" and lower != key:
            return False
        if kind == "domain" and lead.domain != key:
            return False
        if kind == "domain_last" and (lead.domain != key or lower != second):
            return False
        if filt is None:
            return True
        first, last = initial(lead.first_name), initial(lead.last_name)
        return first is None or first in filt[0] or (last is not None and last in filt[1])

    found = sorted((lead for lead in leads if holds(lead)), key=lambda lead: (lead.created_at, lead.id))
    return [lead.id for lead in found][:limit]


KEYS: list[tuple[str, str, str | None, tuple[str, str] | None]] = [
    ("last_name", "smith", None, ("ab", "")),
    ("last_name", "smith", None, ("s", "b")),
    ("last_name", "schmidt", None, None),
    ("last_name", "nobody", None, ("a", "a")),
    ("domain", "acme.de", None, ("bc", "s")),
    ("domain", "globex.com", None, None),
    ("domain_last", "acme.de", "smith", None),
    ("domain_last", "globex.com", "berg", None),
]


def _read(store: Store, kind: str, keys: list[tuple[str, str | None, tuple[str, str] | None]],
          limit: int) -> list[list[str]]:
    """Each key's ids through the batch's statement for its kind, in the store's form, the keys written as
    the batch writes them ("domain|last name"; a broad value with its name filter)."""
    group = [f"{k}|{s}" if kind == "domain_last" else
             batch_intake._broad_value(k, NameFilter(first=f[0], last=f[1]) if f else None) for k, s, f in keys]
    with store.engine.connect() as conn:
        rows = conn.execute(*batch_intake._key_statement(store.engine.dialect.name, kind, Lead, group, limit))
        out: list[list[str]] = [[] for _ in keys]
        for r in rows:
            out[r.slot].append(r.id)
    return out


@pytest.mark.parametrize("limit", [2, 200])
def test_M1_each_key_of_a_per_key_read_gives_its_oldest_live_people_through_its_filter(
    store: Store, now: dt.datetime, limit: int
) -> None:
    leads = _people(store, now)
    for kind in ("last_name", "domain", "domain_last"):
        keys = [(k, s, f) for kd, k, s, f in KEYS if kd == kind]
        expected = [_expected(leads, kind, k, s, f, limit) for k, s, f in keys]
        assert _read(store, kind, keys, limit) == expected, kind
        assert any(expected), kind  # the data gives every kind people to find


@pytest.fixture
def sqlite_store(sqlite_template: Path, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty SQLite store, for what is SQLite's alone (its statement's form, its query plan)."""
    shutil.copy(sqlite_template, tmp_path / "leadflow.db")
    store = Store(f"sqlite:///{tmp_path / 'leadflow.db'}")
    yield store
    store.dispose()


def test_M1_sqlite_without_materialized_ctes_reads_the_same(
    sqlite_store: Store, now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SQLite older than 3.35 has no MATERIALIZED: the same statement without it gives the same rows."""
    store = sqlite_store
    leads = _people(store, now)
    monkeypatch.setattr(batch_intake, "_MATERIALIZED", False)
    monkeypatch.setattr(batch_intake, "_JSON", {})
    statement = str(batch_intake._oldest_per_key_json("last_name", Lead).compile(store.engine))
    assert "MATERIALIZED" not in statement
    keys = [(k, s, f) for kd, k, s, f in KEYS if kd == "last_name"]
    assert _read(store, "last_name", keys, 2) == [_expected(leads, "last_name", k, s, f, 2) for k, s, f in keys]


def test_M1_sqlite_reads_a_domain_and_last_name_key_through_its_own_index(sqlite_store: Store) -> None:
    """SQLite's planner has no statistics: with the domain and last name index holding the two keys alone,
    it walked the last name's index (in created_at order already) through every namesake of every company.
    With (domain, lower(last_name), created_at, id) it takes the pair's own index (migration 0016)."""
    store = sqlite_store
    statement, bound = batch_intake._key_statement("sqlite", "domain_last", Lead, ["acme.de|smith"])
    compiled = statement.compile(store.engine)
    params = compiled.construct_params(bound)
    positional = [params[name] for name in compiled.positiontup or ()]
    with store.engine.connect() as conn:
        plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}",
                                                                        tuple(positional)))
    assert "ix_leads_domain_last_name (domain=? AND <expr>=?)" in plan, plan
    assert "MATERIALIZE k" in plan or not batch_intake._MATERIALIZED, plan
