"""The nightly rescore (S1-S5, S10, L6, W8): `rescore_all` gives every lead what `refresh_lead` gives it,
in chunks, writing history only where a figure changed; recomputing twice changes nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select
from typer.testing import CliRunner

from builders import a_lead, an_account, save
from leadflow.cli import app
from leadflow.domain.records import Actor
from leadflow.playbook.load import cached_playbook, default_playbook_path, load_playbook, parse_playbook
from leadflow.playbook.schema import Playbook
from leadflow.services.derive import refresh_lead
from leadflow.services.jobs import run_once
from leadflow.services.rescore import RescoreReport, _lead_rows, rescore_all, rescore_chunk
from leadflow.store.db import Store
from leadflow.store.models import Account, Activity, FieldHistory, JobRun, Lead
from leadflow.store.uow import to_json

DAY = dt.timedelta(days=1)
LEGACY = Path(__file__).resolve().parents[2] / "playbooks" / "gitlab-legacy.yaml"
# every lead field the derivation writes, and its explanations
DERIVED = ("segment", "region", "score", "score_parts", "score_source", "route_requested_at", "mql_date", "status",
           "status_reason", "owner_type", "owner_id", "active_until", "not_to_engage", "lc_unknown", "lc_user",
           "lc_prospect_hierarchy", "lc_customer_hierarchy_account", "lc_former_customer_account",
           "lc_partner_managed", "derivations")
ACCOUNT_DERIVED = ("segment", "parent_segment", "region", "derivations")
runner = CliRunner()


# --------------------------------------------------------------------------- a mixed world, twice


def _world(p: str, now: dt.datetime) -> list[Any]:
    """Accounts (a hierarchy never derived, a derived one, a partner), leads of every kind, activities.
    Every id starts with `p`, so one store can hold the same world twice."""
    accounts = [
        an_account(id=f"{p}top", name="Rheinwerk AG", type="Customer", employees_datafox=2500,
                   addresses={"datafox": {"country": "Germany"}}),
        an_account(id=f"{p}labs", name="Rheinwerk Labs", type="Prospect", parent_id=f"{p}top", employees_datafox=40,
                   addresses={"datafox": {"country": "United States", "state": "CA"}}),
        an_account(id=f"{p}solo", name="Solo KK", type="Former Customer", segment="Mid-Market", region="APAC",
                   derivations={"segment": {"value": "Mid-Market", "why": "set earlier"}}),
        an_account(id=f"{p}partner", name="Partner Co", type="Partner", partner_managed=True, segment="Unknown",
                   derivations={"segment": {"value": "Unknown", "why": "set earlier"}}),
        an_account(id=f"{p}notype", name="No Type Inc", type="Prospect", parent_id=f"{p}solo",
                   segment="SMB", derivations={"segment": {"value": "SMB"}}),
    ]
    leads = [
        a_lead(id=f"{p}01", status="Raw", title="CTO", country="Germany", matched_account_id=f"{p}top",
               matched_at=now - DAY),
        a_lead(id=f"{p}02", status="Inquiry", owner_type="queue", owner_id="Inquiry Queue", title="Student",
               country="USA", state="CA", email=f"{p}02@gmail.com"),
        a_lead(id=f"{p}03", status="MQL", mql_date=now - 40 * DAY, owner_type="user", owner_id="u-bdr",
               matched_account_id=f"{p}solo", matched_at=now - 50 * DAY, title="Director of IT"),
        a_lead(id=f"{p}04", status="Recycle", status_reason="No response", owner_type="queue",
               owner_id="Recycle Queue", initial_source="GitLab.com", trial_started_at=now - 10 * DAY,
               trial_ends_at=now + 20 * DAY, country="Japan"),
        a_lead(id=f"{p}05", status="Raw", initial_source="GitLab.com", country="Brazil"),
        a_lead(id=f"{p}06", status="Inquiry", score=95, score_source="external", country="France"),
        a_lead(id=f"{p}07", status="Inquiry", industry="Government", country="USA", employees=150,
               title="VP Engineering"),
        a_lead(id=f"{p}08", status="Raw", matched_at=now - DAY, product_user=False, employees=12),
        a_lead(id=f"{p}09", status="Raw", matched_account_id=f"{p}partner", matched_at=now - DAY,
               product_user=True, country="Canada", state="BC"),
        a_lead(id=f"{p}10", status="Raw", email=f"dev{p}@github.com", country="Netherlands", title="Engineer"),
        a_lead(id=f"{p}11", status="Inquiry", matched_account_id=f"{p}labs", matched_at=now - DAY,
               partner_managed=False, title="Engineering Manager", employees=5000),
        a_lead(id=f"{p}12", status="Qualifying", owner_type="user", owner_id="u-ae", title="Head of Platform",
               matched_account_id=f"{p}notype", matched_at=now - DAY, country="N/A"),
        a_lead(id=f"{p}13", status="Raw", score=40, score_parts=[{"rule": "old", "points": 40}], segment="Large",
               region="EMEA", country="UK"),
    ]
    acts = [
        (f"{p}01", "contact_us", now - DAY), (f"{p}01", "page_visit", now - 2 * DAY),
        *[(f"{p}02", "content_download", now - i * DAY) for i in range(1, 5)],
        (f"{p}03", "webcast_attended", now - 120 * DAY), (f"{p}03", "email_click", now - 3 * DAY),
        (f"{p}04", "trial_saas", now - 10 * DAY),
        (f"{p}05", "page_visit", now - 5 * DAY), (f"{p}05", "gitlab_com_signup", now - 6 * DAY),
        (f"{p}06", "web_chat", now - 4 * DAY),
        (f"{p}07", "webcast_attended", now - 8 * DAY), (f"{p}07", "high_value_page_visit", now - 8 * DAY),
        (f"{p}09", "demo_request", now - 70 * DAY),
        (f"{p}10", "demo_request", now + 2 * DAY), (f"{p}10", "event_scan", now - 30 * DAY),
        (f"{p}11", "content_download", now - DAY),
        (f"{p}12", "webcast_registration", now - 12 * DAY),
    ]
    activities = [Activity(subject_type="lead", subject_id=s, type=k, at=at) for s, k, at in acts]
    return [*accounts, *leads, *activities]


def _lead_ids(store: Store, prefix: str) -> list[str]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(Lead.id).where(Lead.id.startswith(prefix)).order_by(Lead.id)))


def _figures(store: Store, model: type[Any], prefix: str, fields: tuple[str, ...]) -> dict[str, str]:
    """Each record's derived fields as JSON text with the world's id prefix taken out."""
    with store.uow() as uow:
        found = uow.session.scalars(select(model).where(model.id.startswith(prefix)))
        return {r.id.removeprefix(prefix): json.dumps({f: to_json(getattr(r, f)) for f in fields}, sort_keys=True)
                .replace(prefix, "") for r in found}


def _history(store: Store, prefix: str) -> dict[str, list[str]]:
    """Each record's history rows after its creation: (field, old, new, rule, why), prefix taken out."""
    with store.uow() as uow:
        rows = uow.session.scalars(select(FieldHistory).where(FieldHistory.entity_id.startswith(prefix),
                                                              FieldHistory.field != "(created)"))
        found: dict[str, list[str]] = {}
        for h in rows:
            row = json.dumps([h.field, h.old_value, h.new_value, h.rule, h.why]).replace(prefix, "")
            found.setdefault(h.entity_id.removeprefix(prefix), []).append(row)
        return {k: sorted(v) for k, v in found.items()}


def _history_count(store: Store) -> int:
    with store.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(FieldHistory)) or 0)


def _refresh_each(store: Store, pb: Playbook, ids: list[str], now: dt.datetime) -> None:
    for lead_id in ids:
        with store.uow() as uow:
            refresh_lead(uow, pb, uow.get(Lead, lead_id), now)
            uow.commit()


# --------------------------------------------------------------------------- S1: the same as refresh_lead


def test_S1_rescore_all_gives_every_lead_what_refresh_lead_gives_it(store: Store, playbook: Playbook,
                                                                    now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, *_world("dv-", now), *_world("rs-", now))
    _refresh_each(store, playbook, _lead_ids(store, "dv-"), now)
    report = rescore_all(store, playbook, now, chunk=5, lead_ids=_lead_ids(store, "rs-"))

    assert _figures(store, Lead, "rs-", DERIVED) == _figures(store, Lead, "dv-", DERIVED)
    assert _figures(store, Account, "rs-", ACCOUNT_DERIVED) == _figures(store, Account, "dv-", ACCOUNT_DERIVED)
    derived, rescored = _history(store, "dv-"), _history(store, "rs-")
    assert rescored == derived
    with store.uow() as uow:
        by_rescore = uow.session.scalar(select(func.count()).select_from(FieldHistory)
                                        .where(FieldHistory.actor_id == "rescore"))
        lead = uow.get(Lead, "rs-01")
        assert (lead.status, lead.mql_date, lead.route_requested_at, lead.segment) == ("MQL", now, now, "Large")
        assert (uow.get(Lead, "rs-06").score, uow.get(Lead, "rs-06").score_source) == (95, "external")
        assert uow.get(Lead, "rs-05").not_to_engage is True and uow.get(Lead, "rs-07").region == "Public Sector"
        assert uow.get(Lead, "rs-11").lc_customer_hierarchy_account == "True"  # its parent is a customer (L6)
    # the report counts every history row it wrote: the leads' and the re-derived hierarchy's (top, labs)
    assert report == RescoreReport(leads=13, changed_leads=13, history_rows=by_rescore, seconds=report.seconds)
    assert report.history_rows == sum(len(v) for v in rescored.values()) and {"top", "labs"} <= set(rescored)


def test_S1_rescore_twice_writes_no_history_and_leaves_every_value(store: Store, playbook: Playbook,
                                                                    now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, *_world("rs-", now))
    first = rescore_all(store, playbook, now, chunk=4)
    assert first.changed_leads == first.leads == 13 and first.history_rows > 0
    before, figures = _history_count(store), _figures(store, Lead, "rs-", DERIVED[:-1])
    second = rescore_all(store, playbook, now, chunk=4)
    assert (second.leads, second.changed_leads, second.history_rows) == (13, 0, 0)
    assert _history_count(store) == before and _figures(store, Lead, "rs-", DERIVED[:-1]) == figures
    # the explanations settle too ("score 0 -> 100" became "score 100 -> 100"): a third run writes nothing
    with store.uow() as uow:
        stamps = dict(uow.session.execute(select(Lead.id, Lead.updated_at)).all())
        explained = _figures(store, Lead, "rs-", ("derivations",))
    rescore_all(store, playbook, now, chunk=4)
    with store.uow() as uow:
        assert dict(uow.session.execute(select(Lead.id, Lead.updated_at)).all()) == stamps
    assert _figures(store, Lead, "rs-", ("derivations",)) == explained


def test_S1_rescore_leaves_merged_away_leads_alone(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="keep", title="CTO"), a_lead(id="gone", title="CTO", merged_into_id="keep",
                                                              merged_into_type="lead"))
    report = rescore_all(store, playbook, now)
    assert (report.leads, report.changed_leads) == (1, 1)
    with store.uow() as uow:
        assert (uow.get(Lead, "keep").score, uow.get(Lead, "gone").score) == (20, 0)
        assert uow.history("lead", "gone")[-1].field == "(created)"


def test_S1_rescore_reads_per_chunk_not_per_lead(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    """No query per lead: not for its activities, its matched account or that account's hierarchy (L6)."""
    accounts = [an_account(id="p0", name="Parent", type="Customer", employees_datafox=500)]
    accounts += [an_account(id=f"c{i}", name=f"Child {i}", type="Prospect", parent_id="p0") for i in range(6)]
    leads = [a_lead(id=f"n{i:03d}", title="Engineer", matched_account_id=f"c{i % 6}", matched_at=now)
             for i in range(60)]
    acts = [Activity(subject_type="lead", subject_id=f"n{i:03d}", type="page_visit", at=now - i * DAY)
            for i in range(60)]
    with store.uow() as uow:
        save(uow, now, *accounts, *leads, *acts)
    rescore_all(store, playbook, now, chunk=20)
    rescore_all(store, playbook, now, chunk=20)  # explanations settle
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        report = rescore_all(store, playbook, now, chunk=20)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # per chunk of 20: the leads, their activities, their accounts and the parent (two levels up), the
    # children of the parent and of theirs (two levels down); then the empty chunk that ends the run
    assert report.leads == 60 and len(selects) == 3 * (2 + 2 + 2) + 1, selects
    assert not [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=st.lists(st.tuples(
    st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)),
    st.lists(st.tuples(st.sampled_from(["page_visit", "content_download", "contact_us", "webcast_attended",
                                        "trial_saas", "email_click", "web_chat", "gitlab_com_signup"]),
                       st.integers(min_value=-3, max_value=200)), max_size=6),
    st.sampled_from([None, "CTO", "Student", "Engineer", "Director"]),
    st.sampled_from([None, "Germany", "USA", "Japan", "Brazil"]),
    st.sampled_from(["Raw", "Inquiry", "MQL", "Recycle"]),
    st.sampled_from([None, "GitLab.com", "Web Direct"]),
), min_size=1, max_size=4))
def test_S1_recomputing_twice_changes_nothing_and_matches_refresh_lead(
        store: Store, people: list[tuple[Any, ...]]) -> None:
    pb = cached_playbook(None)
    now = dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)
    records: list[Any] = []
    pairs: list[tuple[str, str]] = []
    for employees, kinds, title, country, status, source in people:
        ids = []
        for side in ("d", "r"):
            lead = a_lead(status=status, employees=employees, title=title, country=country, initial_source=source)
            lead.id = f"{side}{lead.id}"
            records.append(lead)
            records += [Activity(subject_type="lead", subject_id=lead.id, type=k, at=now - d * DAY)
                        for k, d in kinds]
            ids.append(lead.id)
        pairs.append((ids[0], ids[1]))
    with store.uow() as uow:
        save(uow, now, *records)
    _refresh_each(store, pb, [d for d, _ in pairs], now)
    rescore_all(store, pb, now, lead_ids=[r for _, r in pairs], chunk=3)
    with store.uow() as uow:
        for d, r in pairs:
            mine, theirs = uow.get(Lead, r), uow.get(Lead, d)
            assert {f: to_json(getattr(mine, f)) for f in DERIVED} == {f: to_json(getattr(theirs, f)) for f in DERIVED}
            assert mine.score == sum(p["points"] for p in mine.score_parts)
    before = _history_count(store)
    again = rescore_all(store, pb, now, lead_ids=[r for _, r in pairs], chunk=3)
    assert (again.changed_leads, again.history_rows) == (0, 0) and _history_count(store) == before


# --------------------------------------------------------------------------- S2, S4: a changed playbook


def _modified(*replacements: tuple[str, str]) -> Playbook:
    text = default_playbook_path().read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return parse_playbook(text, "modified default")


def test_S4_narrower_segment_bands_resegment_and_rescore_with_history(store: Store, playbook: Playbook,
                                                                      now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", status="Inquiry", employees=1500, title="Director of IT"),
             a_lead(id="l2", status="Inquiry", employees=50), a_lead(id="l3", status="Raw", employees=5000))
    rescore_all(store, playbook, now)
    with store.uow() as uow:
        assert [(uow.get(Lead, i).segment, uow.get(Lead, i).score) for i in ("l1", "l2", "l3")] == \
               [("Mid-Market", 20), ("SMB", 0), ("Large", 10)]
    bands = _modified(("- {name: Large, min: 2000}", "- {name: Large, min: 1000}"),
                      ("- {name: Mid-Market, min: 100, max: 1999}", "- {name: Mid-Market, min: 100, max: 999}"))
    before = _history_count(store)
    report = rescore_all(store, bands, now + DAY)
    assert (report.changed_leads, report.history_rows) == (1, 3)  # l1: its segment, score and score parts
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.segment, lead.score) == ("Large", 25)
        rules = {h.field: (h.rule, h.old_value, h.new_value) for h in uow.history("lead", "l1")[-3:]}
        assert rules["segment"] == ("lead-segment", "Mid-Market", "Large")
        assert rules["score"] == ("score", 20, 25)
        assert lead.derivations["segment"]["why"] == "Large by 1,500 employees"
    assert _history_count(store) == before + report.history_rows


def test_S2_a_lower_mql_threshold_makes_mqls_with_history(store: Store, playbook: Playbook,
                                                          now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", status="Inquiry", owner_type="queue", owner_id="Inquiry Queue",
                              title="Director of IT"),
             a_lead(id="l2", status="Accepted", owner_type="user", owner_id="u-ae", title="Director of IT"),
             Activity(subject_type="lead", subject_id="l1", type="webcast_attended", at=now - DAY),
             Activity(subject_type="lead", subject_id="l2", type="webcast_attended", at=now - DAY))
    rescore_all(store, playbook, now)
    with store.uow() as uow:
        assert (uow.get(Lead, "l1").score, uow.get(Lead, "l1").status) == (75, "Inquiry")
    lower = _modified(("  mql_threshold: 90\n", "  mql_threshold: 70\n"))
    report = rescore_all(store, lower, now + DAY)
    assert report.changed_leads == 1  # l2 is Accepted: MQL is not set from it
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.mql_date, lead.route_requested_at) == ("MQL", now + DAY, now)
        changes = {h.field: (h.rule, h.why) for h in uow.history("lead", "l1") if h.changed_at == now + DAY}
        assert {f: r for f, (r, _) in changes.items()} == {"status": "mql-threshold", "mql_date": "mql-threshold"}
        assert "reaches the MQL threshold 70" in changes["status"][1]
        assert uow.get(Lead, "l2").status == "Accepted"


def test_S2_a_lead_changed_after_it_was_read_is_derived_from_its_new_state(store: Store, playbook: Playbook,
                                                                           now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", status="Inquiry", owner_type="queue", owner_id="Inquiry Queue"),
             Activity(subject_type="lead", subject_id="l1", type="contact_us", at=now - DAY))
    with store.uow() as uow:
        stale = _lead_rows(uow, ["l1"], None, 10)
    with store.uow() as uow:  # a rep accepts the lead meanwhile
        with uow.changing(actor=Actor.user("u-rep"), now=now, rule="manual"):
            uow.get(Lead, "l1").status = "Accepted"
        uow.commit()
    with store.uow() as uow:
        with uow.changing(actor=Actor.system("rescore"), now=now):
            assert rescore_chunk(uow, playbook, stale, now)[0] == 1
        uow.commit()
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.score, lead.mql_date) == ("Accepted", 100, None)  # not MQL: it was Accepted


# --------------------------------------------------------------------------- W8: the nightly job


def test_W8_the_rescore_job_runs_once_per_period(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", title="CTO"),
             Activity(subject_type="lead", subject_id="l1", type="contact_us", at=now - DAY))
    first = run_once(store, playbook, "rescore", now)
    assert first.startswith("rescore: period 2026-03-02:") and "'changed_leads': 1" in first
    again = run_once(store, playbook, "rescore", now + dt.timedelta(hours=3))
    assert "already ran" in again
    # 02:00 in Los Angeles is 10:00 UTC: the next period starts then
    assert "already ran" in run_once(store, playbook, "rescore", dt.datetime(2026, 3, 3, 9, 59, tzinfo=dt.UTC))
    later = run_once(store, playbook, "rescore", dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC))
    assert later.startswith("rescore: period 2026-03-03:") and "'history_rows': 0" in later
    with store.uow() as uow:
        runs = list(uow.session.scalars(select(JobRun).order_by(JobRun.id)))
        assert [(r.job, r.period) for r in runs] == [("rescore", "2026-03-02"), ("rescore", "2026-03-03")]
        assert runs[0].result["leads"] == 1 and runs[0].result["history_rows"] > 0


def test_W8_the_legacy_playbook_has_the_rescore_job(store: Store, now: dt.datetime) -> None:
    legacy = load_playbook(LEGACY)
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", status="Open", owner_type="user", owner_id="u1", title="CTO"),
             Activity(subject_type="lead", subject_id="l1", type="contact_us", at=now - DAY))
    assert "'leads': 1" in run_once(store, legacy, "rescore", now)
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert lead.mql_date == now and lead.status == "Open"  # 004: an MQL is a date, not a status


def test_W8_cli_runs_the_rescore_job(store: Store, now: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    monkeypatch.delenv("LEADFLOW_PLAYBOOK", raising=False)
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", title="CTO"))
    first = runner.invoke(app, ["jobs", "run", "rescore", "--now", "2026-03-02T15:00:00Z"])
    assert first.exit_code == 0, first.output
    assert "period 2026-03-02" in first.stdout and "'leads': 1" in first.stdout
    again = runner.invoke(app, ["jobs", "run", "rescore", "--now", "2026-03-02T16:00:00Z"])
    assert again.exit_code == 0 and "already ran" in again.stdout
