"""W3 on a real store: the due time set on the owner's region calendar, the first follow-up as first response,
the hourly breach check (owner and manager notified once), and the report - with injected `now` across daylight
saving changes in US Eastern and Pacific, a holiday in one region and not another, and a Friday-evening request."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from builders import a_lead, a_user, save
from leadflow.domain import sla
from leadflow.domain.records import Actor
from leadflow.playbook.schema import Playbook
from leadflow.services.jobs import run_once
from leadflow.services.sequences import create_sequence, handle_engagement_event
from leadflow.services.sla_jobs import BREACH_EVENT, BREACH_JOB, log_activity, sla_report, sla_summary
from leadflow.store.db import Store
from leadflow.store.models import FieldHistory, Lead, OutboxEvent

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)


def _request(store: Store, pb: Playbook, lead_id: str, received: dt.datetime, region: str, country: str,
             owner: str = "rep") -> dt.datetime:
    """A Contact Us lead received at `received`, owned by `owner`, with the SLA routing gives it; returns due."""
    due = sla.due(received, 1, sla.region_calendar(pb, region, country))
    with store.uow() as uow:
        save(uow, received, a_lead(id=lead_id, status="MQL", channel="contact_us", region=region, country=country,
                                   owner_type="user", owner_id=owner, sla_due_at=due))
    return due


def _team(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="boss", role="Team Lead", region="US East"))
    with store.uow() as uow:
        save(uow, now, a_user(id="rep", role="BDR", region="US East", manager_id="boss"),
             a_user(id="uk", role="BDR", region="EMEA"))


def _breaches(store: Store) -> list[OutboxEvent]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == BREACH_EVENT)
                                        .order_by(OutboxEvent.id)))


def _breached(store: Store, lead_id: str) -> dt.datetime | None:
    with store.uow() as uow:
        return uow.get(Lead, lead_id).sla_breached_at


def test_W3_friday_evening_contact_us_breaches_at_the_close_of_monday_not_before(
    store: Store, playbook: Playbook
) -> None:
    friday_evening = dt.datetime(2026, 2, 27, 23, 30, tzinfo=UTC)  # 18:30 in New York
    _team(store, friday_evening)
    due = _request(store, playbook, "l1", friday_evening, "US East", "US")
    assert due == dt.datetime(2026, 3, 2, 22, 0, tzinfo=UTC)  # Monday 17:00 EST
    assert "'breached': 0" in run_once(store, playbook, BREACH_JOB, dt.datetime(2026, 3, 2, 21, 0, tzinfo=UTC))
    assert _breached(store, "l1") is None
    assert "'breached': 1" in run_once(store, playbook, BREACH_JOB, dt.datetime(2026, 3, 2, 22, 0, tzinfo=UTC))
    assert _breached(store, "l1") == due
    (event,) = _breaches(store)
    assert event.payload["notify"] == ["rep", "boss"]  # the owner and their manager
    assert event.entity_id == "l1" and event.payload["due"] == due.isoformat()
    # the next hour's check finds nothing new: one notification per breach
    assert "'breached': 0" in run_once(store, playbook, BREACH_JOB, dt.datetime(2026, 3, 2, 23, 0, tzinfo=UTC))
    assert len(_breaches(store)) == 1
    with store.uow() as uow:
        rules = {r.field: r.rule for r in uow.session.scalars(select(FieldHistory).where(
            FieldHistory.entity_id == "l1", FieldHistory.field == "sla_breached_at"))}
        assert rules == {"sla_breached_at": "w3-sla-breach"}


def test_W3_us_eastern_dst_start_keeps_the_local_due_time(store: Store, playbook: Playbook) -> None:
    friday_evening = dt.datetime(2026, 3, 6, 23, 30, tzinfo=UTC)  # 18:30 EST; clocks go forward on Sunday 8 March
    _team(store, friday_evening)
    due = _request(store, playbook, "l1", friday_evening, "US East", "US")
    assert due == dt.datetime(2026, 3, 9, 21, 0, tzinfo=UTC)  # Monday 17:00 EDT, not 22:00 UTC
    assert "'breached': 0" in run_once(store, playbook, BREACH_JOB, due - HOUR)
    assert "'breached': 1" in run_once(store, playbook, BREACH_JOB, due)


def test_W3_us_pacific_dst_end_keeps_the_local_due_time(store: Store, playbook: Playbook) -> None:
    friday_morning = dt.datetime(2026, 10, 30, 17, 0, tzinfo=UTC)  # 10:00 PDT; clocks go back on Sunday 1 November
    _team(store, friday_morning)
    due = _request(store, playbook, "l1", friday_morning, "US West", "US")
    assert due == dt.datetime(2026, 11, 2, 18, 0, tzinfo=UTC)  # Monday 10:00 PST
    assert "'breached': 0" in run_once(store, playbook, BREACH_JOB, dt.datetime(2026, 11, 2, 17, 0, tzinfo=UTC))
    assert "'breached': 1" in run_once(store, playbook, BREACH_JOB, dt.datetime(2026, 11, 2, 18, 0, tzinfo=UTC))


def test_W3_a_us_holiday_delays_the_us_breach_but_not_the_uk_one(store: Store, playbook: Playbook) -> None:
    # Friday 3 July 2026 is Independence Day (observed) in the US, a working day in England.
    _team(store, dt.datetime(2026, 7, 1, tzinfo=UTC))
    us_due = _request(store, playbook, "us", dt.datetime(2026, 7, 2, 14, 0, tzinfo=UTC), "US East", "US")
    uk_due = _request(store, playbook, "uk", dt.datetime(2026, 7, 2, 9, 0, tzinfo=UTC), "EMEA", "GB", owner="uk")
    assert uk_due == dt.datetime(2026, 7, 3, 9, 0, tzinfo=UTC)  # Friday 10:00 BST
    assert us_due == dt.datetime(2026, 7, 6, 14, 0, tzinfo=UTC)  # Monday 10:00 EDT, the holiday skipped
    run_once(store, playbook, BREACH_JOB, dt.datetime(2026, 7, 3, 12, 0, tzinfo=UTC))
    assert _breached(store, "uk") == uk_due and _breached(store, "us") is None
    (event,) = _breaches(store)
    assert event.payload["notify"] == ["uk"]  # no manager: only the owner


def test_W3_the_first_follow_up_activity_is_the_first_response(store: Store, playbook: Playbook) -> None:
    received = dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    _team(store, received)
    due = _request(store, playbook, "l1", received, "US East", "US")
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        log_activity(uow, playbook, lead, "page_visit", Actor.system("web"), received + HOUR)  # not a follow-up
        assert lead.sla_first_response_at is None
        log_activity(uow, playbook, lead, "call", Actor.user("rep"), received + 2 * HOUR)
        log_activity(uow, playbook, lead, "email_sent", Actor.user("rep"), received + 3 * HOUR)
        uow.commit()
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert lead.sla_first_response_at == received + 2 * HOUR
    assert "'breached': 0" in run_once(store, playbook, BREACH_JOB, due + HOUR)
    with store.uow() as uow:
        (row,) = sla_report(uow, due + HOUR)
    assert (row.state, row.first_response_at, row.owner) == ("met", received + 2 * HOUR, "user:rep")


def test_W3_a_late_follow_up_flags_the_breach_once(store: Store, playbook: Playbook) -> None:
    received = dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    _team(store, received)
    due = _request(store, playbook, "l1", received, "US East", "US")
    with store.uow() as uow:
        log_activity(uow, playbook, uow.get(Lead, "l1"), "meeting", Actor.user("rep"), due + HOUR)
        uow.commit()
    assert _breached(store, "l1") == due
    run_once(store, playbook, BREACH_JOB, due + 2 * HOUR)
    assert len(_breaches(store)) == 1
    with store.uow() as uow:
        (row,) = sla_report(uow, due + 2 * HOUR)
    assert row.state == "late"


def test_W1_W3_a_completed_sequence_step_answers_the_sla(store: Store, playbook: Playbook) -> None:
    received = dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    _team(store, received)
    _request(store, playbook, "l1", received, "US East", "US")
    with store.uow() as uow:
        seq = create_sequence(uow, "Contact Us follow-up", ["email"], Actor.system("t"), received)
        uow.commit()
    handle_engagement_event(store, playbook, {"type": "step_completed", "person_id": "l1", "sequence_id": seq.id,
                                              "step": 1, "actor_id": "rep"}, received + HOUR)
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.sla_first_response_at) == ("Accepted", received + HOUR)


def test_W3_the_report_lists_due_first_response_and_breach_with_compliance(store: Store, playbook: Playbook) -> None:
    received = dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    _team(store, received)
    due = _request(store, playbook, "met", received, "US East", "US")
    _request(store, playbook, "missed", received, "US East", "US")
    _request(store, playbook, "open", received + 2 * dt.timedelta(days=1), "US East", "US")
    with store.uow() as uow:
        log_activity(uow, playbook, uow.get(Lead, "met"), "call", Actor.user("rep"), received + HOUR)
        uow.commit()
    run_once(store, playbook, BREACH_JOB, due + HOUR)
    with store.uow() as uow:
        rows = sla_report(uow, due + HOUR)
        breached_only = sla_report(uow, due + HOUR, state="breached")
    assert [(r.id, r.state) for r in rows] == [("met", "met"), ("missed", "breached"), ("open", "open")]
    assert [r.id for r in breached_only] == ["missed"]
    assert sla_summary(rows) == {"met": 1, "late": 0, "breached": 1, "open": 1, "total": 3, "compliance": 0.5}
