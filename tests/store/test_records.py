"""D1-D6 on both stores: every record kind, owners, history, outbox and Initial Source."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from builders import SETUP, a_lead, a_user, an_account, save
from leadflow.domain.records import Actor
from leadflow.errors import InitialSourceLocked, NotFound, UnrecordedChange
from leadflow.store.db import Store
from leadflow.store.models import (
    Activity,
    Campaign,
    CampaignMember,
    Contact,
    FieldHistory,
    Lead,
    Opportunity,
    OutboxEvent,
    Queue,
    Sequence,
    SequenceEnrollment,
    Task,
)
from leadflow.store.uow import replay, snapshot

ANA = Actor.user("ana")


def test_D1_every_record_kind_is_stored_and_read_back(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        user = a_user(id="ana", role="SDR")
        parent = an_account(id="acme", name="Acme Holding", type="Customer")
        child = an_account(id="acme-de", name="Acme GmbH", parent_id="acme", type="Customer")
        lead = a_lead(id="l1", owner_type="user", owner_id="ana")
        contact = Contact(id="c1", last_name="Doe", account_id="acme", status="Raw", initial_source="Web")
        opp = Opportunity(id="o1", name="Acme-New", account_id="acme", type="New Business",
                          stage="00-Pre Opportunity", owner_id="ana")
        save(uow, now, user, parent, child, lead, contact, opp)
    with store.uow() as uow:
        with uow.changing(actor=SETUP, now=now):
            uow.add(Queue(id="Raw Queue"))
            uow.add(Activity(subject_type="lead", subject_id="l1", type="page_visit", at=now))
            campaign = uow.add(Campaign(name="SPAM DELETION", created_at=now))
            seq = uow.add(Sequence(name="Inbound 5 touch", steps=[{"kind": "email"}]))
        with uow.changing(actor=SETUP, now=now):
            uow.add(CampaignMember(campaign_id=campaign.id, subject_type="lead", subject_id="l1", added_at=now))
            uow.add(SequenceEnrollment(sequence_id=seq.id, subject_type="lead", subject_id="l1",
                                       owner_id="ana", enrolled_at=now))
            uow.add(Task(subject_type="lead", subject_id="l1", owner_id="ana", subject="Call", due_at=now))
        uow.commit()
    with store.uow() as uow:
        assert uow.get(Lead, "l1").owner_id == "ana"
        assert uow.get(Contact, "c1").account_id == "acme"
        assert uow.get(Opportunity, "o1").stage == "00-Pre Opportunity"
        assert uow.session.scalar(select(func.count()).select_from(Task)) == 1
        assert uow.session.scalar(select(func.count()).select_from(SequenceEnrollment)) == 1


def test_D1_owner_is_a_user_or_a_queue(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="ana"), a_lead(id="lu", owner_type="user", owner_id="ana"),
             a_lead(id="lq", owner_type="queue", owner_id="Inquiry Queue"))
    with store.uow() as uow:
        assert (uow.get(Lead, "lu").owner_type, uow.get(Lead, "lq").owner_type) == ("user", "queue")


def test_D2_user_has_role_region_team_manager_and_round_robin_fields(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        rd = a_user(id="rd", role="RD", region="EMEA")
        rep = a_user(id="rep", role="BDR", region="Public Sector", team="Public Sector", manager_id="rd",
                     segment="SMB", out_of_office=True, rr_weight=2, rr_capacity_per_day=20)
        save(uow, now, rd, rep)
    with store.uow() as uow:
        rep = uow.get(type(rd), "rep")
        assert (rep.team, rep.manager_id, rep.out_of_office, rep.rr_weight, rep.rr_capacity_per_day) == (
            "Public Sector", "rd", True, 2, 20)


def test_D3_account_keeps_counts_and_addresses_per_source(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        acc = an_account(
            id="acc", employees_datafox=2500, employees_zoominfo=1800, employees_linkedin=40,
            employees_admin_override=None, number_of_licenses=50, potential_ee_users_override=80,
            addresses={"datafox": {"country": "Germany", "city": "Berlin"}, "billing": {"country": "France"}},
            bdr_prospecting_status="Actively Working", named=True, public_sector=False,
            using_ce=True, active_ce_users=12, ce_instances=2, account_source="CE Download",
        )
        save(uow, now, acc)
    with store.uow() as uow:
        acc = uow.get(type(acc), "acc")
        assert acc.employees_datafox == 2500 and acc.employees_linkedin == 40
        assert acc.addresses["datafox"]["city"] == "Berlin"
        assert (acc.bdr_prospecting_status, acc.named, acc.active_ce_users) == ("Actively Working", True, 12)


def test_D4_lead_keeps_score_parts_and_bad_data_lists(store: Store, now: dt.datetime) -> None:
    parts = [{"rule": "contact-us", "points": 60, "at": now.isoformat()}]
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", score=60, score_parts=parts, bad_data_reasons=["Bounced email"],
                              mql_date=now, developers_bucket="101-750", how_many_developers=300))
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert lead.score_parts == parts and lead.bad_data_reasons == ["Bounced email"]
        assert lead.mql_date == now and lead.mql_date.tzinfo is not None


def test_D5_every_change_is_kept_with_actor_rule_and_reason(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", title="Engineer"))
    later = now + dt.timedelta(hours=2)
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        with uow.changing(actor=ANA, now=later, rule="title-cleanup", why="normalised title"):
            lead.title = "Engineering Manager"
        uow.commit()
    with store.uow() as uow:
        rows = uow.history("lead", "l1")
        assert rows[0].field == "(created)" and rows[0].actor_id == SETUP.id
        change = rows[-1]
        assert (change.field, change.old_value, change.new_value) == ("title", "Engineer", "Engineering Manager")
        assert (change.actor_type, change.actor_id, change.rule, change.why) == (
            "user", "ana", "title-cleanup", "normalised title")
        assert change.changed_at == later
        assert uow.get(Lead, "l1").updated_at == later


def test_D5_history_replays_to_the_stored_record(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1"))
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        for i, title in enumerate(["A", "B", None, "C"]):
            with uow.changing(actor=ANA, now=now + dt.timedelta(minutes=i)):
                lead.title = title
                lead.score = i * 10
        uow.commit()
    with store.uow() as uow:
        assert replay(uow.history("lead", "l1")) == snapshot(uow.get(Lead, "l1"))


def test_D5_a_write_outside_a_change_context_is_refused(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", title="Engineer"))
    with store.uow() as uow:
        uow.get(Lead, "l1").title = "Sneaky"
        with pytest.raises(UnrecordedChange):
            uow.session.flush()
    with store.uow() as uow:
        assert uow.get(Lead, "l1").title == "Engineer"


def test_D5_leaving_without_commit_rolls_back_record_history_and_outbox(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", title="Engineer"))
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        with uow.changing(actor=ANA, now=now):
            lead.title = "Changed"
            uow.emit("lead.changed", entity=lead, payload={"title": "Changed"})
        # no commit
    with store.uow() as uow:
        assert uow.get(Lead, "l1").title == "Engineer"
        assert len(uow.history("lead", "l1")) == 1
        assert uow.session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def test_D5_outbox_event_is_written_with_the_change(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1"))
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        with uow.changing(actor=ANA, now=now, rule="notify-owner") as ctx:
            lead.owner_type, lead.owner_id = "user", "ana"
            uow.emit("lead.assigned", entity=lead, payload={"owner": "ana"}, dedupe_key="assign:l1:1")
        uow.commit()
    with store.uow() as uow:
        event = uow.session.scalars(select(OutboxEvent)).one()
        assert (event.event_type, event.entity_id, event.payload, event.change_id) == (
            "lead.assigned", "l1", {"owner": "ana"}, ctx.change_id)
        owner_rows = uow.session.scalars(select(FieldHistory).where(FieldHistory.field == "owner_id")).all()
        assert [r.change_id for r in owner_rows] == [ctx.change_id]


def test_D5_deleting_a_tracked_record_is_recorded(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1"))
    with store.uow() as uow:
        with uow.changing(actor=ANA, now=now, rule="spam-deletion"):
            uow.session.delete(uow.get(Lead, "l1"))
        uow.commit()
    with store.uow() as uow:
        assert uow.history("lead", "l1")[-1].field == "(deleted)"
        with pytest.raises(NotFound):
            uow.get(Lead, "l1")


def test_D6_initial_source_is_never_overwritten(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", initial_source="Webcast", initial_source_at=now))
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        with pytest.raises(InitialSourceLocked) as refused, uow.changing(actor=ANA, now=now):
            lead.initial_source = "Contact Us"
            lead.initial_source_at = now + dt.timedelta(days=1)
        assert refused.value.field == "initial_source"
    with store.uow() as uow:
        assert uow.get(Lead, "l1").initial_source == "Webcast"


def test_D6_initial_source_set_once_when_empty(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", initial_source=None))
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        with uow.changing(actor=ANA, now=now):
            lead.initial_source, lead.initial_source_at = "Trial - Enterprise", now
        uow.commit()
    with store.uow() as uow:
        assert uow.get(Lead, "l1").initial_source == "Trial - Enterprise"


def test_D6_only_an_older_first_touch_may_replace_initial_source(store: Store, now: dt.datetime) -> None:
    """A merge (M3) keeps the oldest Initial Source: the only replacement D6 allows."""
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", initial_source="Webcast", initial_source_at=now))
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        with uow.changing(actor=ANA, now=now, rule="merge-keep-oldest-initial-source"):
            lead.initial_source, lead.initial_source_at = "Content", now - dt.timedelta(days=30)
        uow.commit()
    with store.uow() as uow:
        assert uow.get(Lead, "l1").initial_source == "Content"


def test_D5_naive_datetimes_are_refused(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow, pytest.raises(UnrecordedChange), uow.changing(actor=ANA, now=dt.datetime(2026, 1, 1)):
        pass
