"""M3 merges and the I8 adoption alert, on both stores."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from builders import SETUP, a_lead, a_user, an_account, save
from leadflow.cli import app
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.accounts import change_owner
from leadflow.services.merge import NOT_MERGED, history_with_merged, merge
from leadflow.store.db import Store
from leadflow.store.models import Activity, Campaign, CampaignMember, Contact, Lead, OutboxEvent
from leadflow.store.uow import replay, snapshot

ANA = Actor.user("ana")
DAY = dt.timedelta(days=1)


def _two_leads(store: Store, now: dt.datetime) -> None:
    old = a_lead(id="old", email="jane@acme.example", title="Engineer", initial_source="Webcast",
                 initial_source_at=now - 30 * DAY, score=40, status="MQL", owner_type="user", owner_id="ana",
                 mql_date=now - 20 * DAY)
    new = a_lead(id="new", email="jane.doe@acme.example", title=None, phone="+4930123456",
                 initial_source="Contact Us", initial_source_at=now - 2 * DAY, score=95, opt_out=True,
                 bad_data_reasons=["Bounced email"], status="Inquiry")
    with store.uow() as uow:
        save(uow, now - 30 * DAY, a_user(id="ana"), old)
    with store.uow() as uow:
        save(uow, now - 2 * DAY, new)


def test_M3_lead_into_lead_keeps_oldest_initial_source_and_newest_values(store: Store, playbook: Playbook,
                                                                         now: dt.datetime) -> None:
    _two_leads(store, now)
    with store.uow() as uow:
        old, new = uow.get(Lead, "old"), uow.get(Lead, "new")
        with uow.changing(actor=ANA, now=now - DAY):
            old.title = "Engineering Manager"
        result = merge(uow, playbook, new, old, ANA, now)
        uow.commit()
    assert (result.survivor_id, result.merged_id) == ("new", "old")
    with store.uow() as uow:
        survivor, gone = uow.get(Lead, "new"), uow.get(Lead, "old")
        assert survivor.initial_source == "Webcast"  # the oldest first touch (D6)
        assert survivor.initial_source_at == now - 30 * DAY
        assert survivor.title == "Engineering Manager"  # the only non-empty value
        assert survivor.email == "jane.doe@acme.example"  # set more recently than the old one
        assert survivor.phone == "+4930123456"
        assert survivor.score == 95 and survivor.opt_out is True  # max, any true
        assert survivor.mql_date == now - 20 * DAY  # oldest non-empty
        assert survivor.status == "Inquiry"  # the survivor's status stands
        assert survivor.bad_data_reasons == ["Bounced email"]
        assert (gone.merged_into_type, gone.merged_into_id) == ("lead", "new")
        assert gone.email == "jane@acme.example"  # the merged record is kept, only pointed away


def test_M3_every_choice_is_in_history_and_both_histories_are_kept(store: Store, playbook: Playbook,
                                                                   now: dt.datetime) -> None:
    _two_leads(store, now)
    with store.uow() as uow:
        merge(uow, playbook, uow.get(Lead, "new"), uow.get(Lead, "old"), ANA, now)
        uow.commit()
    with store.uow() as uow:
        survivor = uow.get(Lead, "new")
        own = uow.history("lead", "new")
        by_field = {h.field: h for h in own if h.changed_at == now}
        assert by_field["initial_source"].rule == "merge:oldest"
        assert by_field["initial_source"].old_value == "Contact Us"
        assert "lead:old" in (by_field["initial_source"].why or "")
        assert by_field["(merged)"].new_value == {"type": "lead", "id": "old"}
        assert replay([h for h in own if h.field != "(merged)"]) == snapshot(survivor)
        combined = history_with_merged(uow, survivor)
        assert {h.entity_id for h in combined} == {"new", "old"}
        assert replay(uow.history("lead", "old")) == snapshot(uow.get(Lead, "old"))


def test_M3_related_records_follow_the_person(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    _two_leads(store, now)
    with store.uow() as uow:
        with uow.changing(actor=SETUP, now=now):
            campaign = uow.add(Campaign(name="Webinar", created_at=now))
            uow.add(Activity(subject_type="lead", subject_id="old", type="webcast", at=now - 29 * DAY))
        with uow.changing(actor=SETUP, now=now):
            uow.add(CampaignMember(campaign_id=campaign.id, subject_type="lead", subject_id="old", added_at=now))
            uow.add(CampaignMember(campaign_id=campaign.id, subject_type="lead", subject_id="new", added_at=now))
        merge(uow, playbook, uow.get(Lead, "new"), uow.get(Lead, "old"), ANA, now)
        uow.commit()
    with store.uow() as uow:
        activities = uow.session.scalars(select(Activity)).all()
        assert [(a.subject_type, a.subject_id) for a in activities] == [("lead", "new")]
        members = uow.session.scalars(select(CampaignMember)).all()
        assert [(m.subject_type, m.subject_id) for m in members] == [("lead", "new")]


def test_M3_lead_into_contact_the_contact_survives(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now - 10 * DAY, an_account(id="acme", type="Customer"),
             Contact(id="c1", last_name="Doe", email="jane@acme.example", account_id="acme", status="Qualified",
                     initial_source="Web Direct", initial_source_at=now - 10 * DAY))
    with store.uow() as uow:
        save(uow, now - DAY, a_lead(id="l1", last_name="Doe", email="jane@acme.example", title="CTO",
                                    initial_source="Trial - Enterprise", initial_source_at=now - DAY))
    with store.uow() as uow:
        result = merge(uow, playbook, uow.get(Lead, "l1"), uow.get(Contact, "c1"), ANA, now)
        uow.commit()
    assert (result.survivor_type, result.survivor_id) == ("contact", "c1")
    with store.uow() as uow:
        contact = uow.get(Contact, "c1")
        assert contact.title == "CTO" and contact.initial_source == "Web Direct"
        assert contact.account_id == "acme" and contact.status == "Qualified"
        assert uow.get(Lead, "l1").merged_into_type == "contact"


def test_M3_refusals_change_nothing(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    _two_leads(store, now)
    with store.uow() as uow:
        with pytest.raises(InvalidInput):
            merge(uow, playbook, uow.get(Lead, "new"), uow.get(Lead, "new"), ANA, now)
        merge(uow, playbook, uow.get(Lead, "new"), uow.get(Lead, "old"), ANA, now)
        uow.commit()
    with store.uow() as uow, pytest.raises(InvalidInput) as refused:
        merge(uow, playbook, uow.get(Lead, "new"), uow.get(Lead, "old"), ANA, now)
    assert "already merged" in refused.value.message


def test_M3_merge_rules_name_real_fields(playbook: Playbook) -> None:
    columns = {c.key for c in Lead.__table__.columns}
    assert set(playbook.merge.fields) <= columns - NOT_MERGED


def test_M3_cli_merge_prints_the_choices(store: Store, now: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    _two_leads(store, now)
    result = CliRunner().invoke(app, ["merge", "new", "old", "--now", now.isoformat()], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "merged into lead new" in result.output and "initial_source" in result.output
    missing = CliRunner().invoke(app, ["merge", "new", "nope"])
    assert missing.exit_code == 2 and "no lead or contact with id 'nope'" in missing.output


def test_I8_adopting_a_sales_admin_account_alerts_research(store: Store, playbook: Playbook,
                                                           now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="sales-admin", role="Sales Admin"), a_user(id="ae1", role="AE"),
             a_user(id="account-research", role="Ops"),
             an_account(id="ce", type="Prospect - CE User", owner_id="sales-admin"),
             an_account(id="other", type="Prospect", owner_id="ae1"))
    with store.uow() as uow:
        change_owner(uow, playbook, uow.get(type(an_account()), "ce"), "ae1", ANA, now)
        change_owner(uow, playbook, uow.get(type(an_account()), "other"), "sales-admin", ANA, now)
        uow.commit()
    with store.uow() as uow:
        events = uow.session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "account.adopted")).all()
        assert [e.entity_id for e in events] == ["ce"]
        assert events[0].payload["notify"] == ["account-research"]
        rules = {h.rule for h in uow.history("account", "ce") if h.field == "owner_id"}
        assert rules == {"account-adoption"}


def test_M3_derived_columns_follow_the_merged_values_and_are_never_chosen_on_their_own(
    store: Store, playbook: Playbook, now: dt.datetime
) -> None:
    """The columns the unit of work derives (same-company key, name initials, address and number keys)
    follow the fields the merge chose, whichever record each came from; no choice names them."""
    from leadflow.domain.duplicates import name_initial
    from leadflow.domain.normalise import email_key, record_phone_key
    from leadflow.store.uow import company_key

    survivor = a_lead(id="s", first_name="Élodie", last_name="Martin", email="E.Martin@Initech.example",
                      company="Initech", country="France")
    merged = a_lead(id="m", first_name="Lodie", last_name="O'Brien", email="lodie@acme.example",
                    company="Acme Corp", phone="030 1234567", country="Germany")
    with store.uow() as uow:
        save(uow, now - 30 * DAY, survivor)
    with store.uow() as uow:
        save(uow, now - 2 * DAY, merged)
    with store.uow() as uow:
        result = merge(uow, playbook, uow.get(Lead, "s"), uow.get(Lead, "m"), ANA, now)
        uow.commit()
    derived = {"company_key", "first_initial", "last_initial", "email_key", "phone_key"}
    assert not derived & {c.field for c in result.choices}
    with store.uow() as uow:
        lead = uow.get(Lead, "s")
        assert lead.phone == "030 1234567"  # only the merged lead had one
        assert (lead.company_key, lead.first_initial, lead.last_initial, lead.email_key, lead.phone_key) == (
            company_key(lead.company), name_initial(lead.first_name), name_initial(lead.last_name),
            email_key(lead.email), record_phone_key(lead.phone, lead.country))
