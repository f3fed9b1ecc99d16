"""W6 on a real store: opt-out and the 30-day opt-out that ends by itself, the newsletter and security-notice lists,
and the one gate every email to a person goes through (opted-out people get operational email only)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from builders import a_lead, save
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.jobs import run_once
from leadflow.services.subscriptions import (
    EMAIL_EVENT,
    OPT_OUT_END_JOB,
    may_send,
    opt_in,
    opt_out,
    queue_email,
    send_to_list,
    subscribe,
    unsubscribe,
)
from leadflow.store.db import Store
from leadflow.store.models import FieldHistory, Lead, OutboxEvent

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)
OPS = Actor.user("ops")


def _emails(store: Store) -> list[OutboxEvent]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == EMAIL_EVENT)
                                        .order_by(OutboxEvent.id)))


def test_W6_an_opted_out_lead_gets_operational_email_only(store: Store, playbook: Playbook) -> None:
    with store.uow() as uow:
        save(uow, T0, a_lead(id="l1", email="ada@example.org"))
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        opt_out(uow, playbook, lead, OPS, T0)
        with uow.changing(actor=OPS, now=T0, rule="test-send"):
            marketing, none = queue_email(uow, playbook, lead, "marketing", {"subject": "Spring webinar"}, T0)
            receipt, row = queue_email(uow, playbook, lead, "purchase_receipt", {"subject": "Your licence"}, T0)
        uow.commit()
    assert not marketing.allowed and none is None
    assert receipt.allowed and row is not None
    (email,) = _emails(store)
    assert email.payload["kind"] == "purchase_receipt" and email.payload["operational"] is True
    with store.uow() as uow:
        (h,) = uow.session.scalars(select(FieldHistory).where(FieldHistory.field == "opt_out"))
        assert (h.old_value, h.new_value, h.rule) == (False, True, "w6-opt-out")


def test_W6_the_30_day_opt_out_ends_by_itself(store: Store, playbook: Playbook) -> None:
    with store.uow() as uow:
        save(uow, T0, a_lead(id="l1", email="ada@example.org"), a_lead(id="l2", email="bob@example.org"))
    with store.uow() as uow:
        opt_out(uow, playbook, uow.get(Lead, "l1"), OPS, T0, temporary=True)
        uow.commit()
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert lead.opt_out is False and lead.opt_out_until == T0 + 30 * DAY
        assert not may_send(uow, playbook, lead, "marketing", T0 + 10 * DAY).allowed
    run_at = dt.datetime(2026, 4, 2, 8, 0, tzinfo=UTC)  # 01:00 in Los Angeles, the first run after the 30 days
    assert "'ended': 0" in run_once(store, playbook, OPT_OUT_END_JOB, run_at - DAY)
    assert "'ended': 1" in run_once(store, playbook, OPT_OUT_END_JOB, run_at)
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert lead.opt_out_until is None
        assert may_send(uow, playbook, lead, "marketing", run_at).allowed
        (h,) = uow.session.scalars(select(FieldHistory).where(FieldHistory.field == "opt_out_until",
                                                              FieldHistory.rule == "w6-30-day-opt-out-end"))
        assert h.new_value is None
    assert "already ran" in run_once(store, playbook, OPT_OUT_END_JOB, run_at + dt.timedelta(hours=1))


def test_W6_a_newsletter_goes_to_list_members_who_have_not_opted_out(store: Store, playbook: Playbook) -> None:
    with store.uow() as uow:
        save(uow, T0, a_lead(id="l1", email="ada@example.org"), a_lead(id="l2", email="bob@example.org"),
             a_lead(id="l3", email="cy@example.org"))
    with store.uow() as uow:
        for email in ("ada@example.org", "Bob@Example.org", "cy@example.org", "dee@example.org"):
            subscribe(uow, playbook, email, "newsletter", T0)
        subscribe(uow, playbook, "eve@example.org", "security-notices", T0)
        unsubscribe(uow, playbook, "cy@example.org", "newsletter", T0 + DAY)
        opt_out(uow, playbook, uow.get(Lead, "l2"), OPS, T0 + DAY)
        uow.commit()
    with store.uow() as uow:
        result = send_to_list(uow, playbook, "newsletter", "newsletter", {"issue": "March"}, OPS, T0 + 2 * DAY)
        uow.commit()
    assert result["sent"] == ["ada@example.org", "dee@example.org"]  # dee: a subscriber with no lead
    assert list(result["withheld"]) == ["bob@example.org"]
    assert [e.payload["to"] for e in _emails(store)] == ["ada@example.org", "dee@example.org"]
    assert all(e.payload["operational"] is False for e in _emails(store))


def test_W6_opt_in_and_unknown_lists_or_kinds(store: Store, playbook: Playbook) -> None:
    with store.uow() as uow:
        save(uow, T0, a_lead(id="l1", email="ada@example.org"))
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        opt_out(uow, playbook, lead, OPS, T0)
        opt_in(uow, lead, OPS, T0 + DAY)
        assert may_send(uow, playbook, lead, "marketing", T0 + DAY).allowed
        with pytest.raises(InvalidInput) as bad_list:
            subscribe(uow, playbook, "ada@example.org", "gossip", T0)
        assert bad_list.value.field == "list"
        with pytest.raises(InvalidInput) as bad_kind:
            may_send(uow, playbook, lead, "cold_blast", T0)
        assert bad_kind.value.field == "kind"
