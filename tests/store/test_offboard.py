"""Offboarding on both stores (L7): every branch of the playbook's table, idempotence, sequences."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from builders import a_lead, a_user, an_account, save
from leadflow.domain.records import Actor
from leadflow.playbook.schema import Playbook
from leadflow.services.offboard import deactivate_user
from leadflow.store.db import Store
from leadflow.store.models import (
    FieldHistory,
    Lead,
    OutboxEvent,
    RoutingDecision,
    Sequence,
    SequenceEnrollment,
    User,
)

ADMIN = Actor.user("admin")
BEFORE = dt.datetime(2022, 11, 5, 10, 0, tzinfo=dt.UTC)
AFTER = dt.datetime(2023, 2, 1, 9, 0, tzinfo=dt.UTC)


def _owned(lead_id: str, status: str, **fields: object) -> Lead:
    return a_lead(id=lead_id, status=status, owner_type="user", owner_id="gone", **fields)


@pytest.mark.parametrize(
    ("status", "reason", "rule", "to_status", "queue"),
    [
        ("Raw", None, "offboard-raw", "Raw", "Raw Queue"),
        ("Inquiry", None, "offboard-inquiry", "Inquiry", "Inquiry Queue"),
        ("Recycle", "No response", "offboard-recycle", "Recycle", "Recycle Queue"),
        ("Disqualified", "Bad data", "offboard-disqualified", "Disqualified", "Disqualified Queue"),
        ("Ineligible", None, "offboard-ineligible", "Ineligible", "Ineligible Queue"),
        ("Qualifying", None, "offboard-qualifying-qualified", "Qualifying", "Inactive User Queue"),
        ("Qualified", None, "offboard-qualifying-qualified", "Qualified", "Inactive User Queue"),
        ("Accepted", None, "offboard-accepted", "Recycle", "Recycle Queue"),
    ],
)
def test_L7_status_branches_go_to_their_queue(store: Store, playbook: Playbook, now: dt.datetime, status: str,
                                              reason: str | None, rule: str, to_status: str, queue: str) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="gone"), _owned("l1", status, status_reason=reason))
    with store.uow() as uow:
        report = deactivate_user(uow, playbook, "gone", ADMIN, now)
        uow.commit()
    assert report.by_rule == {rule: 1}
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.owner_type, lead.owner_id) == (to_status, "queue", queue)
        if status == "Accepted":
            assert lead.status_reason == "No response"
        changes = [h for h in uow.history("lead", "l1") if h.field in ("owner_id", "status")]
        assert changes and {h.rule for h in changes[-1:]} == {rule}
        assert [h.rule for h in changes if h.field == "owner_id"][-1] == rule
        assert uow.get(User, "gone").active is False


def test_L7_mql_before_cutoff_is_recycled(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="gone"), _owned("l1", "MQL", mql_date=BEFORE, region="EMEA"))
    with store.uow() as uow:
        report = deactivate_user(uow, playbook, "gone", ADMIN, now)
        uow.commit()
    assert report.by_rule == {"offboard-mql-before-cutoff": 1}
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.status_reason, lead.owner_id) == ("Recycle", "No response", "Recycle Queue")
        status_rows = [h for h in uow.history("lead", "l1") if h.field == "status"]
        assert status_rows[-1].rule == "offboard-mql-before-cutoff"


def test_L7_mql_after_cutoff_goes_to_bdr_assigned_of_an_actively_working_account(
        store: Store, playbook: Playbook, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="gone"), a_user(id="bdr1", region="AMER"),
             an_account(id="acc", bdr_assigned_id="bdr1", bdr_prospecting_status="Actively Working"),
             _owned("l1", "MQL", mql_date=AFTER, region="EMEA", matched_account_id="acc"))
    with store.uow() as uow:
        report = deactivate_user(uow, playbook, "gone", ADMIN, now)
        uow.commit()
    assert report.by_rule == {"offboard-mql-on-or-after-cutoff": 1}
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.owner_type, lead.owner_id) == ("MQL", "user", "bdr1")
        events = list(uow.session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "lead.reassigned")))
        assert [(e.entity_id, e.payload["owner"]["id"]) for e in events] == [("l1", "bdr1")]


@pytest.mark.parametrize("prospecting", ["Not Working", None])
def test_L7_mql_after_cutoff_otherwise_round_robin_of_the_region(
        store: Store, playbook: Playbook, now: dt.datetime, prospecting: str | None) -> None:
    with store.uow() as uow:
        save(uow, now,
             a_user(id="gone", role="BDR", region="EMEA"),
             a_user(id="emea1", role="BDR", region="EMEA"), a_user(id="emea2", role="BDR", region="EMEA"),
             a_user(id="amer1", role="BDR", region="AMER"), a_user(id="bdr1", region="EMEA", role="SDR"),
             an_account(id="acc", bdr_assigned_id="bdr1", bdr_prospecting_status=prospecting),
             _owned("l1", "MQL", mql_date=AFTER, region="EMEA", matched_account_id="acc"),
             _owned("l2", "MQL", mql_date=AFTER, region="EMEA"))
    with store.uow() as uow:
        report = deactivate_user(uow, playbook, "gone", ADMIN, now)
        uow.commit()
    assert report.by_rule == {"offboard-mql-on-or-after-cutoff": 2}
    with store.uow() as uow:
        owners = {uow.get(Lead, i).owner_id for i in ("l1", "l2")}
        assert owners == {"emea1", "emea2"}  # the region's inbound BDRs, an even spread; never "gone"



def test_L7_round_robin_turns_are_routing_decisions_counted_against_capacity(
        store: Store, playbook: Playbook, now: dt.datetime) -> None:
    """R9 capacity counts every turn a pool gave, offboarding's too: emea1 takes one lead a day."""
    with store.uow() as uow:
        save(uow, now,
             a_user(id="gone", role="BDR", region="EMEA"),
             a_user(id="emea1", role="BDR", region="EMEA", rr_capacity_per_day=1),
             a_user(id="emea2", role="BDR", region="EMEA"),
             *[_owned(f"c{i}", "MQL", mql_date=AFTER, region="EMEA") for i in range(4)])
    with store.uow() as uow:
        deactivate_user(uow, playbook, "gone", ADMIN, now)
        uow.commit()
    with store.uow() as uow:
        decisions = list(uow.session.scalars(select(RoutingDecision).order_by(RoutingDecision.id)))
        owners = [uow.get(Lead, f"c{i}").owner_id for i in range(4)]
    assert sorted(owners) == ["emea1", "emea2", "emea2", "emea2"]  # capacity 1 reached after one turn
    assert [(d.lead_id, d.assign_kind, d.owner_id) for d in decisions] == [
        (f"c{i}", "pool", owners[i]) for i in range(4)]
    assert all(d.rule == "offboard-mql-on-or-after-cutoff" and "gone" in (d.why or "") for d in decisions)

def test_L7_no_available_owner_falls_back_to_the_sdr_queue(store: Store, playbook: Playbook,
                                                           now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="gone", role="BDR", region="APAC"),
             _owned("l1", "MQL", mql_date=AFTER, region="APAC"))
    with store.uow() as uow:
        deactivate_user(uow, playbook, "gone", ADMIN, now)
        uow.commit()
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.owner_type, lead.owner_id) == ("queue", "SDR Queue")


def _count(store: Store, model: type) -> int:
    with store.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def test_L7_second_run_changes_nothing_and_sequences_are_finished(store: Store, playbook: Playbook,
                                                                   now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="gone"), a_user(id="other"), _owned("l1", "Raw"), _owned("l2", "Accepted"),
             _owned("l3", "MQL", mql_date=BEFORE))
        with uow.changing(actor=ADMIN, now=now):
            seq = uow.add(Sequence(name="Inbound"))
        with uow.changing(actor=ADMIN, now=now):
            uow.add(SequenceEnrollment(id="e1", sequence_id=seq.id, subject_type="lead", subject_id="l2",
                                       owner_id="gone", enrolled_at=now))
            uow.add(SequenceEnrollment(id="e2", sequence_id=seq.id, subject_type="lead", subject_id="lx",
                                       owner_id="other", enrolled_at=now))
        uow.commit()
    with store.uow() as uow:
        first = deactivate_user(uow, playbook, "gone", ADMIN, now)
        uow.commit()
    assert first.deactivated and first.sequences_finished == 1 and len(first.reassigned) == 3
    with store.uow() as uow:
        e1, e2 = uow.get(SequenceEnrollment, "e1"), uow.get(SequenceEnrollment, "e2")
        assert (e1.state, e1.finished_at is not None) == ("finished", True)
        assert e2.state == "active"
        assert uow.get(Lead, "l2").owner_id == "Recycle Queue"
    history, events = _count(store, FieldHistory), _count(store, OutboxEvent)
    with store.uow() as uow:
        second = deactivate_user(uow, playbook, "gone", ADMIN, now + dt.timedelta(hours=1))
        uow.commit()
    assert (second.deactivated, second.sequences_finished, second.reassigned) == (False, 0, [])
    assert (_count(store, FieldHistory), _count(store, OutboxEvent)) == (history, events)
