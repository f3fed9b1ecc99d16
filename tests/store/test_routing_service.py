"""The routing service on both stores (R1-R3, R9, R10, R13, S3, W3, I6): a lead taken in through the intake
is routed by the playbook's flow; the owner is written with history naming the rule, the decision is stored
with its trace, the new owner is notified through the outbox, and round-robin turns are spread fairly.
"""

from __future__ import annotations

import collections
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, select

from builders import a_lead, a_user, an_account, save
from leadflow.domain.records import Actor
from leadflow.playbook.schema import Playbook
from leadflow.services.explain import explain_lead
from leadflow.services.intake import IntakeEnv, IntakeResult, intake
from leadflow.services.intake_models import parse_lead
from leadflow.services.routing import route_lead
from leadflow.store.db import Store
from leadflow.store.models import FieldHistory, Lead, OutboxEvent, RoundRobinCredit, RoutingDecision

WEBHOOK = Actor.system("webhook")


def take(store: Store, pb: Playbook, now: dt.datetime, **payload: Any) -> IntakeResult:
    values: dict[str, Any] = {"channel": "contact_us", "first_name": "Jo", "country": "Netherlands", "score": 95}
    values.update(payload)
    with store.uow() as uow:
        result = intake(uow, IntakeEnv(uow, pb), parse_lead(values), WEBHOOK, now)
        uow.commit()
    return result


def contact_us(store: Store, pb: Playbook, now: dt.datetime, n: int, **payload: Any) -> IntakeResult:
    """The n-th Contact Us from a different small company (no account, segment Unknown: the BDR pool)."""
    return take(store, pb, now, email=f"person{n}@company{n}.example", last_name=f"Person{n}",
                company=f"Company {n}", **payload)


def rows(store: Store, model: Any, *where: Any) -> list[Any]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(model).where(*where)))


def get_lead(store: Store, lead_id: str) -> Lead:
    with store.uow() as uow:
        return uow.get(Lead, lead_id)


def owners(store: Store) -> collections.Counter[str]:
    return collections.Counter(lead.owner_id for lead in rows(store, Lead))


@pytest.fixture
def team(store: Store, now: dt.datetime) -> None:
    """Sales Admin, two EMEA BDRs (one away, one gone besides), an EMEA SDR and an APAC BDR."""
    with store.uow() as uow:
        save(uow, now,
             a_user(id="sales-admin", role="Sales Admin", region="US East"),
             a_user(id="bdr-a", role="BDR", region="EMEA"),
             a_user(id="bdr-b", role="BDR", region="EMEA"),
             a_user(id="bdr-away", role="BDR", region="EMEA", out_of_office=True),
             a_user(id="bdr-gone", role="BDR", region="EMEA", active=False),
             a_user(id="sdr-emea", role="SDR", region="EMEA"),
             a_user(id="bdr-apac", role="BDR", region="APAC"))


# --------------------------------------------------------------------------- R1, R13, W3: what a routing writes


def test_R13_routing_writes_owner_history_decision_and_outbox_in_one_change(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    result = contact_us(store, playbook, now, 1)
    routing = result.routing
    assert routing is not None and routing.routed and routing.rule == "contact-us-smb"
    lead = get_lead(store, result.subject_id or "")
    assert (lead.owner_type, lead.owner_id) == ("user", "bdr-a")
    assert lead.route_requested_at is None
    # W3: Monday 2026-03-02 15:00Z is 15:00 in London, so one business day later
    assert lead.sla_due_at == dt.datetime(2026, 3, 3, 15, 0, tzinfo=dt.UTC)
    history = [h for h in rows(store, FieldHistory, FieldHistory.entity_id == lead.id) if h.field == "owner_id"]
    assert history[-1].rule == "contact-us-smb"
    assert (history[-1].old_value, history[-1].new_value) == ("Inquiry Queue", "bdr-a")
    assert "pool inbound-bdr (EMEA)" in (history[-1].why or "") and "bdr-a" in (history[-1].why or "")
    decision = rows(store, RoutingDecision, RoutingDecision.lead_id == lead.id)[0]
    assert (decision.rule, decision.assign_kind, decision.pool_id, decision.pool_key) == (
        "contact-us-smb", "pool", "inbound-bdr", "EMEA")
    assert (decision.owner_type, decision.owner_id, decision.sla_due_at) == ("user", "bdr-a", lead.sla_due_at)
    assert [t["rule"] for t in decision.trace][-1] == "contact-us-smb"
    assert all(set(t) == {"rule", "matched", "why"} for t in decision.trace)
    assert [t["matched"] for t in decision.trace] == [False] * (len(decision.trace) - 1) + [True]
    assert decision.inputs["channel"] == "contact_us" and decision.inputs["region"] == "EMEA"
    assert decision.round_robin["chosen"] == "bdr-a"
    assert {tuple(s) for s in decision.round_robin["skipped"]} == {("bdr-away", "out of office"),
                                                                   ("bdr-gone", "inactive")}
    events = rows(store, OutboxEvent, OutboxEvent.event_type == "lead.routed")
    assert len(events) == 1
    assert events[0].entity_id == lead.id and events[0].payload["notify"] == ["bdr-a"]
    assert events[0].payload["owner"] == {"type": "user", "id": "bdr-a"}
    assert events[0].change_id == history[-1].change_id == decision.change_id
    assert any(s["step"] == "route" and s["rule"] == "contact-us-smb" for s in result.steps)


def test_R1_explain_shows_the_stored_decision(store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    result = contact_us(store, playbook, now, 1)
    with store.uow() as uow:
        shown = explain_lead(uow, result.subject_id or "")["routing"]
    assert shown["rule"] == "contact-us-smb" and shown["owner_id"] == "bdr-a"
    assert shown["trace"][0]["rule"] == "named-account"


def test_R13_a_rule_notify_list_is_alerted_with_the_new_owner(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    """R8: a named account's lead goes to the paired SDR; the SAL is notified too."""
    with store.uow() as uow:
        save(uow, now, a_user(id="sal-1", role="SAL", region="EMEA"),
             an_account(id="acme", name="Acme Shipping", website="acme-shipping.example", named=True,
                        owner_id="sal-1", sdr_assigned_id="sdr-emea", country="Denmark"))
    result = take(store, playbook, now, channel="content_download", email="mads@acme-shipping.example",
                  last_name="Holm", company="Acme Shipping")
    assert result.routing is not None and result.routing.rule == "named-account"
    assert get_lead(store, result.subject_id or "").owner_id == "sdr-emea"
    event_ = rows(store, OutboxEvent, OutboxEvent.event_type == "lead.routed")[0]
    assert event_.payload["notify"] == ["sdr-emea", "sal-1"]
    assert result.routing.sla_due is None  # content download: no SLA


# --------------------------------------------------------------------------- R9: round robin


def test_R9_round_robin_spreads_leads_evenly_by_weight(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    with store.uow() as uow, uow.changing(actor=WEBHOOK, now=now):
        uow.get(type(a_user()), "bdr-b").rr_weight = 2
        uow.commit()
    for n in range(30):
        contact_us(store, playbook, now + dt.timedelta(minutes=n), n)
    assert owners(store) == {"bdr-a": 10, "bdr-b": 20}
    # never two turns in a row to the lighter member: the smooth spread interleaves
    decided = rows(store, RoutingDecision)
    sequence = [d.owner_id for d in sorted(decided, key=lambda d: d.id)]
    assert all(not (x == y == "bdr-a") for x, y in zip(sequence, sequence[1:], strict=False))
    credits = {c.user_id: c for c in rows(store, RoundRobinCredit, RoundRobinCredit.pool_id == "inbound-bdr")}
    assert (credits["bdr-a"].assigned_total, credits["bdr-b"].assigned_total) == (10, 20)
    assert credits["bdr-away"].assigned_total == credits["bdr-gone"].assigned_total == 0


def test_R9_away_and_inactive_members_are_skipped_and_other_regions_left_alone(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    for n in range(12):
        contact_us(store, playbook, now, n)
    assert set(owners(store)) == {"bdr-a", "bdr-b"}
    assert owners(store)["bdr-a"] == owners(store)["bdr-b"] == 6


def test_R9_a_member_back_from_leave_rejoins_without_being_flooded(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    for n in range(6):
        contact_us(store, playbook, now, n)
    with store.uow() as uow, uow.changing(actor=WEBHOOK, now=now):
        uow.get(type(a_user()), "bdr-away").out_of_office = False
        uow.commit()
    for n in range(6, 12):
        contact_us(store, playbook, now, n)
    assert owners(store)["bdr-away"] == 2  # a third of the later six, not all of them


def test_R9_daily_capacity_is_respected_and_renews_the_next_day(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    with store.uow() as uow, uow.changing(actor=WEBHOOK, now=now):
        uow.get(type(a_user()), "bdr-a").rr_capacity_per_day = 2
        uow.commit()
    for n in range(6):
        contact_us(store, playbook, now, n)
    assert owners(store) == {"bdr-a": 2, "bdr-b": 4}
    skipped = rows(store, RoutingDecision)[-1].round_robin["skipped"]
    assert ["bdr-a", "at daily capacity 2/2"] in skipped
    for n in range(6, 8):
        contact_us(store, playbook, now + dt.timedelta(days=1), n)
    assert owners(store)["bdr-a"] == 3


def test_R9_weekly_capacity_is_respected(store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    with store.uow() as uow, uow.changing(actor=WEBHOOK, now=now):
        uow.get(type(a_user()), "bdr-a").rr_capacity_per_week = 1
        uow.get(type(a_user()), "bdr-b").rr_capacity_per_week = 1
        uow.commit()
    for n in range(3):
        contact_us(store, playbook, now + dt.timedelta(days=n), n)  # Mon, Tue, Wed of one week
    assert owners(store) == {"bdr-a": 1, "bdr-b": 1, "SDR Queue": 1}  # R10: the pool is full


def test_R9_a_turn_locks_the_pools_credit_rows(store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    """No two workers give the same turn: on PostgreSQL the credits are read with SELECT ... FOR UPDATE."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        contact_us(store, playbook, now, 1)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    credit_reads = [s for s in statements if "FROM round_robin_credits" in s and s.lstrip().startswith("SELECT")]
    assert credit_reads
    if store.engine.dialect.name == "postgresql":
        assert all("FOR UPDATE" in s for s in credit_reads)


# --------------------------------------------------------------------------- R3: the company's leads together


def test_R3_both_leads_go_to_the_owner_of_the_earliest_mql(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    with store.uow() as uow:
        save(uow, now,
             a_lead(id="early", email="dana@pinecrest.example", domain="pinecrest.example", company="Pinecrest",
                    status="MQL", mql_date=now - dt.timedelta(days=50), owner_type="user", owner_id="bdr-b"),
             a_lead(id="later", email="omar@pinecrest.example", domain="pinecrest.example", company="Pinecrest",
                    status="MQL", mql_date=now - dt.timedelta(days=10), owner_type="user", owner_id="bdr-a"))
    result = take(store, playbook, now, channel="content_download", email="kim@pinecrest.example",
                  last_name="Lee", company="Pinecrest")
    assert result.routing is not None
    assert (result.routing.rule, result.routing.moved) == ("same-company-mql", ["later"])
    assert get_lead(store, result.subject_id or "").owner_id == "bdr-b"
    assert get_lead(store, "later").owner_id == "bdr-b"
    assert get_lead(store, "early").owner_id == "bdr-b"
    moved = [h for h in rows(store, FieldHistory, FieldHistory.entity_id == "later") if h.field == "owner_id"]
    assert (moved[-1].old_value, moved[-1].new_value, moved[-1].rule) == ("bdr-a", "bdr-b", "same-company-mql")
    assert "earliest MQL" in (moved[-1].why or "")
    notified = {e.entity_id for e in rows(store, OutboxEvent, OutboxEvent.event_type == "lead.routed")}
    assert notified == {result.subject_id, "later"}
    assert len(rows(store, RoutingDecision, RoutingDecision.lead_id == "later")) == 1


def test_R3_a_colleague_in_qualifying_takes_only_the_new_lead(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    with store.uow() as uow:
        save(uow, now,
             a_lead(id="worked", email="dana@pinecrest.example", domain="pinecrest.example", company="Pinecrest",
                    status="Qualifying", owner_type="user", owner_id="bdr-a"),
             a_lead(id="mql", email="omar@pinecrest.example", domain="pinecrest.example", company="Pinecrest",
                    status="MQL", mql_date=now - dt.timedelta(days=3), owner_type="user", owner_id="bdr-b"))
    result = take(store, playbook, now, channel="content_download", email="kim@pinecrest.example",
                  last_name="Lee", company="Pinecrest")
    assert result.routing is not None and result.routing.rule == "same-company-working"
    assert get_lead(store, result.subject_id or "").owner_id == "bdr-a"
    assert get_lead(store, "mql").owner_id == "bdr-b"


# --------------------------------------------------------------------------- S3, I6, R10: not routed / fall-backs


def test_S3_below_the_routing_threshold_nothing_is_routed_or_stored(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    result = contact_us(store, playbook, now, 1, channel="content_download", score=10)
    assert result.routing is not None and not result.routing.routed
    assert result.routing.rule == "routing-threshold"
    lead = get_lead(store, result.subject_id or "")
    assert (lead.status, lead.owner_id, lead.sla_due_at) == ("Inquiry", "Inquiry Queue", None)
    assert rows(store, RoutingDecision) == []
    assert rows(store, OutboxEvent, OutboxEvent.event_type == "lead.routed") == []


def test_I6_a_spam_lead_is_never_routed(store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    result = take(store, playbook, now, email="test.user@mailinator.com", last_name="User", company="Test")
    assert result.spam and result.routing is None
    lead = get_lead(store, result.subject_id or "")
    assert lead.owner_type == "queue" and rows(store, RoutingDecision) == []


def test_R10_without_a_region_the_default_owner_sales_admin_takes_it(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    result = take(store, playbook, now, country=None, email="x@nowhere.example", last_name="X", company="Nowhere")
    assert result.routing is not None and result.routing.rule == "not-enough-information"
    lead = get_lead(store, result.subject_id or "")
    assert (lead.owner_type, lead.owner_id) == ("user", "sales-admin")
    # W3 without a region: the owner's (US East) calendar - 10:00 New York, due Tuesday 10:00
    assert lead.sla_due_at == dt.datetime(2026, 3, 3, 15, 0, tzinfo=dt.UTC)


def test_R10_an_empty_pool_goes_to_the_sdr_queue(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    result = contact_us(store, playbook, now, 1, country="Brazil")
    assert result.routing is not None and result.routing.owner is not None
    assert str(result.routing.owner) == "queue:SDR Queue"
    assert "has no available member" in result.routing.why


def test_S3_a_lead_a_user_works_is_not_taken_away_by_a_new_touch(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    first = contact_us(store, playbook, now, 1)
    again = contact_us(store, playbook, now + dt.timedelta(hours=1), 1)
    assert again.subject_id == first.subject_id and again.routing is None
    assert get_lead(store, first.subject_id or "").owner_id == "bdr-a"
    assert len(rows(store, RoutingDecision)) == 1


def test_R1_route_lead_routes_a_stored_lead_on_demand(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l-apac", country="Japan", region="APAC", segment="SMB", channel="trial_saas",
                              score=40, status="Inquiry", owner_type="queue", owner_id="Inquiry Queue"))
    with store.uow() as uow:
        lead = uow.get(Lead, "l-apac")
        result = route_lead(uow, playbook, lead, WEBHOOK, now)
        uow.commit()
    assert (result.rule, str(result.owner)) == ("trial", "user:bdr-apac")
    assert get_lead(store, "l-apac").owner_id == "bdr-apac"


def test_L2_a_lead_that_left_the_funnel_waits_in_its_queue(
        store: Store, playbook: Playbook, now: dt.datetime, team: None) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="gone", email="a@recycled.example", status="Recycle", status_reason="Evaluating",
                              owner_type="queue", owner_id="Recycle Queue", country="Ireland"))
    result = take(store, playbook, now, email="a@recycled.example", last_name="A", company="Recycled")
    assert result.subject_id == "gone" and result.routing is None
    assert get_lead(store, "gone").owner_id == "Recycle Queue"
