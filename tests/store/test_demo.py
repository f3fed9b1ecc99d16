"""The demo organisation of `leadflow init`: who, which accounts, which leads, and their history.

The demo is seeded once per store (SQLite and PostgreSQL) for the whole module; the tests
only read it, and the idempotency test, which calls `seed_demo` again, runs last.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from sqlalchemy import func, select, text

from leadflow.domain import lifecycle
from leadflow.playbook.schema import Playbook
from leadflow.services.demo import DEMO_KEY, EMAIL_DOMAIN, seed_demo
from leadflow.services.lifecycle import classification_facts
from leadflow.services.setup import get_meta, install_playbook, read_playbook
from leadflow.store.db import Store
from leadflow.store.models import (
    Account,
    Base,
    Contact,
    FieldHistory,
    Lead,
    OutboxEvent,
    Tracked,
    User,
)
from leadflow.store.uow import CREATED, replay, snapshot

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
D2_ROLES = {
    "SDR", "BDR", "AE", "SAL", "AM", "RD", "Team Lead", "CSM", "Admin", "Sales Admin", "Ops",
    "Reseller",
}
SQLITE_SECONDS = 10


@dataclass
class Demo:
    store: Store
    pb: Playbook
    summary: str
    seconds: float
    backend: str


def _install_and_seed(store: Store) -> tuple[Playbook, str, float]:
    pb, text_, source = read_playbook(None)
    with store.uow() as uow:
        install_playbook(uow, pb, text_, source, NOW)
        uow.commit()
    started = time.perf_counter()
    summary = seed_demo(store, pb, NOW)
    return pb, summary, time.perf_counter() - started


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A migrated store with the playbook installed and the demo seeded, once per module."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path_factory.mktemp("demo") / "leadflow.db"
        shutil.copy(template, path)
        store = Store(f"sqlite:///{path}")
    else:
        store = Store(request.getfixturevalue("postgres_database"))
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with store.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    pb, summary, seconds = _install_and_seed(store)
    yield Demo(store, pb, summary, seconds, request.param)
    store.dispose()


def _all(demo: Demo, model: type[Any]) -> list[Any]:
    """Every row of `model`, detached with its loaded values (the UoW rolls back on exit)."""
    with demo.store.uow() as uow:
        records = list(uow.session.scalars(select(model)))
        uow.session.expunge_all()
        return records


def _count(store: Store, model: type[Any]) -> int:
    with store.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def _status_history(demo: Demo) -> dict[str, list[FieldHistory]]:
    """Each lead's creation row and status changes, in the order they were written."""
    with demo.store.uow() as uow:
        rows = uow.session.scalars(
            select(FieldHistory)
            .where(FieldHistory.entity_type == "lead",
                   FieldHistory.field.in_([CREATED, "status", "status_reason"]))
            .order_by(FieldHistory.id)
        )
        out: dict[str, list[FieldHistory]] = defaultdict(list)
        for row in rows:
            out[row.entity_id].append(row)
        uow.session.expunge_all()
        return out


# --------------------------------------------------------------------------- D1: what there is


def test_D1_demo_summary_counts_what_was_added(demo: Demo) -> None:
    users, accounts = _count(demo.store, User), _count(demo.store, Account)
    leads, contacts = _count(demo.store, Lead), _count(demo.store, Contact)
    assert demo.summary.startswith(
        f"demo organisation: {users} users, {accounts} accounts, {leads} leads"
    )
    assert users >= len(D2_ROLES) * 6 + 2
    assert 28 <= accounts <= 40
    assert 280 <= leads <= 320
    assert contacts > 0
    if demo.backend == "sqlite":
        assert demo.seconds < SQLITE_SECONDS, f"seeding took {demo.seconds:.1f}s"


def test_D1_demo_is_deterministic(demo: Demo, sqlite_template: Path, tmp_path: Path) -> None:
    """The same `now` gives the same organisation, whatever the store."""
    path = tmp_path / "again.db"
    shutil.copy(sqlite_template, path)
    again = Store(f"sqlite:///{path}")
    try:
        _install_and_seed(again)

        def facts(store: Store) -> tuple[list[tuple[Any, ...]], ...]:
            with store.uow() as uow:
                leads = uow.session.execute(
                    select(Lead.id, Lead.email, Lead.status, Lead.status_reason, Lead.owner_id,
                           Lead.matched_account_id, Lead.score, Lead.mql_date).order_by(Lead.id)
                ).all()
                accounts = uow.session.execute(
                    select(Account.id, Account.name, Account.parent_id, Account.owner_id)
                    .order_by(Account.id)
                ).all()
                users = uow.session.execute(
                    select(User.id, User.name, User.email, User.manager_id).order_by(User.id)
                ).all()
                changed_at = uow.session.scalars(
                    select(FieldHistory.changed_at).order_by(FieldHistory.id)
                ).all()
            return ([tuple(r) for r in leads], [tuple(r) for r in accounts],
                    [tuple(r) for r in users], [(t,) for t in changed_at])

        assert facts(again) == facts(demo.store)
    finally:
        again.dispose()


# --------------------------------------------------------------------------- D2: the team


def test_D2_demo_has_every_role_in_every_region(demo: Demo) -> None:
    regions = [r.name for r in demo.pb.regions if not r.legacy]
    assert set(regions) == {"APAC", "EMEA", "LATAM", "US East", "US West", "Public Sector"}
    have = {(u.region, u.role) for u in _all(demo, User)}
    missing = [(r, role) for r in regions for role in sorted(D2_ROLES) if (r, role) not in have]
    assert missing == []
    legacy = {r.name for r in demo.pb.regions if r.legacy}
    assert not any(u.region in legacy for u in _all(demo, User))


def test_D2_demo_default_owner_and_special_users(demo: Demo) -> None:
    users = {u.id: u for u in _all(demo, User)}
    assert users["sales-admin"].role == "Sales Admin"
    assert [u.id for u in users.values() if u.id == "sales-admin"] == ["sales-admin"]
    research = users["account-research"]
    assert research.role == "Ops" and research.name == "Account Research Specialist"
    inside = [u for u in users.values() if u.team == "US Public Sector Inside Sales"]
    assert len(inside) >= 2 and all(u.role in {"BDR", "SDR"} for u in inside)
    public = [u for u in users.values() if u.region == "Public Sector"]
    assert {u.team for u in public} <= {"Public Sector", "US Public Sector Inside Sales"}
    assert any(u.team == "Public Sector" for u in public)
    emails = [u.email for u in users.values()]
    assert len(set(emails)) == len(emails)
    assert all(e.endswith(f"@{EMAIL_DOMAIN}") for e in emails)
    assert all(" " in u.name for u in users.values())
    bdrs = [u for u in users.values() if u.role == "BDR"]
    assert sum(u.out_of_office for u in bdrs) >= 2
    assert sum(not u.active for u in bdrs) == 1
    assert {u.rr_weight for u in users.values()} == {1, 2}


def test_D2_demo_reps_report_to_their_regions_rd_or_team_lead(demo: Demo) -> None:
    users = {u.id: u for u in _all(demo, User)}
    for user in users.values():
        if user.region is None or user.role == "RD":
            continue
        manager = users[user.manager_id] if user.manager_id else None
        assert manager is not None, user.id
        assert manager.region == user.region and manager.role in {"RD", "Team Lead"}, user.id


# --------------------------------------------------------------------------- D3: accounts


def test_D3_demo_accounts_cover_every_type_and_hierarchy(demo: Demo) -> None:
    accounts = {a.id: a for a in _all(demo, Account)}
    users = {u.id: u for u in _all(demo, User)}
    assert {a.type for a in accounts.values()} == set(demo.pb.account_types)

    def depth(a: Account) -> int:
        return 1 if a.parent_id is None else 1 + depth(accounts[a.parent_id])

    assert max(depth(a) for a in accounts.values()) >= 3
    assert sum(a.parent_id is not None for a in accounts.values()) >= 6

    def top(a: Account) -> Account:
        return a if a.parent_id is None else top(accounts[a.parent_id])

    for account in accounts.values():
        assert account.domain and account.website and account.domain in account.website
        assert account.addresses and all("country" in v for v in account.addresses.values())
        owner = users[account.owner_id]
        if account.type == "Prospect - CE User":
            assert owner.id == "sales-admin" and account.using_ce
            assert account.active_ce_users and account.ce_instances
            assert account.account_source == "CE Download"
        else:
            # The account owner is the region's SAL for Large companies, else an AE.
            assert owner.role == ("SAL" if account.segment == "Large" else "AE"), account.name
            assert owner.region == account.region, account.name
        # S7: a hierarchy shares one segment and one region (the ultimate parent's).
        assert account.segment == top(account).segment
        assert account.region == top(account).region
        if account.bdr_assigned_id:
            assert users[account.bdr_assigned_id].role == "BDR"
            assert account.bdr_prospecting_status == "Actively Working"
    assert sum(a.named for a in accounts.values()) >= 2
    public = [a for a in accounts.values() if a.public_sector]
    assert public and all(a.industry in {"Government", "Education"} for a in public)
    assert all(a.region == "Public Sector" for a in public)
    assert {a.segment for a in accounts.values()} >= {"Large", "Mid-Market", "SMB"}
    assert any(a.employees_datafox is None for a in accounts.values())
    assert any(a.employees_admin_override for a in accounts.values())


# --------------------------------------------------------------------------- L1-L6: leads


def test_L1_demo_leads_cover_every_status(demo: Demo) -> None:
    counts = Counter(lead.status for lead in _all(demo, Lead))
    assert set(counts) == set(demo.pb.status_names())
    assert min(counts.values()) >= 10, counts


def test_L2_demo_leads_are_owned_by_their_queue_or_a_regional_rep(demo: Demo) -> None:
    users = {u.id: u for u in _all(demo, User)}
    for lead in _all(demo, Lead):
        status = demo.pb.status(lead.status)
        assert status is not None
        queue = lifecycle.holding_owner(status)
        if queue is not None:
            assert (lead.owner_type, lead.owner_id) == ("queue", queue.id), lead.id
        else:
            assert lead.owner_type == "user", lead.id
            owner = users[lead.owner_id]
            assert owner.role in {"BDR", "SDR"} and owner.active, lead.id
            assert owner.region == lead.region, lead.id


def test_L5_demo_leads_moved_only_by_allowed_transitions(demo: Demo) -> None:
    pb = demo.pb
    history = _status_history(demo)
    leads = {lead.id: lead for lead in _all(demo, Lead)}
    assert set(history) == set(leads)
    moves = 0
    for lead_id, rows in history.items():
        assert rows[0].field == CREATED
        assert rows[0].new_value["status"] == pb.default_status.name
        status = pb.default_status.name
        for row in rows[1:]:
            if row.field != "status":
                continue
            assert row.old_value == status
            assert row.new_value in pb.allowed_targets(status), (lead_id, status, row.new_value)
            assert row.rule is not None and row.actor_type == "system"
            status = row.new_value
            moves += 1
        assert status == leads[lead_id].status
        reason = leads[lead_id].status_reason
        assert reason is None or reason in pb.reason_names(status)
    assert moves > len(leads)


def test_D5_demo_history_is_chronological_and_within_the_last_half_year(demo: Demo) -> None:
    with demo.store.uow() as uow:
        rows = uow.session.execute(
            select(FieldHistory.entity_type, FieldHistory.entity_id, FieldHistory.changed_at)
            .order_by(FieldHistory.id)
        ).all()
    last: dict[tuple[str, str], dt.datetime] = {}
    for entity_type, entity_id, at in rows:
        assert NOW - dt.timedelta(days=200) <= at <= NOW
        key = (entity_type, entity_id)
        assert at >= last.get(key, at), key
        last[key] = at
    leads = _all(demo, Lead)
    created = sorted(lead.created_at for lead in leads)
    assert created[0] < NOW - dt.timedelta(days=150) and created[-1] > NOW - dt.timedelta(days=10)


def test_D5_demo_history_replays_to_current_state(demo: Demo) -> None:
    with demo.store.uow() as uow:
        rows: dict[tuple[str, str], list[FieldHistory]] = defaultdict(list)
        for row in uow.session.scalars(select(FieldHistory).order_by(FieldHistory.id)):
            rows[(row.entity_type, row.entity_id)].append(row)
        checked = Counter[str]()
        for model in (User, Account, Lead, Contact):
            for record in uow.session.scalars(select(model)):
                assert isinstance(record, Tracked)
                assert replay(rows[(record.__entity__, record.id)]) == snapshot(record), record.id
                checked[record.__entity__] += 1
    assert checked["lead"] >= 280 and checked["account"] >= 28 and checked["user"] >= 74


def test_D6_demo_initial_source_comes_from_a_lead_channel(demo: Demo) -> None:
    channels = {c.name: c for c in demo.pb.channels if c.handling == "lead"}
    for lead in _all(demo, Lead):
        assert lead.channel in channels, lead.channel
        assert lead.initial_source == channels[lead.channel].initial_source
        assert lead.initial_source_at == lead.created_at
    assert len({lead.channel for lead in _all(demo, Lead)}) >= 8


def test_I4_demo_people_have_e164_phones_and_plausible_emails(demo: Demo) -> None:
    leads = _all(demo, Lead)
    for lead in leads:
        parsed = phonenumbers.parse(lead.phone, None)
        assert phonenumbers.is_valid_number(parsed), lead.phone
        assert lead.phone == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        assert lead.first_name and lead.last_name and lead.title and lead.country
        local, _, domain = lead.email.partition("@")
        assert local and local == local.lower() and local.isascii()
        assert lead.domain in (None, domain)
        if lead.country == "United States":
            assert lead.state
    assert len({lead.email for lead in leads}) == len(leads)
    assert any(lead.domain is None for lead in leads)  # free-mail: no company domain (I5)
    matched = [lead for lead in leads if lead.matched_account_id]
    assert len(matched) >= 60
    assert all(lead.matched_at and lead.match_confidence and lead.match_evidence for lead in matched)


def test_S2_demo_mql_leads_have_score_and_mql_date(demo: Demo) -> None:
    pb = demo.pb
    history = _status_history(demo)
    for lead in _all(demo, Lead):
        went_mql = any(r.field == "status" and r.new_value == pb.scoring.mql_status
                       for r in history[lead.id])
        if went_mql:
            assert lead.mql_date is not None and lead.score >= pb.scoring.mql_threshold, lead.id
        else:
            assert lead.mql_date is None and lead.score < pb.scoring.mql_threshold, lead.id


def test_L4_demo_bad_phone_and_email_end_disqualified_bad_data(demo: Demo) -> None:
    pb = demo.pb
    assert pb.bad_data is not None
    rule = pb.bad_data.rules[0]
    both = [
        lead for lead in _all(demo, Lead)
        if all(any(r in lead.bad_data_reasons for r in group)
               for group in rule.when_each_group_present)
    ]
    assert len(both) >= 3
    with demo.store.uow() as uow:
        for lead in both:
            assert (lead.status, lead.status_reason) == (rule.set_status, rule.reason)
            assert any(h.rule == rule.id and h.field == "status"
                       for h in uow.history("lead", lead.id))
    others = [lead for lead in _all(demo, Lead) if lead.bad_data_reasons and lead not in both]
    assert others, "some leads carry a single bad-data reason"


def test_L6_demo_classifications_are_up_to_date(demo: Demo) -> None:
    seen: Counter[tuple[str, str]] = Counter()
    with demo.store.uow() as uow:
        people: list[Lead | Contact] = [*uow.session.scalars(select(Lead)),
                                        *uow.session.scalars(select(Contact))]
        for person in people:
            values = lifecycle.classify(demo.pb, classification_facts(uow, person))
            for key, value in values.items():
                assert getattr(person, f"lc_{key}") == value.value, (person.id, key)
                seen[(key, value.value)] += 1
    for key in ("unknown", "prospect_hierarchy", "customer_hierarchy_account",
                "former_customer_account"):
        assert seen[(key, "True")] and seen[(key, "False")], key


# --------------------------------------------------------------------------- idempotency (last)


def test_D1_demo_seeds_only_once(demo: Demo) -> None:
    models = (User, Account, Lead, Contact, FieldHistory, OutboxEvent)
    before = {m.__name__: _count(demo.store, m) for m in models}
    with demo.store.uow() as uow:
        marker = get_meta(uow, DEMO_KEY)
    assert marker is not None
    again = seed_demo(demo.store, demo.pb, NOW + dt.timedelta(days=1))
    assert "already present" in again
    assert {m.__name__: _count(demo.store, m) for m in models} == before
    with demo.store.uow() as uow:
        assert get_meta(uow, DEMO_KEY) == marker
