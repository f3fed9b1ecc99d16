"""I3: the batch import path takes exactly the decisions of the per-row intake, on both stores.

The same generated list (the bench's generator: new people at matched and unknown companies, the same
person again, free mail, invalid and disposable addresses, rows without an address, countries and phones
written every way) is imported through the per-row intake into one fresh store and through the batch
path into another; leads, their field history (field, values, rule, why), intakes' steps, routing
decisions and outbox events must be the same, ids and generated timestamps aside.
"""

from __future__ import annotations

import collections
import datetime as dt
import importlib.util
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from leadflow.domain.records import Actor
from leadflow.playbook.schema import Playbook
from leadflow.services.imports import import_leads
from leadflow.store.db import Store
from leadflow.store.models import (
    Account,
    Base,
    Contact,
    FieldHistory,
    Intake,
    Lead,
    OutboxEvent,
    RoundRobinCredit,
    RoutingDecision,
)

OPS = Actor.user("ops")
BENCH = Path(__file__).resolve().parents[2] / "bench" / "import.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_import_for_tests", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fresh(store: Store, tmp_path: Path, name: str) -> Store:
    """A second empty migrated store of the same kind as `store`."""
    url = str(store.engine.url.render_as_string(hide_password=False))
    if store.engine.dialect.name == "sqlite":
        path = tmp_path / f"{name}.db"
        shutil.copy(store.engine.url.database or "", path)
        return Store(f"sqlite:///{path}")
    fresh = Store(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with fresh.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return fresh


def _snapshot(store: Store) -> dict[str, Any]:
    """Everything the import wrote, with generated ids replaced by stable names."""
    with store.uow() as uow:
        s = uow.session
        intakes = list(s.scalars(select(Intake).where(Intake.dedupe_key.is_not(None)).order_by(Intake.dedupe_key)))
        names: dict[str, str] = {}
        for a in s.scalars(select(Account)):
            names[a.id] = f"account:{a.name}"
        for c in s.scalars(select(Contact)):
            names[c.id] = f"contact:{c.email}"
        for i in intakes:
            if i.subject_id and i.subject_id not in names:
                names[i.subject_id] = f"{i.subject_type}@{i.dedupe_key}"
        for lead in s.scalars(select(Lead)):
            names.setdefault(lead.id, f"lead:{lead.email}")
        decisions = list(s.scalars(select(RoutingDecision).order_by(RoutingDecision.id)))
        decision_no = {d.id: n for n, d in enumerate(decisions)}
        pattern = re.compile("|".join(re.escape(k) for k in sorted(names, key=len, reverse=True)))

        def plain(value: Any) -> Any:
            text_ = json.dumps(value, sort_keys=True, default=str)
            return json.loads(pattern.sub(lambda m: names[m.group(0)], text_))

        def decision_free(value: Any) -> Any:
            text_ = json.dumps(value, sort_keys=True, default=str)
            text_ = re.sub(r'"decision": (\d+)', lambda m: f'"decision": "d{decision_no.get(int(m.group(1)))}"',
                           text_)
            text_ = re.sub(r'lead\.routed:(\d+)', lambda m: f"lead.routed:d{decision_no.get(int(m.group(1)))}",
                           text_)
            text_ = re.sub(r"chg_[0-9a-f]+:[0-9a-f]+", "chg", text_)  # a generated change id and random suffix
            return plain(json.loads(text_))

        def row(record: Any, skip: set[str]) -> dict[str, Any]:
            return {c.key: getattr(record, c.key) for c in record.__table__.columns if c.key not in skip}

        leads = {names[lead.id]: plain(row(lead, {"id", "created_at", "updated_at"}))
                 for lead in s.scalars(select(Lead))}
        for values in leads.values():
            values["duplicate_candidates"] = sorted(values["duplicate_candidates"], key=json.dumps)
        history: dict[str, list[Any]] = {}
        for h in s.scalars(select(FieldHistory).order_by(FieldHistory.id)):
            key = names.get(h.entity_id, h.entity_id)
            new = h.new_value
            if isinstance(new, dict) and h.field == "(created)":
                new = {k: v for k, v in new.items() if k not in ("id",)}
            history.setdefault(key, []).append(plain([h.entity_type, h.field, h.old_value, new, h.actor_type,
                                                      h.actor_id, h.rule, h.why]))
        for rows in history.values():
            for r in rows:
                if r[1] == "duplicate_candidates":
                    r[2] = sorted(r[2] or [], key=json.dumps)
                    r[3] = sorted(r[3] or [], key=json.dumps)
                if r[1] == "(created)" and isinstance(r[3], dict):
                    r[3]["duplicate_candidates"] = sorted(r[3].get("duplicate_candidates") or [], key=json.dumps)
            rows.sort(key=json.dumps)
        steps = {}
        for i in intakes:
            its = decision_free(i.steps)
            for step in its:
                if step.get("step") == "duplicates":
                    step["candidates"] = sorted(step["candidates"], key=json.dumps)
            steps[i.dedupe_key] = [i.outcome, names.get(i.subject_id or "", i.subject_id), its, i.payload]
        routing = [decision_free(row(d, {"id", "change_id"})) for d in decisions]
        events = sorted((decision_free([e.event_type, names.get(e.entity_id or "", e.entity_id), e.payload,
                                        e.dedupe_key])
                         for e in s.scalars(select(OutboxEvent))), key=json.dumps)
        credits = sorted((plain(row(c, set())) for c in s.scalars(select(RoundRobinCredit))), key=json.dumps)
    return {"leads": leads, "history": history, "intakes": steps, "routing": routing, "events": events,
            "credits": credits}


@pytest.fixture
def generated(tmp_path: Path) -> tuple[Any, list[dict[str, Any]], Path]:
    bench = _bench()
    rng = random.Random(11)
    companies = bench.make_companies(rng, 40)
    rows, _ = bench.make_rows(rng, 400, companies)
    path = tmp_path / "list.csv"
    bench.write_csv(path, rows)
    return bench, bench.account_rows(companies), path


@pytest.mark.parametrize("limits", [None, (2, 5)], ids=["limits-as-shipped", "tiny-limits"])
def test_I3_batch_import_writes_what_the_per_row_intake_writes(
    store: Store, playbook: Playbook, tmp_path: Path, generated: tuple[Any, list[dict[str, Any]], Path],
    limits: tuple[int, int] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also with tiny key limits (2 people per duplicate key, 5 per shared read of a broad value), so that
    every key is full, and the batch's shared reads are cut short and fall back to each filter's own read."""
    if limits is not None:
        from leadflow.services import batch_intake
        from leadflow.services import intake as per_row

        monkeypatch.setattr(per_row, "DUPLICATE_LIMIT", limits[0])
        monkeypatch.setattr(batch_intake, "_DUP_LIMIT", limits[0])
        monkeypatch.setattr(batch_intake, "_SHARED_LIMIT", limits[1])
    bench, accounts, path = generated
    now = bench.NOW
    per_row_store = _fresh(store, tmp_path, "per_row")
    try:
        bench.seed_store(per_row_store, accounts)
        single = import_leads(per_row_store, playbook, path, channel="event_scan", actor=OPS, now=now,
                              campaign="Equivalence", batched=False)
        expected = _snapshot(per_row_store)
    finally:
        per_row_store.dispose()
    batch_store = _fresh(store, tmp_path, "batch")
    try:
        bench.seed_store(batch_store, accounts)
        batched = import_leads(batch_store, playbook, path, channel="event_scan", actor=OPS, now=now,
                               campaign="Equivalence")
        got = _snapshot(batch_store)
        again = import_leads(batch_store, playbook, path, channel="event_scan", actor=OPS,
                             now=now + dt.timedelta(hours=1), campaign="Equivalence")
        assert _snapshot(batch_store)["leads"] == got["leads"]
    finally:
        batch_store.dispose()
    assert (batched.created, batched.updated, batched.rejected) == (single.created, single.updated, single.rejected)
    assert single.created > 200 and single.updated > 5 and single.rejected > 0
    assert again.replayed == batched.rows - batched.rejected and again.created == 0
    assert got["routing"] and got["events"]
    for part in ("leads", "history", "intakes", "routing", "events", "credits"):
        assert got[part] == expected[part], part


def test_I3_batch_import_reads_and_writes_per_chunk_not_per_row(
    store: Store, playbook: Playbook, generated: tuple[Any, list[dict[str, Any]], Path]
) -> None:
    """The batch path is really taken: a few statements per chunk, not ~30 per row as the per-row intake."""
    from sqlalchemy import event

    bench, accounts, path = generated
    bench.seed_store(store, accounts)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        report = import_leads(store, playbook, path, channel="event_scan", actor=OPS, now=bench.NOW,
                              campaign="Chunks")
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert report.rows == 400 and report.created > 200
    kinds = collections.Counter(re.sub(r"\s+", " ", s)[:60] for s in statements)
    assert len(statements) < report.rows, kinds.most_common(12)


def test_R3_batch_reads_same_company_leads_for_many_keys_as_it_reads_them_one_key_at_a_time(
    store: Store, playbook: Playbook, tmp_path: Path, generated: tuple[Any, list[dict[str, Any]], Path]
) -> None:
    from types import SimpleNamespace

    from leadflow.services.batch_intake import Batch
    from leadflow.services.intake import IntakeEnv

    bench, accounts, path = generated
    bench.seed_store(store, accounts)
    import_leads(store, playbook, path, channel="event_scan", actor=OPS, now=bench.NOW, campaign="R3")
    with store.uow() as uow:
        # every stored company (domain and name), plus the same number of keys nobody has
        leads = list(uow.session.execute(select(Lead.domain, Lead.company).where(Lead.company.is_not(None))))
        rows = [(i, SimpleNamespace(company=company), SimpleNamespace(domain=domain))
                for i, (domain, company) in enumerate(leads)]
        rows += [(len(rows) + i, SimpleNamespace(company=f"Nobody {i} Ltd"),
                  SimpleNamespace(domain=f"nobody-{i}.example")) for i in range(60)]
        env = IntakeEnv(uow, playbook)
        routing = playbook.routing
        assert routing is not None
        statuses = {*routing.same_company.mql_statuses, *routing.same_company.working_statuses}
        many = Batch(uow, env, OPS, bench.NOW, None)
        many._load_same_company(rows)  # type: ignore[arg-type]
        assert len(many.same_company) > 2 * 50  # more keys than one statement holds
        one_at_a_time = Batch(uow, env, OPS, bench.NOW, None)
        for key, entries in many.same_company.items():
            assert entries == one_at_a_time._stored_same_company(key, statuses), key
        assert sum(1 for e in many.same_company.values() if e) >= 5  # companies with leads R3 counts


def _crowded(store: Store, now: dt.datetime) -> dict[str, str]:
    """230 older namesakes and colleagues whose first names can never agree, then the real duplicates."""
    from builders import a_lead, save

    crowd = [a_lead(first_name=f"{first}{i}", last_name="Smith", email=f"{first.lower()}{i}.smith@gmail.com",
                    company=f"Other {i}") for i, first in enumerate(["Peter", "Robert", "Ulla"] * 77)]
    crowd += [a_lead(first_name=f"Peter{i}", last_name=f"Brown{i}", email=f"peter{i}@initech.com",
                     company="Initech", domain="initech.com") for i in range(230)]
    by_name = a_lead(first_name="John", last_name="Smith", email="john.smith@gmail.com", company="Acme Corp")
    swapped = a_lead(first_name="Jane", last_name="Doe", email="jane.doe@initech.com", company="Initech",
                     domain="initech.com")
    with store.uow() as uow:
        save(uow, now - dt.timedelta(days=2), *crowd)
    with store.uow() as uow:
        save(uow, now - dt.timedelta(days=1), by_name, swapped)
    return {"by_name": by_name.id, "swapped": swapped.id}


@pytest.mark.parametrize("batched", [True, False], ids=["batch", "per_row"])
def test_M1_namesakes_and_colleagues_with_other_first_names_never_crowd_out_a_duplicate(
    store: Store, playbook: Playbook, tmp_path: Path, batched: bool
) -> None:
    """A common last name's and a big company's oldest 200 are read through the person's name filter: 231
    older Smiths and 230 older colleagues at initech.com whose first names can never agree are left out, so
    the John Smith created after them (found by last name only: free mail) and Jane Doe (same domain, names
    swapped) are this list's duplicates, in the batch and in the per-row intake alike."""
    now = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    ids = _crowded(store, now)
    path = tmp_path / "crowded.csv"
    path.write_text("First Name,Last Name,Email Address,Company Name\n"
                    "John,Smith,jsmith1977@yahoo.com,Acme Corp\n"
                    "Doe,Jane,doe.j@initech.com,Initech\n", encoding="utf-8")
    report = import_leads(store, playbook, path, channel="event_scan", actor=OPS, now=now, batched=batched)
    assert report.created == 2
    with store.engine.connect() as conn:
        found = {r.email: r.duplicate_candidates for r in conn.execute(
            select(Lead.email, Lead.duplicate_candidates).where(Lead.created_at == now))}
    assert [c["id"] for c in found["jsmith1977@yahoo.com"]] == [ids["by_name"]]
    assert found["jsmith1977@yahoo.com"][0]["rule"] == "similar-name-company"
    assert [c["id"] for c in found["doe.j@initech.com"]] == [ids["swapped"]]
    assert "swapped" in " ".join(found["doe.j@initech.com"][0]["evidence"])


@pytest.mark.parametrize("batched", [True, False], ids=["batch", "per_row"])
def test_M1_namesakes_whose_initial_is_the_shared_last_names_never_crowd_out_a_duplicate(
    store: Store, playbook: Playbook, tmp_path: Path, batched: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Among the Smiths, John Smith is never a Sam Smith: Sam's initial is that of the shared last name, which
    only a "Smith Smith" could be read against (names swapped). With 3 people per key, the three older Sam
    Smiths would fill the last name's read if its filter took the last name's initial; it does not, so the
    John Smith created after them is found (by last name only: free mail), in the batch and per row."""
    from builders import a_lead, save
    from leadflow.services import batch_intake
    from leadflow.services import intake as per_row

    monkeypatch.setattr(per_row, "DUPLICATE_LIMIT", 3)
    monkeypatch.setattr(batch_intake, "_DUP_LIMIT", 3)
    now = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    sams = [a_lead(first_name=f"Sam{i}", last_name="Smith", email=f"sam{i}.smith@gmail.com", company=f"Other {i}")
            for i in range(3)]
    john = a_lead(first_name="John", last_name="Smith", email="john.smith@gmail.com", company="Acme Corp")
    with store.uow() as uow:
        save(uow, now - dt.timedelta(days=2), *sams)
    with store.uow() as uow:
        save(uow, now - dt.timedelta(days=1), john)
    path = tmp_path / "smiths.csv"
    path.write_text("First Name,Last Name,Email Address,Company Name\nJohn,Smith,jsmith1977@yahoo.com,Acme Corp\n",
                    encoding="utf-8")
    report = import_leads(store, playbook, path, channel="event_scan", actor=OPS, now=now, batched=batched)
    assert report.created == 1
    with store.engine.connect() as conn:
        found = conn.execute(select(Lead.duplicate_candidates).where(Lead.created_at == now)).scalar_one()
    assert [c["id"] for c in found] == [john.id]
    assert found[0]["rule"] == "similar-name-company"


def test_M1_initials_are_kept_with_the_names(store: Store, now: dt.datetime) -> None:
    """The stored initials the broad keys are read through follow every write of a name."""
    from builders import a_lead, save

    lead = a_lead(first_name="Élodie", last_name="O'Brien")
    with store.uow() as uow:
        save(uow, now, lead)
    with store.uow() as uow:
        stored = uow.session.get(Lead, lead.id)
        assert stored is not None and (stored.first_initial, stored.last_initial) == ("e", "o")
        with uow.changing(actor=OPS, now=now, why="test"):
            stored.first_name = None
            stored.last_name = "  Zoë"
        uow.commit()
    with store.engine.connect() as conn:
        assert conn.execute(select(Lead.first_initial, Lead.last_initial).where(Lead.id == lead.id)).one() == \
            (None, "z")


def test_M1_address_and_number_keys_are_kept_with_the_values(store: Store, now: dt.datetime) -> None:
    """The stored keys a search reads instead of normalising follow every write of the address, the number
    and the country; a number whose country is not loaded loses its key (normalised when read)."""
    from builders import a_lead, save

    lead = a_lead(email="Jane.Doe@Acme.COM", phone="030 1234567", country="Germany")
    with store.uow() as uow:
        save(uow, now, lead)
    keys = select(Lead.email_key, Lead.phone_key).where(Lead.id == lead.id)
    with store.engine.connect() as conn:
        assert conn.execute(keys).one() == ("jane.doe@acme.com", "DE:+49301234567")
    with store.uow() as uow:
        stored = uow.session.get(Lead, lead.id)
        assert stored is not None
        with uow.changing(actor=OPS, now=now, why="test"):
            stored.country = "United States"  # 030 1234567 is no US number
            stored.email = "not an address"
        uow.commit()
    with store.engine.connect() as conn:
        assert conn.execute(keys).one() == ("", "US:")
    with store.uow() as uow:
        stored = uow.session.get(Lead, lead.id)
        assert stored is not None
        uow.session.expire(stored, ["country"])
        with uow.changing(actor=OPS, now=now, why="test"):
            stored.phone = "+49 30 1234567"  # the country is not loaded: no key, rather than a wrong one
        uow.commit()
    with store.engine.connect() as conn:
        assert conn.execute(keys).one() == ("", None)
    with store.uow() as uow:
        stored = uow.session.get(Lead, lead.id)
        assert stored is not None
        with uow.changing(actor=OPS, now=now, why="test"):
            stored.country = "DE"
            stored.email = None
        uow.commit()
    with store.engine.connect() as conn:
        assert conn.execute(keys).one() == (None, "DE:+49301234567")


@pytest.mark.parametrize("batched", [True, False], ids=["batch", "per_row"])
def test_M1_a_stored_candidate_is_read_by_its_keys_and_one_without_keys_is_normalised(
    store: Store, playbook: Playbook, tmp_path: Path, batched: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process's search does not check a stored candidate's address again (email-validator is asked
    only about addresses that have no stored key), and a row without keys (written another way) is still
    found, normalised when read, in the batch and in the per-row intake alike."""
    from sqlalchemy import update

    import leadflow.domain.normalise as normalise
    from builders import a_lead, save
    from leadflow.services import intake as single

    now = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    keyed = a_lead(first_name="John", last_name="Smith", email="john.smith@initech.com", company="Initech",
                   domain="initech.com", phone="+1 617 810 6583", country="United States")
    keyless = a_lead(first_name="Jon", last_name="Smith", email="J.Smith@Initech.com", company="Initech",
                     domain="initech.com", country="United States")
    with store.uow() as uow:
        save(uow, now - dt.timedelta(days=1), keyed, keyless)
    with store.engine.begin() as conn:
        conn.execute(update(Lead).where(Lead.id == keyless.id).values(email_key=None, phone_key=None))
    normalise.normalise_email.cache_clear()  # as a new process starts
    normalise.normalise_phone.cache_clear()
    single._PERSON_ROWS.clear()
    checked: list[str] = []
    validate = normalise.validate_email

    def counting(text: str, **kwargs: Any) -> Any:
        checked.append(text)
        return validate(text, **kwargs)

    monkeypatch.setattr(normalise, "validate_email", counting)
    path = tmp_path / "smiths.csv"
    path.write_text("First Name,Last Name,Email Address,Company Name,Phone,Country\n"
                    "John,Smith,jsmith@initech.com,Initech,(617) 810-6583,USA\n", encoding="utf-8")
    report = import_leads(store, playbook, path, channel="event_scan", actor=OPS, now=now, batched=batched)
    assert report.created == 1
    with store.engine.connect() as conn:
        found = conn.execute(select(Lead.duplicate_candidates).where(Lead.created_at == now)).scalar_one()
    assert {c["id"] for c in found} == {keyed.id, keyless.id}
    assert "john.smith@initech.com" not in checked  # read from its key
    assert "J.Smith@Initech.com" in checked  # no key: normalised when read
