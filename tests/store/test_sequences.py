"""W1 and W2 on a real store: engagement events move people through the lifecycle by playbook rules, with history;
the no-response wait and the 22:30 Inquiry clean-up run as idempotent jobs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from builders import SETUP, a_lead, a_user, save
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput, NotFound
from leadflow.playbook.load import load_playbook
from leadflow.playbook.schema import Playbook
from leadflow.services.cadence_jobs import CLEANUP_JOB
from leadflow.services.jobs import run_once
from leadflow.services.sequences import (
    NO_RESPONSE_JOB,
    create_sequence,
    enroll,
    handle_engagement_event,
    mark_inactive,
)
from leadflow.services.subscriptions import opt_out
from leadflow.store.db import Store
from leadflow.store.models import Activity, EngagementEvent, FieldHistory, Lead, SequenceEnrollment

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)
SDR = Actor.user("sdr1")
LEGACY = Path(__file__).resolve().parents[2] / "playbooks" / "gitlab-legacy.yaml"


def _world(store: Store, pb: Playbook, *leads: Lead, steps: int = 3) -> str:
    """An SDR, the leads (owned by the SDR) and one sequence; returns the sequence id."""
    with store.uow() as uow:
        save(uow, T0, a_user(id="sdr1", role="SDR"), *leads)
    with store.uow() as uow:
        seq = create_sequence(uow, "High touch", [f"step {i}" for i in range(1, steps + 1)], SETUP, T0)
        uow.commit()
        return seq.id


def _lead(lead_id: str, status: str, **fields: Any) -> Lead:
    return a_lead(id=lead_id, status=status, owner_type="user", owner_id="sdr1", **fields)


def _event(store: Store, pb: Playbook, kind: str, person: str, seq: str | None, at: dt.datetime,
           **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": kind, "person_id": person, "occurred_at": at.isoformat(), **extra}
    if seq is not None:
        payload["sequence_id"] = seq
    return handle_engagement_event(store, pb, payload, at)


def _status_history(store: Store, lead_id: str) -> list[tuple[Any, Any, str | None]]:
    with store.uow() as uow:
        rows = uow.session.scalars(select(FieldHistory).where(
            FieldHistory.entity_id == lead_id, FieldHistory.field == "status").order_by(FieldHistory.id))
        return [(r.old_value, r.new_value, r.rule) for r in rows]


@pytest.mark.parametrize("status", ["Raw", "Inquiry", "MQL"])
def test_W1_first_step_completed_moves_the_lead_to_accepted_by_its_rule(
    store: Store, playbook: Playbook, status: str
) -> None:
    seq = _world(store, playbook, _lead("l1", status))
    with store.uow() as uow:
        enroll(uow, playbook, uow.get(Lead, "l1"), seq, SDR, T0)
        uow.commit()
    outcome = _event(store, playbook, "step_completed", "l1", seq, T0 + DAY, step=1)
    assert outcome["status"] == "Accepted"
    assert outcome["rules"][0] == {"rule": "w1-first-step-accepted", "fires": True, "why": f"{status} -> Accepted"}
    assert _status_history(store, "l1") == [(status, "Accepted", "w1-first-step-accepted")]
    with store.uow() as uow:
        enrollment = uow.session.scalars(select(SequenceEnrollment)).one()
        assert (enrollment.current_step, enrollment.state) == (1, "active")
        lead = uow.get(Lead, "l1")
        assert (lead.owner_type, lead.owner_id) == ("user", "sdr1")  # the SDR keeps working it


def test_W1_a_later_step_does_not_move_the_lead(store: Store, playbook: Playbook) -> None:
    seq = _world(store, playbook, _lead("l1", "MQL"))
    outcome = _event(store, playbook, "step_completed", "l1", seq, T0 + DAY, step=2)
    assert outcome["status"] == "MQL" and outcome["rules"][0]["fires"] is False
    assert _status_history(store, "l1") == []


def test_W1_an_email_reply_moves_accepted_to_qualifying(store: Store, playbook: Playbook) -> None:
    seq = _world(store, playbook, _lead("l1", "Accepted"))
    outcome = _event(store, playbook, "email_replied", "l1", seq, T0 + DAY)
    assert outcome["status"] == "Qualifying"
    assert _status_history(store, "l1") == [("Accepted", "Qualifying", "w1-reply-qualifying")]


def test_W1_finished_without_reply_goes_to_recycle_no_response_seven_days_later(
    store: Store, playbook: Playbook
) -> None:
    seq = _world(store, playbook, _lead("l1", "MQL"))
    _event(store, playbook, "step_completed", "l1", seq, T0, step=1)
    finished = T0 + 2 * DAY
    outcome = _event(store, playbook, "sequence_finished", "l1", seq, finished)
    assert outcome["pending"]["rule"] == "w1-finished-no-response"
    assert outcome["status"] == "Accepted"  # nothing yet
    early = run_once(store, playbook, NO_RESPONSE_JOB, finished + 6 * DAY)
    assert "'moved': 0" in early
    summary = run_once(store, playbook, NO_RESPONSE_JOB, finished + 7 * DAY + dt.timedelta(hours=8))
    assert "'moved': 1" in summary
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.status_reason, lead.owner_id) == ("Recycle", "No response", "Recycle Queue")
        assert uow.session.scalars(select(EngagementEvent).where(EngagementEvent.type == "sequence_finished")
                                   ).one().settled_at is not None
    assert _status_history(store, "l1")[-1] == ("Accepted", "Recycle", "w1-finished-no-response")
    again = run_once(store, playbook, NO_RESPONSE_JOB, finished + 9 * DAY + dt.timedelta(hours=8))
    assert "'moved': 0" in again  # settled once; a later period does nothing twice


def test_W1_a_reply_after_the_finish_cancels_the_recycle(store: Store, playbook: Playbook) -> None:
    seq = _world(store, playbook, _lead("l1", "Accepted"))
    _event(store, playbook, "sequence_finished", "l1", seq, T0)
    _event(store, playbook, "email_replied", "l1", seq, T0 + 3 * DAY)
    summary = run_once(store, playbook, NO_RESPONSE_JOB, T0 + 8 * DAY)
    assert "'replied': 1" in summary and "'moved': 0" in summary
    with store.uow() as uow:
        assert uow.get(Lead, "l1").status == "Qualifying"


def test_W1_marking_a_person_inactive_finishes_their_running_sequences(store: Store, playbook: Playbook) -> None:
    seq = _world(store, playbook, _lead("l1", "Accepted"), _lead("l2", "Accepted"))
    with store.uow() as uow:
        other = create_sequence(uow, "Low touch", ["one"], SETUP, T0)
        for lead_id in ("l1", "l2"):
            enroll(uow, playbook, uow.get(Lead, lead_id), seq, SDR, T0)
        enroll(uow, playbook, uow.get(Lead, "l1"), other.id, SDR, T0)
        uow.commit()
    outcome = _event(store, playbook, "person_inactive", "l1", None, T0 + DAY)
    assert outcome["rules"][0]["rule"] == "w1-inactive-finishes-sequences"
    assert len(outcome["rules"][0]["finished"]) == 2
    with store.uow() as uow:
        states = {(e.subject_id, e.state) for e in uow.session.scalars(select(SequenceEnrollment))}
        assert states == {("l1", "finished"), ("l2", "active")}
        assert uow.get(Lead, "l1").inactive is True
        row = uow.session.scalars(select(FieldHistory).where(FieldHistory.field == "inactive")).one()
        assert row.rule == "w1-inactive-finishes-sequences"
        with pytest.raises(InvalidInput) as exc:
            enroll(uow, playbook, uow.get(Lead, "l1"), seq, SDR, T0 + 2 * DAY)
        assert exc.value.field == "person_id"


def test_W1_the_inactive_checkbox_by_hand_does_the_same(store: Store, playbook: Playbook) -> None:
    seq = _world(store, playbook, _lead("l1", "Accepted"))
    with store.uow() as uow:
        enroll(uow, playbook, uow.get(Lead, "l1"), seq, SDR, T0)
        mark_inactive(uow, playbook, uow.get(Lead, "l1"), SDR, T0 + DAY)
        uow.commit()
    with store.uow() as uow:
        assert uow.session.scalars(select(SequenceEnrollment.state)).one() == "finished"


def test_W1_the_same_delivery_twice_changes_nothing(store: Store, playbook: Playbook) -> None:
    seq = _world(store, playbook, _lead("l1", "MQL"))
    first = _event(store, playbook, "step_completed", "l1", seq, T0, step=1, event_id="evt-1")
    second = _event(store, playbook, "step_completed", "l1", seq, T0, step=1, event_id="evt-1")
    assert first["duplicate"] is False and second["duplicate"] is True
    with store.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(EngagementEvent)) == 1
        assert uow.session.scalar(select(func.count()).select_from(Activity)) == 1


def test_W1_an_event_by_email_finds_the_person(store: Store, playbook: Playbook) -> None:
    seq = _world(store, playbook, _lead("l1", "Inquiry", email="grace@example.org"))
    outcome = handle_engagement_event(store, playbook, {
        "type": "step_completed", "email": "Grace@Example.org", "sequence_id": seq, "step": 1}, T0)
    assert outcome["person"] == {"type": "lead", "id": "l1"} and outcome["status"] == "Accepted"


@pytest.mark.parametrize(("payload", "field"), [
    ({"type": "step_completed", "person_id": "l1", "sequence_id": "S"}, "step"),
    ({"type": "clicked", "person_id": "l1"}, "type"),
    ({"type": "email_replied", "person_id": "l1"}, "sequence_id"),
    ({"type": "step_completed", "person_id": "l1", "sequence_id": "S", "step": 9}, "step"),
    ({"type": "email_replied", "person_id": "l1", "sequence_id": "S", "colour": "red"}, "colour"),
])
def test_W1_a_bad_event_is_refused_naming_its_field_and_changes_nothing(
    store: Store, playbook: Playbook, payload: dict[str, Any], field: str
) -> None:
    seq = _world(store, playbook, _lead("l1", "MQL"))
    body = {k: (seq if v == "S" else v) for k, v in payload.items()}
    with pytest.raises(InvalidInput) as exc:
        handle_engagement_event(store, playbook, body, T0)
    assert exc.value.field is not None and field in exc.value.field
    with pytest.raises(NotFound) as missing:
        handle_engagement_event(store, playbook, {"type": "person_inactive", "person_id": "nobody"}, T0)
    assert missing.value.field == "person_id"
    with store.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(EngagementEvent)) == 0
        assert uow.session.scalar(select(func.count()).select_from(SequenceEnrollment)) == 0
        assert uow.get(Lead, "l1").status == "MQL"


def test_W1_W6_an_opted_out_person_is_not_enrolled(store: Store, playbook: Playbook) -> None:
    seq = _world(store, playbook, _lead("l1", "MQL"))
    with store.uow() as uow:
        opt_out(uow, playbook, uow.get(Lead, "l1"), SDR, T0)
        uow.commit()
    with store.uow() as uow:
        with pytest.raises(InvalidInput, match="opted out") as exc:
            enroll(uow, playbook, uow.get(Lead, "l1"), seq, SDR, T0)
        assert exc.value.field == "person_id"


def test_W1_W7_in_the_legacy_playbook_each_step_is_the_next_attempt(store: Store) -> None:
    legacy = load_playbook(LEGACY)
    seq = _world(store, legacy, _lead("l1", "Open"))
    for step in (1, 2, 3):
        _event(store, legacy, "step_completed", "l1", seq, T0 + step * DAY, step=step)
    outcome = _event(store, legacy, "email_replied", "l1", seq, T0 + 5 * DAY)
    assert outcome["status"] == "Progressing"
    assert [h[1] for h in _status_history(store, "l1")] == ["Attempt 1", "Attempt 2", "Attempt 3", "Progressing"]


# --------------------------------------------------------------------------- W2


def test_W2_inquiry_leads_not_in_an_active_sequence_go_to_the_inquiry_queue(store: Store, playbook: Playbook) -> None:
    seq = _world(store, playbook, _lead("worked", "Inquiry"), _lead("idle", "Inquiry"), _lead("mql", "MQL"),
                 _lead("done", "Inquiry"))
    with store.uow() as uow:
        enroll(uow, playbook, uow.get(Lead, "worked"), seq, SDR, T0)
        enroll(uow, playbook, uow.get(Lead, "done"), seq, SDR, T0)
        uow.commit()
    _event(store, playbook, "sequence_finished", "done", seq, T0 + DAY)
    run_at = dt.datetime(2026, 3, 3, 3, 30, tzinfo=UTC)  # 22:30 EST on Monday 2 March
    summary = run_once(store, playbook, CLEANUP_JOB, run_at)
    assert "period 2026-03-02" in summary and "'Inquiry': 2" in summary
    with store.uow() as uow:
        owners = {lead.id: (lead.owner_type, lead.owner_id) for lead in uow.session.scalars(select(Lead))}
        assert owners == {"worked": ("user", "sdr1"), "idle": ("queue", "Inquiry Queue"),
                          "done": ("queue", "Inquiry Queue"), "mql": ("user", "sdr1")}
        rules = {r.rule for r in uow.session.scalars(select(FieldHistory).where(FieldHistory.entity_id == "idle",
                                                                                 FieldHistory.field == "owner_id"))}
        assert rules == {"w2-inquiry-cleanup"}
    assert "already ran" in run_once(store, playbook, CLEANUP_JOB, run_at + dt.timedelta(hours=2))


def test_W2_the_cleanup_runs_at_2230_new_york_time_across_the_dst_change(store: Store, playbook: Playbook) -> None:
    _world(store, playbook, _lead("idle", "Inquiry"))
    # Sunday 8 March 2026 US clocks go forward: 22:30 is 03:30 UTC before, 02:30 UTC after.
    assert "period 2026-03-06" in run_once(store, playbook, CLEANUP_JOB, dt.datetime(2026, 3, 8, 3, 29, tzinfo=UTC))
    assert "period 2026-03-07" in run_once(store, playbook, CLEANUP_JOB, dt.datetime(2026, 3, 8, 3, 30, tzinfo=UTC))
    assert "period 2026-03-08" in run_once(store, playbook, CLEANUP_JOB, dt.datetime(2026, 3, 9, 2, 30, tzinfo=UTC))


def test_W1_a_queue_owned_lead_goes_to_the_user_who_ran_the_first_step(store: Store, playbook: Playbook) -> None:
    seq = _world(store, playbook, a_lead(id="l1", status="Inquiry", owner_type="queue", owner_id="Inquiry Queue"))
    outcome = _event(store, playbook, "step_completed", "l1", seq, T0, step=1, actor_id="sdr1")
    assert outcome["rules"][0]["owner"] == "sdr1" and outcome["status"] == "Accepted"
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.owner_type, lead.owner_id) == ("user", "sdr1")
        rules = {h.field: h.rule for h in uow.session.scalars(select(FieldHistory).where(
            FieldHistory.entity_id == "l1", FieldHistory.field.in_(("owner_id", "status"))))}
        assert rules == {"owner_id": "w1-first-step-accepted", "status": "w1-first-step-accepted"}
