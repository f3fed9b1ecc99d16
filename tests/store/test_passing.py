"""W4 on a real store: passing a qualified lead to sales, and the reminder to the passer when the new owner does
nothing in the window."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from builders import a_lead, a_user, save
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput, InvalidTransition
from leadflow.playbook.schema import Playbook
from leadflow.services.jobs import run_once
from leadflow.services.passing import REMINDER_JOB, pass_lead, passes_of
from leadflow.services.sla_jobs import log_activity
from leadflow.store.db import Store
from leadflow.store.models import FieldHistory, Lead, LeadPass, OutboxEvent

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)
SDR = Actor.user("sdr")
REMIND_RUN = dt.datetime(2026, 3, 6, 14, 30, tzinfo=UTC)  # 09:30 New York, the first run after the 3 days


def _world(store: Store, status: str = "Qualifying") -> None:
    with store.uow() as uow:
        save(uow, T0, a_user(id="sdr", role="SDR"), a_user(id="ae", role="AE"), a_user(id="bdr", role="BDR"),
             a_lead(id="l1", status=status, owner_type="user", owner_id="sdr"))


def _pass(store: Store, pb: Playbook, **kw: object) -> LeadPass:
    with store.uow() as uow:
        row = pass_lead(uow, pb, uow.get(Lead, "l1"), "ae", SDR, T0, **kw)  # type: ignore[arg-type]
        uow.commit()
        return row


def _events(store: Store, kind: str) -> list[OutboxEvent]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == kind)))


def test_W4_passing_sets_qualified_assigns_the_sales_owner_and_notifies_them(store: Store, playbook: Playbook) -> None:
    _world(store)
    row = _pass(store, playbook, note="wants a demo of CI")
    assert row.remind_at == T0 + 3 * DAY and row.passed_by == "sdr"
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.owner_type, lead.owner_id) == ("Qualified", "user", "ae")
        history = {(h.field, h.rule) for h in uow.session.scalars(
            select(FieldHistory).where(FieldHistory.entity_id == "l1", FieldHistory.field.in_(("status", "owner_id"))))}
        assert history == {("status", "w4-pass-qualified"), ("owner_id", "w4-pass-qualified")}
        assert len(passes_of(uow, lead)) == 1
    (event,) = _events(store, "lead.passed")
    assert event.payload["notify"] == ["ae"] and event.payload["previous_owner"] == {"type": "user", "id": "sdr"}


def test_W4_a_pass_to_a_non_sales_role_or_from_a_forbidden_status_changes_nothing(
    store: Store, playbook: Playbook
) -> None:
    _world(store, status="Accepted")
    with store.uow() as uow:
        with pytest.raises(InvalidInput) as role:
            pass_lead(uow, playbook, uow.get(Lead, "l1"), "bdr", SDR, T0)
        assert role.value.field == "to"
        with pytest.raises(InvalidTransition):  # Accepted -> Qualified: no hand-off without a conversation
            pass_lead(uow, playbook, uow.get(Lead, "l1"), "ae", SDR, T0)
        with pytest.raises(InvalidInput) as window:
            pass_lead(uow, playbook, uow.get(Lead, "l1"), "ae", SDR, T0, window_days=10)
        assert window.value.field == "window_days"
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.owner_id) == ("Accepted", "sdr")
        assert uow.session.scalar(select(func.count()).select_from(LeadPass)) == 0


def test_W4_no_action_in_the_window_reminds_the_passer_once(store: Store, playbook: Playbook) -> None:
    _world(store)
    _pass(store, playbook)
    assert "'reminded': 0" in run_once(store, playbook, REMINDER_JOB, REMIND_RUN - DAY)
    assert "'reminded': 1" in run_once(store, playbook, REMINDER_JOB, REMIND_RUN)
    (event,) = _events(store, "lead.pass_reminder")
    assert event.payload["notify"] == ["sdr"] and "ae has taken no action on l1" in event.payload["why"]
    assert "'reminded': 0" in run_once(store, playbook, REMINDER_JOB, REMIND_RUN + DAY)
    assert len(_events(store, "lead.pass_reminder")) == 1


def test_W4_an_activity_by_the_new_owner_means_no_reminder(store: Store, playbook: Playbook) -> None:
    _world(store)
    _pass(store, playbook, window_days=1)
    with store.uow() as uow:
        log_activity(uow, playbook, uow.get(Lead, "l1"), "call", Actor.user("ae"), T0 + dt.timedelta(hours=5))
        uow.commit()
    assert "'acted': 1" in run_once(store, playbook, REMINDER_JOB, REMIND_RUN)
    assert _events(store, "lead.pass_reminder") == []
    with store.uow() as uow:
        assert uow.session.scalars(select(LeadPass)).one().acted_at == T0 + dt.timedelta(hours=5)
