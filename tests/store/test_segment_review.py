"""S9: the sales segment review on both stores: window, sources, no-change refusals, Q1 apply job (W8)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from builders import SETUP, a_lead, an_account, save
from leadflow.cli import app
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.derive import refresh_hierarchy, refresh_lead
from leadflow.services.jobs import run_once
from leadflow.services.segment_review import (
    APPLY_JOB,
    decide_review,
    get_review,
    review_window,
    submit_review,
)
from leadflow.store.db import Store
from leadflow.store.models import Account, FieldHistory, Lead, OutboxEvent, SegmentReview

UTC = dt.UTC
SUBMIT = dt.datetime(2025, 12, 1, 10, 0, tzinfo=UTC)  # FY2026 Q4 (1 Nov 2025 - 31 Jan 2026)
DECIDE = dt.datetime(2025, 12, 15, 16, 0, tzinfo=UTC)
Q1 = dt.datetime(2026, 2, 1, 0, 30, tzinfo=UTC)  # FY2027 starts; the apply job's first run
SOURCE = "https://www.example.com/investors/annual-report-2025.pdf"
ANA = Actor.user("ana")
OPS = Actor.user("sales-ops")


def _world(store: Store, pb: Playbook, at: dt.datetime = SUBMIT - dt.timedelta(days=30)) -> None:
    """Acme GmbH (SMB by DataFox, Germany) with a child Acme Labs and a lead matched to the child."""
    with store.uow() as uow:
        save(uow, at,
             an_account(id="acme", name="Acme GmbH", employees_datafox=80,
                        addresses={"datafox": {"country": "Germany"}}),
             an_account(id="labs", name="Acme Labs", parent_id="acme", employees_datafox=20,
                        addresses={"datafox": {"country": "France"}}),
             a_lead(id="l1", company="Acme Labs", country="Germany", matched_account_id="labs"))
    with store.uow() as uow:
        refresh_hierarchy(uow, pb, uow.get(Account, "acme"), at)
        refresh_lead(uow, pb, uow.get(Lead, "l1"), at)
        uow.commit()
    with store.uow() as uow:
        assert (uow.get(Account, "acme").segment, uow.get(Lead, "l1").segment) == ("SMB", "SMB")


def _submit(store: Store, pb: Playbook, account_id: str = "acme", at: dt.datetime = SUBMIT, **values: object) -> str:
    values.setdefault("source", SOURCE)
    with store.uow() as uow:
        review = submit_review(uow, pb, uow.get(Account, account_id), actor=ANA, now=at, **values)  # type: ignore[arg-type]
        uow.commit()
        return review.id


def _decide(store: Store, review_id: str, accept: bool = True, reason: str | None = "10-K filing checked",
            at: dt.datetime = DECIDE) -> None:
    with store.uow() as uow:
        decide_review(uow, get_review(uow, review_id), accept, reason, OPS, at)
        uow.commit()


def _refused(store: Store, pb: Playbook, field: str, account_id: str = "acme", at: dt.datetime = SUBMIT,
             **values: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        _submit(store, pb, account_id, at, **values)
    assert caught.value.field == field, caught.value
    with store.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(SegmentReview)
                                  .where(SegmentReview.account_id == account_id)) == 0
        assert uow.get(Account, account_id).employees_user_input is None
    return caught.value


def _events(store: Store, kind: str) -> list[OutboxEvent]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == kind)
                                        .order_by(OutboxEvent.id)))


# --------------------------------------------------------------------------- the window


@pytest.mark.parametrize(
    ("at", "open_"),
    [
        (dt.datetime(2025, 10, 31, 23, 59, tzinfo=UTC), False),  # last minute of fiscal Q3
        (dt.datetime(2025, 11, 1, 0, 0, tzinfo=UTC), True),  # first minute of fiscal Q4
        (dt.datetime(2026, 1, 31, 23, 59, tzinfo=UTC), True),  # last minute of fiscal Q4
        (dt.datetime(2026, 2, 1, 0, 0, tzinfo=UTC), False),  # fiscal Q1: results apply, no new reviews
    ],
)
def test_S9_reviews_are_open_only_in_fiscal_q4(store: Store, playbook: Playbook, at: dt.datetime,
                                                open_: bool) -> None:
    _world(store, playbook)
    if open_:
        review_id = _submit(store, playbook, at=at, employee_count=2500)
        with store.uow() as uow:
            review = get_review(uow, review_id)
            assert (review.status, review.fiscal_year, review.applies_on) == ("submitted", 2027, dt.date(2026, 2, 1))
            account = uow.get(Account, "acme")
            # 003: the submission is the account's [User Input] Employee Count and Employee Source
            assert (account.employees_user_input, account.employees_user_input_source_url) == (2500, SOURCE)
            assert account.segment == "SMB"  # nothing changes while the review runs
            rules = {h.field: h.rule for h in uow.history("account", "acme")}
            assert rules["employees_user_input"] == "segment-review-submit"
    else:
        error = _refused(store, playbook, "submitted_at", at=at, employee_count=2500)
        window = "2025-11-01 - 2026-01-31" if at.month == 10 else "2026-11-01 - 2027-01-31"
        assert window in error.message and "fiscal Q4" in error.message


def test_S9_the_window_is_read_in_the_fiscal_time_zone(store: Store, playbook: Playbook) -> None:
    pacific = playbook.model_copy(
        update={"fiscal": playbook.fiscal.model_copy(update={"timezone": "America/Los_Angeles"})})
    _world(store, pacific)
    _refused(store, pacific, "submitted_at", at=dt.datetime(2025, 11, 1, 6, 59, tzinfo=UTC),  # 31 Oct, 23:59 PDT
             employee_count=2500)
    late = dt.datetime(2026, 2, 1, 7, 59, tzinfo=UTC)  # 31 January, 23:59 PST: still Q4 in California
    review_id = _submit(store, pacific, at=late, employee_count=2500)
    with store.uow() as uow:
        assert get_review(uow, review_id).applies_on == dt.date(2026, 2, 1)
    window = review_window(pacific, late)
    assert (window.opens, window.closes, window.fiscal_year) == (dt.date(2025, 11, 1), dt.date(2026, 1, 31), 2027)


# --------------------------------------------------------------------------- what is refused


@pytest.mark.parametrize("source", ["https://www.linkedin.com/company/acme/about/", "linkedin.com/company/acme",
                                    "https://de.linkedin.com/company/acme", "https://lnkd.in/abc123"])
def test_S9_linkedin_is_not_an_accepted_source(store: Store, playbook: Playbook, source: str) -> None:
    _world(store, playbook)
    error = _refused(store, playbook, "source", employee_count=2500, source=source)
    assert "LinkedIn is not accepted" in error.message
    _refused(store, playbook, "source", hq_country="United States", hq_state="CA", source=source)


@pytest.mark.parametrize("source", ["", "   ", "not a url", "ftp://example.com/report"])
def test_S9_a_source_url_is_required(store: Store, playbook: Playbook, source: str) -> None:
    _world(store, playbook)
    _refused(store, playbook, "source", employee_count=2500, source=source)


def test_S9_a_count_that_keeps_the_segment_is_not_reviewed(store: Store, playbook: Playbook) -> None:
    _world(store, playbook)
    error = _refused(store, playbook, "employee_count", employee_count=95)  # 80 -> 95: still SMB
    assert "do not result in a change of segment" in error.message and "SMB" in error.message
    # a child's count counts too (S7: the hierarchy adopts its largest segment), but only when it changes it
    _refused(store, playbook, "employee_count", account_id="labs", employee_count=60)
    assert _submit(store, playbook, account_id="labs", employee_count=150)
    with store.uow() as uow:
        save(uow, SUBMIT, an_account(id="big", name="Big Corp", employees_datafox=5000))
    _refused(store, playbook, "employee_count", account_id="big", employee_count=2100)  # Large either way


@pytest.mark.parametrize(("values", "field"), [
    ({"employee_count": 0}, "employee_count"),
    ({"employee_count": -5}, "employee_count"),
    ({}, "employee_count"),
    ({"employee_count": 2500, "hq_country": "Germany"}, "employee_count"),
    ({"hq_state": "CA"}, "hq_country"),
    ({"hq_country": "Atlantis"}, "hq_country"),
    ({"hq_country": "United States"}, "hq_state"),  # split by state between US East and US West
    ({"hq_country": "United States", "hq_state": "Narnia"}, "hq_state"),
])
def test_S9_malformed_reviews_are_refused(store: Store, playbook: Playbook, values: dict[str, object],
                                          field: str) -> None:
    _world(store, playbook)
    _refused(store, playbook, field, **values)


def test_S9_employee_counts_cannot_change_a_potential_users_segment(store: Store, playbook: Playbook) -> None:
    from leadflow.playbook.load import load_playbook

    legacy = load_playbook("playbooks/gitlab-legacy.yaml")
    _world(store, playbook)
    error = _refused(store, legacy, "employee_count", employee_count=2500)
    assert "Potential EE Users" in error.message


# --------------------------------------------------------------------------- decide and apply


def test_S9_accepted_count_waits_for_q1_then_the_job_applies_it_once(store: Store, playbook: Playbook) -> None:
    _world(store, playbook)
    review_id = _submit(store, playbook, employee_count=2500)
    _decide(store, review_id)
    before_q1 = dt.datetime(2026, 1, 31, 0, 30, tzinfo=UTC)
    assert "applied': []" in run_once(store, playbook, APPLY_JOB, before_q1)
    with store.uow() as uow:  # accepted but not in force: no admin override written, segment unchanged
        acme = uow.get(Account, "acme")
        assert (acme.employees_admin_override, acme.segment) == (None, "SMB")
        refresh_hierarchy(uow, playbook, acme, before_q1)
        uow.commit()
        assert acme.segment == "SMB" and get_review(uow, review_id).status == "accepted"

    summary = run_once(store, playbook, APPLY_JOB, Q1)
    assert review_id in summary and "ownership follows on the next routing" in summary
    with store.uow() as uow:
        acme, labs, lead = uow.get(Account, "acme"), uow.get(Account, "labs"), uow.get(Lead, "l1")
        assert (acme.employees_admin_override, acme.employees_admin_override_from) == (2500, dt.date(2026, 2, 1))
        assert (acme.segment, labs.segment, labs.parent_segment, lead.segment) == ("Large",) * 4
        history = uow.history("account", "acme")
        override = next(h for h in history if h.field == "employees_admin_override")
        assert (override.rule, override.actor_id, override.new_value) == ("segment-review", APPLY_JOB, 2500)
        assert review_id in (override.why or "") and "ownership follows" in (override.why or "")
        segment = [h for h in history if h.field == "segment"][-1]
        assert (segment.old_value, segment.new_value, segment.rule) == ("SMB", "Large", "segment-hierarchy")
        assert "decided by the segment review, from 2026-02-01" in (segment.why or "")
        lead_change = [h for h in uow.history("lead", "l1") if h.field == "segment"][-1]
        assert (lead_change.old_value, lead_change.new_value, lead_change.rule) == ("SMB", "Large", "lead-segment")
        review = get_review(uow, review_id)
        assert (review.status, review.applied_at) == ("applied", Q1)
        assert review.result["segment_changed"] == ["acme", "labs"]
    events = _events(store, "account.segment_changed")
    assert {(e.entity_id, e.payload["old_segment"], e.payload["new_segment"]) for e in events} == {
        ("acme", "SMB", "Large"), ("labs", "SMB", "Large")}
    assert all(e.payload["review_id"] == review_id for e in events)

    with store.uow() as uow:
        rows = uow.session.scalar(select(func.count()).select_from(FieldHistory))
    assert "already ran" in run_once(store, playbook, APPLY_JOB, Q1 + dt.timedelta(hours=3))
    assert "applied': []" in run_once(store, playbook, APPLY_JOB, Q1 + dt.timedelta(days=1))
    with store.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(FieldHistory)) == rows
    assert len(_events(store, "account.segment_changed")) == 2

    midyear = dt.datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # S6 vs S9: the accepted count holds all year
    with store.uow() as uow:
        refresh_hierarchy(uow, playbook, uow.get(Account, "labs"), midyear)
        uow.commit()
        assert uow.get(Account, "acme").segment == "Large"
        assert "decided by the segment review" in uow.get(Account, "acme").derivations["segment"]["why"]


def test_W8_apply_job_catches_up_and_applies_a_late_decision(store: Store, playbook: Playbook) -> None:
    _world(store, playbook)
    with store.uow() as uow:
        save(uow, SUBMIT, an_account(id="solo", name="Solo Ltd", employees_datafox=50))
    first = _submit(store, playbook, employee_count=2500)
    second = _submit(store, playbook, account_id="solo", employee_count=150,
                     at=dt.datetime(2026, 1, 30, 9, 0, tzinfo=UTC))
    _decide(store, first)
    later = Q1 + dt.timedelta(days=9)  # the scheduler was down on 1 February
    applied = run_once(store, playbook, APPLY_JOB, later)
    assert first in applied and second not in applied
    _decide(store, second, at=later + dt.timedelta(hours=2))  # Sales Ops decides after the new year began
    assert second in run_once(store, playbook, APPLY_JOB, later + dt.timedelta(days=1))
    with store.uow() as uow:
        assert {r.status for r in uow.session.scalars(select(SegmentReview))} == {"applied"}
        assert (uow.get(Account, "solo").employees_admin_override, uow.get(Account, "solo").segment) == (
            150, "Mid-Market")


def test_S9_hq_address_review_moves_the_hierarchy_region_at_q1(store: Store, playbook: Playbook) -> None:
    _world(store, playbook)
    with store.uow() as uow:
        assert (uow.get(Account, "acme").region, uow.get(Account, "labs").region) == ("EMEA", "EMEA")
    # submitted on the child: the fields name the Global Account HQ, so the global account's address changes
    review_id = _submit(store, playbook, account_id="labs", hq_country="USA", hq_state="California",
                        hq_postal_code="94105", source="https://www.sec.gov/acme-10k")
    _decide(store, review_id)
    run_once(store, playbook, APPLY_JOB, Q1)
    with store.uow() as uow:
        acme, labs, lead = uow.get(Account, "acme"), uow.get(Account, "labs"), uow.get(Lead, "l1")
        assert acme.addresses["admin_override"] == {"country": "United States", "state": "California",
                                                    "postal_code": "94105"}
        assert acme.addresses["datafox"] == {"country": "Germany"}
        assert (acme.region, labs.region, lead.region) == ("US West",) * 3
        region = [h for h in uow.history("account", "labs") if h.field == "region"][-1]
        assert (region.old_value, region.new_value, region.rule) == ("EMEA", "US West", "territory")
        assert [h.rule for h in uow.history("account", "acme") if h.field == "addresses"][-1] == "segment-review"
    assert {e.entity_id for e in _events(store, "account.region_changed")} == {"acme", "labs"}
    assert _events(store, "account.segment_changed") == []


def test_S9_rejected_and_superseded_reviews_are_never_applied(store: Store, playbook: Playbook) -> None:
    _world(store, playbook)
    first = _submit(store, playbook, employee_count=2500)
    second = _submit(store, playbook, employee_count=150, at=SUBMIT + dt.timedelta(days=1))
    with store.uow() as uow:
        assert get_review(uow, first).status == "superseded"  # an undecided earlier submission
        assert uow.get(Account, "acme").employees_user_input == 150
    with pytest.raises(InvalidInput) as no_reason:
        _decide(store, second, accept=False, reason=" ")
    assert no_reason.value.field == "reason"
    _decide(store, second, accept=False, reason="the filing counts contractors")
    with pytest.raises(InvalidInput) as twice:
        _decide(store, second)
    assert twice.value.field == "status"
    run_once(store, playbook, APPLY_JOB, Q1)
    with store.uow() as uow:
        acme = uow.get(Account, "acme")
        assert (acme.segment, acme.employees_admin_override) == ("SMB", None)
        assert {r.id: r.status for r in uow.session.scalars(select(SegmentReview))} == {
            first: "superseded", second: "rejected"}
    assert [e.payload["decision"] for e in _events(store, "segment_review.decided")] == ["rejected"]
    assert len(_events(store, "segment_review.submitted")) == 2


def test_S9_a_newer_acceptance_supersedes_an_older_one(store: Store, playbook: Playbook) -> None:
    _world(store, playbook)
    first = _submit(store, playbook, employee_count=2500)
    _decide(store, first)
    second = _submit(store, playbook, employee_count=150, at=DECIDE + dt.timedelta(days=1))
    _decide(store, second, at=DECIDE + dt.timedelta(days=2))
    run_once(store, playbook, APPLY_JOB, Q1)
    with store.uow() as uow:
        assert (get_review(uow, first).status, get_review(uow, second).status) == ("superseded", "applied")
        assert (uow.get(Account, "acme").segment, uow.get(Account, "acme").employees_admin_override) == (
            "Mid-Market", 150)


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def cli_env(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    monkeypatch.delenv("LEADFLOW_PLAYBOOK", raising=False)
    return store


def test_S9_cli_submit_decide_list_and_apply(cli_env: Store, playbook: Playbook) -> None:
    runner = CliRunner()
    _world(cli_env, playbook)
    refused = runner.invoke(app, ["review", "submit", "acme", "--employees", "2500", "--source",
                                  "https://www.linkedin.com/company/acme", "--now", "2025-12-01T10:00:00Z"])
    assert refused.exit_code == 2 and "LinkedIn" in refused.output
    assert len([line for line in refused.output.splitlines() if line.strip()]) == 1
    submitted = runner.invoke(app, ["review", "submit", "acme", "--employees", "2500", "--source", SOURCE,
                                    "--as", "ana", "--now", "2025-12-01T10:00:00Z"])
    assert submitted.exit_code == 0, submitted.output
    found = re.search(r"(rv_[0-9a-f]+):", submitted.output)
    assert found and "applies from 2026-02-01" in submitted.output
    review_id = found[1]
    decided = runner.invoke(app, ["review", "decide", review_id, "--accept", "--reason", "10-K",
                                  "--as", "sales-ops", "--now", "2025-12-15T16:00:00Z"])
    assert decided.exit_code == 0 and "accepted" in decided.output, decided.output
    listed = runner.invoke(app, ["review", "list", "--status", "accepted"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0 and review_id in listed.output and "user:sales-ops" in listed.output
    ran = runner.invoke(app, ["jobs", "run", APPLY_JOB, "--now", "2026-02-01T00:30:00Z"])
    assert ran.exit_code == 0 and review_id in ran.output, ran.output
    with cli_env.uow() as uow:
        assert uow.get(Account, "acme").segment == "Large"
    bad = runner.invoke(app, ["review", "list", "--status", "pending"])
    assert bad.exit_code == 2 and "unknown status" in bad.output


def test_D5_review_writes_are_recorded_by_their_actor(store: Store, playbook: Playbook) -> None:
    _world(store, playbook)
    review_id = _submit(store, playbook, employee_count=2500)
    with store.uow() as uow:
        rows = [h for h in uow.history("account", "acme") if h.rule == "segment-review-submit"]
        assert {(h.field, h.actor_id) for h in rows} == {("employees_user_input", "ana"),
                                                         ("employees_user_input_source_url", "ana")}
        assert review_id and all("FY2027 segment review" in (h.why or "") for h in rows)
    assert SETUP.id == "test-setup"
