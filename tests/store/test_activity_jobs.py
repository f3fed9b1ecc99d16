"""S10 + W8: the `active-until` job marks records passive as their Active window ends, once per window."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from builders import SETUP, a_lead, save
from leadflow.playbook.schema import Playbook
from leadflow.services.activity_jobs import ACTIVE_JOB
from leadflow.services.derive import refresh_lead
from leadflow.services.jobs import run_once
from leadflow.store.db import Store
from leadflow.store.models import Activity, Contact, FieldHistory, Lead

UTC = dt.UTC
DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 1, 5, 18, 0, tzinfo=UTC)  # the hand-raising activity
RUN = dt.datetime(2026, 3, 7, 9, 0, tzinfo=UTC)  # 01:00 in Los Angeles, 61 days later


def _lead(store: Store, pb: Playbook, lead_id: str, kind: str, at: dt.datetime, **fields: object) -> None:
    """A lead that took `kind` at `at`, derived then (so its active_until is stored)."""
    with store.uow() as uow:
        save(uow, at, a_lead(id=lead_id, **fields))
    with store.uow() as uow:
        with uow.changing(actor=SETUP, now=at):
            uow.add(Activity(subject_type="lead", subject_id=lead_id, type=kind, at=at))
        refresh_lead(uow, pb, uow.get(Lead, lead_id), at)
        uow.commit()


def _history(store: Store) -> int:
    with store.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(FieldHistory)) or 0)


def _strict(pb: Playbook) -> Playbook:
    """A playbook where only an Active window lets a GitLab.com record be engaged (no engage-after list)."""
    assert pb.activity is not None
    return pb.model_copy(update={"activity": pb.activity.model_copy(update={"engage_after_activities": []})})


def test_S10_a_lead_whose_60_days_passed_becomes_passive_once(store: Store, playbook: Playbook) -> None:
    _lead(store, playbook, "old", "demo_request", T0)
    _lead(store, playbook, "fresh", "demo_request", T0 + 30 * DAY)
    with store.uow() as uow:
        old = uow.get(Lead, "old")
        assert old.active_until == T0 + 60 * DAY and old.derivations["active"]["active"] is True
    summary = run_once(store, playbook, ACTIVE_JOB, RUN)
    assert "'checked': 1" in summary and "'passive': 1" in summary
    with store.uow() as uow:
        old, fresh = uow.get(Lead, "old"), uow.get(Lead, "fresh")
        assert old.derivations["active"]["active"] is False
        assert old.derivations["active"]["why"].startswith("passive since 2026-03-06")
        assert old.active_until == T0 + 60 * DAY  # the end of the last window stays as it was
        assert fresh.derivations["active"]["active"] is True  # still inside its window: not touched
    rows = _history(store)
    assert "already ran" in run_once(store, playbook, ACTIVE_JOB, RUN + dt.timedelta(hours=5))
    assert "'checked': 0" in run_once(store, playbook, ACTIVE_JOB, RUN + DAY)  # the next day: nothing new
    assert _history(store) == rows


def test_S10_gitlab_com_record_is_not_to_be_engaged_once_passive(store: Store, playbook: Playbook) -> None:
    pb = _strict(playbook)
    _lead(store, pb, "g1", "web_chat", T0, initial_source="GitLab.com")
    with store.uow() as uow:
        assert uow.get(Lead, "g1").not_to_engage is False  # Active: may be engaged
    run_once(store, pb, ACTIVE_JOB, T0 + 59 * DAY)
    with store.uow() as uow:
        assert uow.get(Lead, "g1").not_to_engage is False
    run_once(store, pb, ACTIVE_JOB, T0 + 61 * DAY)
    with store.uow() as uow:
        lead = uow.get(Lead, "g1")
        assert lead.not_to_engage is True
        change = [h for h in uow.history("lead", "g1") if h.field == "not_to_engage"][-1]
        assert (change.old_value, change.new_value, change.rule, change.actor_type, change.actor_id) == (
            False, True, "not-to-engage", "system", ACTIVE_JOB)
        assert "not to be engaged" in (change.why or "")


def test_S10_a_stale_window_is_recomputed_with_history(store: Store, playbook: Playbook) -> None:
    """A trial extended after the stored window was computed: the job finds it Active again (S10)."""
    start = T0
    _lead(store, playbook, "t1", "trial_self_managed", start, trial_started_at=start,
          trial_ends_at=start + 30 * DAY)
    with store.uow() as uow:
        assert uow.get(Lead, "t1").active_until == start + 60 * DAY  # 30-day trial + 30 days
        with uow.changing(actor=SETUP, now=start + 20 * DAY, why="trial extended"):
            uow.get(Lead, "t1").trial_ends_at = start + 60 * DAY
        uow.commit()
    run_once(store, playbook, ACTIVE_JOB, RUN)
    with store.uow() as uow:
        lead = uow.get(Lead, "t1")
        assert lead.active_until == start + 90 * DAY and lead.derivations["active"]["active"] is True
        change = [h for h in uow.history("lead", "t1") if h.field == "active_until"][-1]
        assert (change.rule, change.actor_id) == ("active-window", ACTIVE_JOB)


def test_W8_active_until_catches_up_after_downtime_without_doing_anything_twice(
    store: Store, playbook: Playbook
) -> None:
    pb = _strict(playbook)
    for n in range(4):  # windows ending on 6, 16, 26 March and 5 April
        _lead(store, pb, f"g{n}", "web_chat", T0 + 10 * n * DAY, initial_source="GitLab.com")
    first = run_once(store, pb, ACTIVE_JOB, RUN)  # 7 March: g0's window has ended
    assert "'checked': 1" in first and "'not_to_engage_changed': 1" in first
    later = RUN + 21 * DAY  # the scheduler was down for three weeks: g1 and g2 ended meanwhile
    caught_up = run_once(store, pb, ACTIVE_JOB, later)
    assert "'checked': 2" in caught_up and "'not_to_engage_changed': 2" in caught_up
    with store.uow() as uow:
        flags = {lead.id: lead.not_to_engage for lead in uow.session.scalars(select(Lead))}
        assert flags == {"g0": True, "g1": True, "g2": True, "g3": False}
        changes = uow.session.scalar(select(func.count()).select_from(FieldHistory).where(
            FieldHistory.field == "not_to_engage", FieldHistory.rule == "not-to-engage",
            FieldHistory.actor_id == ACTIVE_JOB))
        assert changes == 3


def test_S10_contacts_go_passive_too(store: Store, playbook: Playbook) -> None:
    pb = _strict(playbook)
    with store.uow() as uow:
        save(uow, T0, Contact(id="c1", last_name="Hopper", status="Qualified", initial_source="GitLab.com",
                              active_until=T0 + 60 * DAY, not_to_engage=False))
        with uow.changing(actor=SETUP, now=T0):
            uow.add(Activity(subject_type="contact", subject_id="c1", type="web_chat", at=T0))
        uow.commit()
    run_once(store, pb, ACTIVE_JOB, RUN)
    with store.uow() as uow:
        contact = uow.get(Contact, "c1")
        assert contact.not_to_engage is True and contact.derivations["active"]["active"] is False
