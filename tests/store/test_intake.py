"""The intake pipeline on both stores, by requirement: I1, I2, I4-I8, M1, M2, M4, D5, D6.

Every test goes through `intake(uow, IntakeEnv(uow, pb), LeadIn, actor, now)` with an injected
`now` and asserts what was stored (or, for a refusal, that nothing was).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from builders import a_lead, a_user, an_account, save
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput, LeadflowError
from leadflow.playbook.schema import Playbook
from leadflow.services.intake import IntakeEnv, IntakeResult, Refused, extend_trial, intake
from leadflow.services.intake_models import parse_lead
from leadflow.services.jobs import run_once
from leadflow.services.spam import block_domain
from leadflow.store.db import Store
from leadflow.store.models import (
    Account,
    Activity,
    Campaign,
    CampaignMember,
    Contact,
    FieldHistory,
    Intake,
    JobRun,
    Lead,
    Opportunity,
    OutboxEvent,
    Subscription,
    Tombstone,
)

WEBHOOK = Actor.system("webhook")
TABLES = (Lead, Contact, Account, Intake, FieldHistory, OutboxEvent, Activity, Subscription, CampaignMember,
          Campaign)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def sales_admin(store: Store, now: dt.datetime) -> str:
    """The default owner (R10): the Sales Admin user `sales-admin`, plus a rep `ana`."""
    with store.uow() as uow:
        save(uow, now, a_user(id="sales-admin", name="Sales Admin", role="Sales Admin", region=None),
             a_user(id="ana", role="AE", region="EMEA"))
    return "sales-admin"


def take(store: Store, pb: Playbook, now: dt.datetime, **payload: Any) -> IntakeResult:
    """One intake, committed."""
    with store.uow() as uow:
        result = intake(uow, IntakeEnv(uow, pb), parse_lead(payload), WEBHOOK, now)
        uow.commit()
    return result


def refuse(store: Store, pb: Playbook, now: dt.datetime, error: type[Exception], **payload: Any) -> Exception:
    """One intake that must be refused; what it would have written is rolled back with the refusal."""
    with store.uow() as uow, pytest.raises(error) as caught:
        intake(uow, IntakeEnv(uow, pb), parse_lead(payload), WEBHOOK, now)
    return caught.value


def counts(store: Store) -> dict[str, int]:
    with store.uow() as uow:
        return {m.__tablename__: int(uow.session.scalar(select(func.count()).select_from(m)) or 0) for m in TABLES}


def rows(store: Store, model: Any, *where: Any) -> list[Any]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(model).where(*where)))


def one(store: Store, model: Any, *where: Any) -> Any:
    found = rows(store, model, *where)
    assert len(found) == 1, found
    return found[0]


def outbox(store: Store, event_type: str) -> list[OutboxEvent]:
    return rows(store, OutboxEvent, OutboxEvent.event_type == event_type)


# --------------------------------------------------------------------------- I1 channels


@pytest.mark.parametrize(
    ("channel", "initial_source"),
    [("contact_us", "Contact Us"), ("event_scan", "Conference"), ("webcast_registration", "Webcast"),
     ("content_download", "Content"), ("gitlab_com_signup", "GitLab.com"), ("other_form", "Web"),
     ("professional_services", "Professional Services Request")],
)
def test_I1_lead_channel_creates_an_inquiry_in_the_inquiry_queue_with_its_initial_source(
        store: Store, playbook: Playbook, now: dt.datetime, channel: str, initial_source: str) -> None:
    result = take(store, playbook, now, channel=channel, email="jane@initech.io", first_name="Jane",
                  last_name="Doe", company="Initech")
    assert (result.outcome, result.subject_type, result.replayed) == ("created", "lead", False)
    lead = one(store, Lead)
    assert lead.id == result.subject_id
    assert (lead.initial_source, lead.initial_source_at, lead.channel) == (initial_source, now, channel)
    # A hand-raise scores past the MQL threshold on its own (S2); the rest stay Inquiry.
    expected = "MQL" if lead.score >= playbook.scoring.mql_threshold else "Inquiry"
    # Below the routing threshold it waits in the Inquiry Queue (L2); at it, it is routed (S3): here, with no
    # region and no users to route to, to the unroutable SDR Queue (R10).
    queue = "Inquiry Queue" if lead.score < playbook.scoring.routing_threshold else "SDR Queue"
    assert (lead.status, lead.owner_type, lead.owner_id) == (expected, "queue", queue)
    activity = one(store, Activity, Activity.subject_id == lead.id)
    assert (activity.type, activity.at) == (channel, now)
    recorded = one(store, Intake)
    assert (recorded.channel, recorded.outcome, recorded.subject_id) == (channel, "created", lead.id)
    assert [s["step"] for s in recorded.steps] == [s["step"] for s in result.steps]


def test_I1_press_email_is_forwarded_to_pr_and_is_not_a_lead(store: Store, playbook: Playbook,
                                                             now: dt.datetime) -> None:
    result = take(store, playbook, now, channel="press_email", email="editor@newspaper.example",
                  last_name="Editor", company="Daily News")
    assert (result.outcome, result.subject_id) == ("forwarded", None)
    assert counts(store)["leads"] == 0 and counts(store)["contacts"] == 0
    (event,) = outbox(store, "intake.forwarded")
    assert event.payload["to"] == "pr-team"
    assert event.payload["intake"] == result.intake_id
    assert event.payload["message"]["email"] == "editor@newspaper.example"


@pytest.mark.parametrize(("channel", "lists"), [("newsletter", ["newsletter"]),
                                                ("security_notice", ["security-notices"])])
def test_I1_subscription_channels_only_subscribe(store: Store, playbook: Playbook, now: dt.datetime,
                                                 channel: str, lists: list[str]) -> None:
    result = take(store, playbook, now, channel=channel, email="Reader@Initech.io")
    assert (result.outcome, result.subject_id) == ("subscribed", None)
    assert counts(store)["leads"] == 0 and counts(store)["contacts"] == 0
    subs = rows(store, Subscription)
    assert [(s.email, s.list_name, s.subscribed_at, s.subject_id) for s in subs] == [
        ("reader@initech.io", name, now, None) for name in lists]
    again = take(store, playbook, now + dt.timedelta(days=1), channel=channel, email="reader@initech.io")
    assert again.steps[0]["added"] == []
    assert len(rows(store, Subscription)) == len(lists)


def test_I1_subscription_is_linked_to_the_person_with_that_email(store: Store, playbook: Playbook,
                                                                 now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", email="reader@initech.io"))
    result = take(store, playbook, now, channel="newsletter", email="READER@initech.io")
    assert (result.outcome, result.subject_type, result.subject_id) == ("subscribed", "lead", "l1")
    sub = one(store, Subscription)
    assert (sub.subject_type, sub.subject_id, sub.list_name) == ("lead", "l1", "newsletter")
    assert counts(store)["leads"] == 1


def test_I1_purchase_creates_a_customer_account_owned_by_sales_admin_and_notifies_it(
        store: Store, playbook: Playbook, now: dt.datetime, sales_admin: str) -> None:
    result = take(store, playbook, now, channel="pricing_purchase", email="buyer@globex.example",
                  first_name="Hank", last_name="Scorpio", company="Globex Corporation", country="USA")
    assert (result.outcome, result.subject_type) == ("account-created", "account")
    account = one(store, Account)
    assert (account.id, account.name, account.type, account.owner_id, account.domain, account.country) == (
        result.subject_id, "Globex Corporation", "Customer", sales_admin, "globex.example", "United States")
    assert account.account_source == "Web Direct"
    contact = one(store, Contact)
    assert (contact.account_id, contact.email, contact.last_name, contact.owner_id) == (
        account.id, "buyer@globex.example", "Scorpio", sales_admin)
    assert contact.initial_source == "Web Direct"
    assert counts(store)["leads"] == 0
    (event,) = outbox(store, "account.purchase")
    assert event.payload["notify"] == [sales_admin]
    assert (event.payload["account"], event.payload["contact"]) == (account.id, contact.id)
    owner_change = [h for h in rows(store, FieldHistory, FieldHistory.entity_id == account.id)
                    if h.field == "owner_id"]
    assert [h.rule for h in owner_change] == ["default-owner"]


def test_I1_purchase_upgrades_the_matched_prospect_to_customer_and_notifies_its_owner(
        store: Store, playbook: Playbook, now: dt.datetime, sales_admin: str) -> None:
    with store.uow() as uow:
        save(uow, now, an_account(id="a1", name="Globex", website="globex.example", domain="globex.example",
                                  type="Prospect", owner_id="ana"))
    result = take(store, playbook, now, channel="pricing_purchase", email="buyer@globex.example",
                  last_name="Scorpio", company="Globex")
    assert (result.outcome, result.subject_id) == ("account-updated", "a1")
    account = one(store, Account)
    assert (account.type, account.owner_id) == ("Customer", "ana")
    changes = [h for h in rows(store, FieldHistory, FieldHistory.entity_id == "a1") if h.field == "type"]
    assert [(h.old_value, h.new_value, h.rule) for h in changes] == [
        ("Prospect", "Customer", "purchase-makes-customer")]
    assert one(store, Contact).account_id == "a1"
    (event,) = outbox(store, "account.purchase")
    assert event.payload["notify"] == ["ana"]


def test_I1_purchase_by_a_known_lead_makes_the_lead_the_buyer_contact(store: Store, playbook: Playbook,
                                                                      now: dt.datetime, sales_admin: str) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", email="buyer@globex.example", last_name="Scorpio", company="Globex"))
    result = take(store, playbook, now, channel="pricing_purchase", email="Buyer@Globex.example",
                  company="Globex")
    contact = one(store, Contact)
    assert (contact.last_name, contact.account_id) == ("Scorpio", result.subject_id)
    lead = one(store, Lead)
    assert (lead.converted_contact_id, lead.converted_account_id, lead.converted_at) == (
        contact.id, result.subject_id, now)


def test_I7_purchase_without_a_last_name_is_refused_and_writes_nothing(store: Store, playbook: Playbook,
                                                                       now: dt.datetime, sales_admin: str) -> None:
    before = counts(store)
    error = refuse(store, playbook, now, InvalidInput, channel="pricing_purchase", email="buyer@globex.example",
                   first_name="Hank", company="Globex")
    assert error.field == "last_name"  # type: ignore[attr-defined]
    assert counts(store) == before


@pytest.mark.parametrize(("channel", "initial_source"), [("trial_self_managed", "Trial - Enterprise"),
                                                         ("trial_saas", "Trial - GitLab.com")])
def test_I1_trial_lasts_30_days_and_is_extendable(store: Store, playbook: Playbook, now: dt.datetime,
                                                  channel: str, initial_source: str) -> None:
    result = take(store, playbook, now, channel=channel, email="dev@initech.io", last_name="Dev")
    lead = one(store, Lead)
    assert (lead.initial_source, lead.trial_started_at, lead.trial_ends_at) == (
        initial_source, now, now + dt.timedelta(days=30))
    assert result.step("trial") == {"step": "trial", "days": 30,
                                    "ends_at": (now + dt.timedelta(days=30)).isoformat()}
    later = now + dt.timedelta(days=20)
    with store.uow() as uow:
        extend_trial(uow, playbook, uow.get(Lead, lead.id), 14, Actor.user("ana"), later)
        uow.commit()
    lead = one(store, Lead)
    assert (lead.trial_started_at, lead.trial_ends_at) == (now, now + dt.timedelta(days=44))
    (change,) = [h for h in rows(store, FieldHistory, FieldHistory.entity_id == lead.id)
                 if h.field == "trial_ends_at" and h.rule == "trial-extension"]
    assert (change.actor_id, change.changed_at) == ("ana", later)


def test_I1_a_repeat_trial_signup_never_shortens_an_extended_trial(store: Store, playbook: Playbook,
                                                                   now: dt.datetime) -> None:
    take(store, playbook, now, channel="trial_saas", email="dev@initech.io", last_name="Dev")
    with store.uow() as uow:
        extend_trial(uow, playbook, uow.session.scalars(select(Lead)).one(), 30, Actor.user("ana"), now)
        uow.commit()
    take(store, playbook, now + dt.timedelta(days=10), channel="trial_saas", email="dev@initech.io")
    lead = one(store, Lead)
    assert (lead.trial_started_at, lead.trial_ends_at) == (now, now + dt.timedelta(days=60))
    take(store, playbook, now + dt.timedelta(days=45), channel="trial_self_managed", email="dev@initech.io")
    assert one(store, Lead).trial_ends_at == now + dt.timedelta(days=75)  # still the same trial, pushed on
    restart = now + dt.timedelta(days=200)  # long after it ended: a new trial
    take(store, playbook, restart, channel="trial_saas", email="dev@initech.io")
    lead = one(store, Lead)
    assert (lead.trial_started_at, lead.trial_ends_at) == (restart, restart + dt.timedelta(days=30))


def test_I1_trial_extension_beyond_the_playbook_maximum_is_refused(store: Store, playbook: Playbook,
                                                                   now: dt.datetime) -> None:
    take(store, playbook, now, channel="trial_saas", email="dev@initech.io", last_name="Dev")
    maximum = playbook.intake.trial_max_days
    with store.uow() as uow:
        lead = uow.session.scalars(select(Lead)).one()
        with pytest.raises(InvalidInput) as refused:
            extend_trial(uow, playbook, lead, maximum - 30 + 1, Actor.user("ana"), now)
        assert refused.value.field == "trial_days"
        with pytest.raises(InvalidInput):
            extend_trial(uow, playbook, lead, 0, Actor.user("ana"), now)
        extend_trial(uow, playbook, lead, maximum - 30, Actor.user("ana"), now)
        uow.commit()
    assert one(store, Lead).trial_ends_at == now + dt.timedelta(days=maximum)


def test_I1_trial_longer_than_the_maximum_is_refused(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    before = counts(store)
    error = refuse(store, playbook, now, InvalidInput, channel="trial_saas", email="dev@initech.io",
                   last_name="Dev", trial_days=playbook.intake.trial_max_days + 1)
    assert error.field == "trial_days"  # type: ignore[attr-defined]
    assert counts(store) == before


def test_I1_unknown_channel_is_refused_naming_channel(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    error = refuse(store, playbook, now, InvalidInput, channel="carrier_pigeon", email="jane@initech.io")
    assert error.field == "channel"  # type: ignore[attr-defined]
    assert "carrier_pigeon" in str(error) and "contact_us" in str(error)
    assert counts(store)["intakes"] == 0


# --------------------------------------------------------------------------- I2 idempotency


def test_I2_the_same_delivery_twice_makes_one_record(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    payload = {"channel": "contact_us", "email": "jane@initech.io", "last_name": "Doe", "delivery_id": "evt-1"}
    first = take(store, playbook, now, **payload)
    before = counts(store)
    second = take(store, playbook, now + dt.timedelta(minutes=5), **payload)
    assert (first.replayed, second.replayed) == (False, True)
    assert (second.intake_id, second.outcome, second.subject_id) == (first.intake_id, "created", first.subject_id)
    assert counts(store) == before
    other = take(store, playbook, now, **{**payload, "delivery_id": "evt-2"})
    assert (other.replayed, other.outcome, other.subject_id) == (False, "updated", first.subject_id)
    assert counts(store)["leads"] == 1 and counts(store)["intakes"] == 2


# --------------------------------------------------------------------------- I4 normalisation


@pytest.mark.parametrize(
    ("country", "phone", "expected_country", "expected_phone"),
    [("Deutschland", "030 1234567", "Germany", "+49301234567"),
     ("USA", "(415) 555-2671", "United States", "+14155552671"),
     ("UK", "020 7946 0958", "United Kingdom", "+442079460958")],
)
def test_I4_email_phone_country_and_website_are_normalised(store: Store, playbook: Playbook, now: dt.datetime,
                                                           country: str, phone: str, expected_country: str,
                                                           expected_phone: str) -> None:
    take(store, playbook, now, channel="contact_us", email="  Jane.DOE@Initech.IO ", last_name="Doe",
         phone=phone, country=country, website="https://www.Initech-Software.io/contact?x=1")
    lead = one(store, Lead)
    assert (lead.email, lead.phone, lead.country) == ("jane.doe@initech.io", expected_phone, expected_country)
    assert lead.domain == "initech-software.io"


@pytest.mark.parametrize("email", ["not-an-email", "jane@", "jane@@initech.io", "jane doe@initech.io"])
def test_I4_invalid_email_is_refused_naming_email_and_nothing_is_written(store: Store, playbook: Playbook,
                                                                         now: dt.datetime, email: str) -> None:
    before = counts(store)
    error = refuse(store, playbook, now, InvalidInput, channel="contact_us", email=email, last_name="Doe",
                   company="Initech")
    assert error.field == "email"  # type: ignore[attr-defined]
    assert counts(store) == before


@pytest.mark.parametrize(("payload", "field"), [({"last_name": "Do\x00e"}, "last_name"),
                                              ({"activities": [{"type": "web\x00", "at": "2026-03-01T10:00:00Z"}]},
                                               "activities.0.type")])
def test_I4_nul_character_is_refused_naming_the_field(store: Store, playbook: Playbook, now: dt.datetime,
                                                      payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_lead({"channel": "contact_us", "email": "jane@initech.io", "last_name": "Doe", **payload})
    assert refused.value.field == field and "NUL" in refused.value.message
    assert counts(store)["leads"] == 0


def test_I4_unknown_country_and_bad_phone_are_noted_not_guessed(store: Store, playbook: Playbook,
                                                                now: dt.datetime) -> None:
    result = take(store, playbook, now, channel="contact_us", email="jane@initech.io", last_name="Doe",
                  country="Atlantis", phone="12")
    lead = one(store, Lead)
    assert (lead.country, lead.phone) == (None, None)
    notes = " ".join(result.step("normalise")["notes"])  # type: ignore[index]
    assert "Atlantis" in notes and "'12'" in notes


# --------------------------------------------------------------------------- I5 free mail


def test_I5_free_mail_lead_never_gets_a_domain_and_never_matches_by_domain(store: Store, playbook: Playbook,
                                                                           now: dt.datetime) -> None:
    with store.uow() as uow:  # an account someone created with a free-mail website
        save(uow, now, an_account(id="a1", name="Zeta Widgets", website="gmail.com", domain="gmail.com"))
    result = take(store, playbook, now, channel="contact_us", email="jane.doe@gmail.com", last_name="Doe",
                  company="Umbrella Pharmaceuticals")
    lead = one(store, Lead)
    assert (lead.domain, lead.matched_account_id, result.match) == (None, None, None)
    assert result.step("normalise")["free_mail"] is True  # type: ignore[index]
    assert lead.matched_at == now


def test_I5_free_mail_purchase_leaves_the_account_website_blank(store: Store, playbook: Playbook,
                                                                now: dt.datetime, sales_admin: str) -> None:
    take(store, playbook, now, channel="pricing_purchase", email="solo.dev@gmail.com", last_name="Dev",
         company="Solo Dev Studio")
    account = one(store, Account)
    assert (account.name, account.website, account.domain) == ("Solo Dev Studio", None, None)


# --------------------------------------------------------------------------- I6 spam


def _spam_members(store: Store, playbook: Playbook) -> list[tuple[str, str]]:
    with store.uow() as uow:
        stmt = (select(CampaignMember.subject_type, CampaignMember.subject_id)
                .join(Campaign, Campaign.id == CampaignMember.campaign_id)
                .where(Campaign.name == playbook.intake.spam_campaign))
        return [(t, i) for t, i in uow.session.execute(stmt)]


def test_I6_disposable_address_is_flagged_and_joins_spam_deletion(store: Store, playbook: Playbook,
                                                                  now: dt.datetime) -> None:
    result = take(store, playbook, now, channel="contact_us", email="bob@mailinator.com", first_name="Bob",
                  last_name="Smith", company="Smith Ltd")
    assert result.spam is True
    lead = one(store, Lead)
    assert lead.spam is True
    assert lead.spam_reasons == ["email domain mailinator.com is a temporary address"]
    assert _spam_members(store, playbook) == [("lead", lead.id)]
    clean = take(store, playbook, now, channel="contact_us", email="bob@initech.io", first_name="Bob",
                 last_name="Smith", company="Initech")
    assert clean.spam is False
    assert _spam_members(store, playbook) == [("lead", lead.id)]


@pytest.mark.parametrize("known", ["lead", "contact"])
def test_I6_a_junk_touch_with_a_known_address_never_flags_that_person(store: Store, playbook: Playbook,
                                                                      now: dt.datetime, known: str) -> None:
    if known == "lead":
        take(store, playbook, now, channel="contact_us", email="jane@initech.io", first_name="Jane",
             last_name="Doe", company="Initech")
    else:
        with store.uow() as uow, uow.changing(actor=WEBHOOK, now=now):
            uow.add(Contact(id="c1", first_name="Jane", last_name="Doe", email="jane@initech.io",
                            status="Accepted", initial_source="Web"))
            uow.commit()
    junk = take(store, playbook, now, channel="contact_us", email="jane@initech.io", first_name="asdf",
                last_name="qwerty", company="x")
    assert (junk.outcome, junk.subject_type) == ("updated", known)
    verdict = junk.step("spam")
    assert verdict is not None and verdict["spam"] is True and "not applied" in verdict["why"]
    person = one(store, Lead if known == "lead" else Contact)
    assert (person.first_name, person.spam, person.spam_reasons) == ("Jane", False, [])
    assert _spam_members(store, playbook) == []
    run_once(store, playbook, "spam-deletion", now)
    assert len(rows(store, Lead if known == "lead" else Contact)) == 1 and rows(store, Tombstone) == []


def test_I6_spam_deletion_job_deletes_for_good_and_leaves_only_a_tombstone(store: Store, playbook: Playbook,
                                                                           now: dt.datetime) -> None:
    spam = take(store, playbook, now, channel="newsletter", email="bob@mailinator.com")
    spam = take(store, playbook, now, channel="contact_us", email="bob@mailinator.com", first_name="Bob",
                last_name="Smith", company="Smith Ltd", phone="+14155552671")
    take(store, playbook, now, channel="newsletter", email="bob@mailinator.com")  # links the subscription
    kept = take(store, playbook, now, channel="contact_us", email="jane@initech.io", last_name="Doe")
    assert spam.spam and not kept.spam
    run_at = now + dt.timedelta(hours=1)
    summary = run_once(store, playbook, "spam-deletion", run_at)
    assert "'deleted_leads': 1" in summary
    assert [lead.id for lead in rows(store, Lead)] == [kept.subject_id]
    tomb = one(store, Tombstone)
    assert (tomb.entity_type, tomb.entity_id, tomb.deleted_at, tomb.rule) == (
        "lead", spam.subject_id, run_at, "spam-deletion")
    assert tomb.job_run_id == one(store, JobRun).id
    for model in (Activity, CampaignMember):
        assert rows(store, model, model.subject_id == spam.subject_id) == []
    assert rows(store, Intake, Intake.subject_id == spam.subject_id) == []
    assert rows(store, Subscription, Subscription.email == "bob@mailinator.com") == []
    left = rows(store, FieldHistory, FieldHistory.entity_id == spam.subject_id)
    personal = ("bob", "Smith", "mailinator", "4155552671")
    assert all(not any(p in json.dumps([h.old_value, h.new_value, h.why]) for p in personal) for h in left)
    assert {h.field for h in left} <= {"(deleted)"}
    with store.uow() as uow:  # nothing anywhere still names the address
        for model in (Intake, OutboxEvent, Subscription):
            for row in uow.session.scalars(select(model)):
                assert "mailinator" not in json.dumps(
                    {c.key: getattr(row, c.key) for c in model.__table__.columns}, default=str)
    # the kept lead and its history are untouched
    assert rows(store, FieldHistory, FieldHistory.entity_id == kept.subject_id)


def test_I6_spam_deletion_runs_once_per_period_and_picks_up_new_spam_next_day(store: Store, playbook: Playbook,
                                                                              now: dt.datetime) -> None:
    first = take(store, playbook, now, channel="contact_us", email="a@mailinator.com", last_name="Aa",
                 company="A")
    run_once(store, playbook, "spam-deletion", now)
    second = take(store, playbook, now, channel="contact_us", email="b@mailinator.com", last_name="Bb",
                  company="B")
    again = run_once(store, playbook, "spam-deletion", now + dt.timedelta(hours=2))
    assert "already ran" in again
    assert [lead.id for lead in rows(store, Lead)] == [second.subject_id]
    assert [t.entity_id for t in rows(store, Tombstone)] == [first.subject_id]
    next_day = now + dt.timedelta(days=1)
    run_once(store, playbook, "spam-deletion", next_day)
    assert rows(store, Lead) == []
    assert sorted(t.entity_id for t in rows(store, Tombstone)) == sorted([first.subject_id, second.subject_id])
    assert sorted(r.period for r in rows(store, JobRun)) == ["2026-03-02", "2026-03-03"]


def test_I6_spam_deletion_also_removes_contacts_and_members_whose_record_is_gone(store: Store, playbook: Playbook,
                                                                                now: dt.datetime) -> None:
    take(store, playbook, now, channel="contact_us", email="a@mailinator.com", last_name="Aa", company="A")
    with store.uow() as uow:
        campaign = uow.session.scalars(select(Campaign)).one()
        with uow.changing(actor=WEBHOOK, now=now):
            uow.add(Contact(id="c1", last_name="Forged", email="c1@initech.io", status="Raw", initial_source="Web"))
        uow.session.add_all([CampaignMember(campaign_id=campaign.id, subject_type="contact", subject_id="c1",
                                           added_at=now),
                             CampaignMember(campaign_id=campaign.id, subject_type="lead", subject_id="gone",
                                            added_at=now)])
        uow.commit()
    summary = run_once(store, playbook, "spam-deletion", now)
    assert "'deleted_leads': 1, 'deleted_contacts': 1" in summary
    assert rows(store, Lead) == [] and rows(store, Contact) == [] and rows(store, CampaignMember) == []
    assert sorted(t.entity_type for t in rows(store, Tombstone)) == ["contact", "lead"]


def test_I6_a_failed_spam_deletion_run_is_retried_in_the_same_period(store: Store, playbook: Playbook,
                                                                     now: dt.datetime,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from leadflow.services import jobs

    take(store, playbook, now, channel="contact_us", email="a@mailinator.com", last_name="Aa", company="A")
    real = jobs.REGISTRY["spam-deletion"]

    def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("database went away")

    monkeypatch.setitem(jobs.REGISTRY, "spam-deletion", broken)
    with pytest.raises(RuntimeError):
        run_once(store, playbook, "spam-deletion", now)
    assert rows(store, JobRun) == [] and len(rows(store, Lead)) == 1
    monkeypatch.setitem(jobs.REGISTRY, "spam-deletion", real)
    assert "'deleted_leads': 1" in run_once(store, playbook, "spam-deletion", now + dt.timedelta(minutes=5))
    assert rows(store, Lead) == []


def test_I6_spam_deletion_period_is_the_pacific_day_after_00_05(store: Store, playbook: Playbook) -> None:
    before = dt.datetime(2026, 3, 3, 8, 4, tzinfo=dt.UTC)  # 00:04 PST on 3 March: still 2 March's run
    after = dt.datetime(2026, 3, 3, 8, 5, tzinfo=dt.UTC)  # 00:05 PST: 3 March's run
    assert "2026-03-02" in run_once(store, playbook, "spam-deletion", before)
    assert "2026-03-03" in run_once(store, playbook, "spam-deletion", after)
    assert "already ran" in run_once(store, playbook, "spam-deletion", after + dt.timedelta(hours=20))


@pytest.mark.parametrize("email", ["bob@spam-co.com", "Bob@Mail.Spam-Co.com"])
def test_I6_blocked_domain_refuses_new_leads_from_it_and_its_subdomains(store: Store, playbook: Playbook,
                                                                        now: dt.datetime, email: str) -> None:
    with store.uow() as uow:
        assert block_domain(uow, "SPAM-CO.com", "sends forged leads", Actor.user("ana"), now) == "spam-co.com"
        uow.commit()
    before = counts(store)
    error = refuse(store, playbook, now, Refused, channel="contact_us", email=email, last_name="Bob",
                   company="Spam Co")
    assert "spam-co.com" in str(error)
    assert counts(store) == before
    assert take(store, playbook, now, channel="contact_us", email="bob@not-spam-co.com",
                last_name="Bob").outcome == "created"


def test_I6_playbook_block_list_refuses_too(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    assert playbook.spam is not None
    pb = playbook.model_copy(update={"spam": playbook.spam.model_copy(update={"blocked_domains": ["spam-co.com"]})})
    error = refuse(store, pb, now, Refused, channel="contact_us", email="x@eu.spam-co.com", last_name="X")
    assert "spam-co.com" in str(error)
    assert counts(store)["leads"] == 0


def test_I6_block_domain_refuses_what_is_not_a_domain(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow, pytest.raises(InvalidInput) as refused:
        block_domain(uow, "localhost", "", Actor.user("ana"), now)
    assert refused.value.field == "domain"


# --------------------------------------------------------------------------- I7 required fields, same email


@pytest.mark.parametrize("payload", [{"first_name": "Jane"}, {"last_name": "Doe"}, {"company": "Initech"},
                                     {"first_name": "Jane", "phone": "+14155552671"}])
def test_I7_lead_without_email_or_last_name_and_company_is_refused(store: Store, playbook: Playbook,
                                                                   now: dt.datetime,
                                                                   payload: dict[str, str]) -> None:
    before = counts(store)
    error = refuse(store, playbook, now, Refused, channel="contact_us", **payload)
    assert "email" in str(error) and "last_name+company" in str(error)
    assert counts(store) == before


def test_I7_last_name_and_company_without_email_is_enough(store: Store, playbook: Playbook,
                                                          now: dt.datetime) -> None:
    result = take(store, playbook, now, channel="event_scan", last_name="Doe", company="Initech")
    assert result.outcome == "created"
    assert (one(store, Lead).email, one(store, Lead).company) == (None, "Initech")


def test_I7_same_email_in_any_case_updates_the_existing_lead(store: Store, playbook: Playbook,
                                                             now: dt.datetime) -> None:
    first = take(store, playbook, now, channel="contact_us", email="jane@initech.io", last_name="Doe",
                 company="Initech")
    later = now + dt.timedelta(days=3)
    second = take(store, playbook, later, channel="webcast_registration", email="JANE@Initech.IO",
                  first_name="Jane", last_name="Other", title="CTO")
    assert (second.outcome, second.subject_id) == ("updated", first.subject_id)
    assert second.duplicate_of == {"type": "lead", "id": first.subject_id}
    lead = one(store, Lead)
    assert (lead.first_name, lead.last_name, lead.title, lead.company) == ("Jane", "Doe", "CTO", "Initech")
    assert len(rows(store, Activity, Activity.subject_id == lead.id)) == 2


def test_I7_same_email_as_a_contact_updates_the_contact(store: Store, playbook: Playbook,
                                                        now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, an_account(id="a1", name="Initech"))
        with uow.changing(actor=WEBHOOK, now=now):
            uow.add(Contact(id="c1", last_name="Doe", email="jane@initech.io", account_id="a1", status="Accepted",
                            initial_source="Conference"))
        uow.commit()
    result = take(store, playbook, now, channel="contact_us", email="Jane@Initech.io", last_name="Doe",
                  first_name="Jane", company="Initech")
    assert (result.outcome, result.subject_type, result.subject_id) == ("updated", "contact", "c1")
    assert counts(store)["leads"] == 0
    contact = one(store, Contact)
    assert (contact.first_name, contact.initial_source, contact.status) == ("Jane", "Conference", "Accepted")


# --------------------------------------------------------------------------- I8 CE usage ping


def test_I8_usage_ping_creates_a_ce_user_account_owned_by_sales_admin(store: Store, playbook: Playbook,
                                                                      now: dt.datetime, sales_admin: str) -> None:
    result = take(store, playbook, now, channel="ce_usage_ping", company="Vandelay Industries",
                  website="https://vandelay.example", usage={"active_users": 42, "instances": 2})
    assert (result.outcome, result.subject_type) == ("account-created", "account")
    account = one(store, Account)
    assert (account.type, account.account_source, account.owner_id, account.using_ce) == (
        "Prospect - CE User", "CE Download", sales_admin, True)
    assert (account.active_ce_users, account.ce_instances, account.domain) == (42, 2, "vandelay.example")
    assert counts(store)["leads"] == 0 and counts(store)["contacts"] == 0


def test_I8_second_ping_updates_the_counts_of_the_matched_account(store: Store, playbook: Playbook,
                                                                  now: dt.datetime, sales_admin: str) -> None:
    first = take(store, playbook, now, channel="ce_usage_ping", company="Vandelay Industries",
                 website="vandelay.example", usage={"active_users": 42, "instances": 2})
    second = take(store, playbook, now + dt.timedelta(days=7), channel="ce_usage_ping",
                  company="Vandelay Industries", website="https://www.vandelay.example",
                  usage={"active_users": 57, "instances": 3})
    assert (second.outcome, second.subject_id) == ("account-updated", first.subject_id)
    account = one(store, Account)
    assert (account.active_ce_users, account.ce_instances, account.owner_id) == (57, 3, sales_admin)
    changes = {h.field: (h.old_value, h.new_value) for h in rows(store, FieldHistory,
                                                               FieldHistory.entity_id == account.id)}
    assert changes["active_ce_users"] == (42, 57) and changes["ce_instances"] == (2, 3)


def test_I8_ping_for_an_existing_customer_keeps_its_type_and_owner(store: Store, playbook: Playbook,
                                                                   now: dt.datetime, sales_admin: str) -> None:
    with store.uow() as uow:
        save(uow, now, an_account(id="a1", name="Vandelay", domain="vandelay.example", website="vandelay.example",
                                  type="Customer", owner_id="ana"))
    result = take(store, playbook, now, channel="ce_usage_ping", company="Vandelay",
                  website="vandelay.example", usage={"active_users": 5, "instances": 1})
    assert (result.outcome, result.subject_id) == ("account-updated", "a1")
    account = one(store, Account)
    assert (account.type, account.owner_id, account.using_ce, account.active_ce_users) == (
        "Customer", "ana", True, 5)


# --------------------------------------------------------------------------- M1 duplicates


def test_M1_same_domain_and_last_name_is_a_duplicate_candidate_with_evidence(store: Store, playbook: Playbook,
                                                                             now: dt.datetime) -> None:
    first = take(store, playbook, now, channel="contact_us", email="john.smith@initech.io", first_name="John",
                 last_name="Smith", company="Initech")
    second = take(store, playbook, now, channel="event_scan", email="jsmith@initech.io", first_name="John",
                  last_name="Smith", company="Initech")
    assert second.outcome == "created"
    assert second.duplicate_of == {"type": "lead", "id": first.subject_id}
    with store.uow() as uow:
        lead = uow.get(Lead, second.subject_id or "")
        candidates = lead.duplicate_candidates
    assert candidates[0]["id"] == first.subject_id and candidates[0]["type"] == "lead"
    assert candidates[0]["score"] >= playbook.duplicates.threshold  # type: ignore[union-attr]
    assert candidates[0]["evidence"]
    assert "same-domain-last-name" in json.dumps(candidates[0])


def test_M1_a_big_company_never_crowds_out_the_real_duplicate(store: Store, playbook: Playbook,
                                                               now: dt.datetime) -> None:
    colleagues = [a_lead(email=f"colleague{i}@initech.io", domain="initech.io", first_name=f"Col{i}",
                         last_name=f"League{i}", company="Initech") for i in range(260)]
    namesakes = [a_lead(email=f"smith@firm{i}.example", domain=f"firm{i}.example", first_name="Zed",
                        last_name="Smith", company=f"Firm {i}") for i in range(260)]
    with store.uow() as uow:
        save(uow, now, *colleagues, *namesakes, a_lead(id="smith", email="jsmith@initech.io", domain="initech.io",
                                           first_name="John", last_name="Smith", company="Initech"))
    result = take(store, playbook, now, channel="contact_us", email="john.smith@initech.io", first_name="John",
                  last_name="Smith", company="Initech")
    assert result.duplicate_of == {"type": "lead", "id": "smith"}


def test_M1_different_person_at_the_same_domain_is_not_a_duplicate(store: Store, playbook: Playbook,
                                                                   now: dt.datetime) -> None:
    take(store, playbook, now, channel="contact_us", email="john.smith@initech.io", first_name="John",
         last_name="Smith", company="Initech")
    other = take(store, playbook, now, channel="contact_us", email="maria.jones@initech.io", first_name="Maria",
                 last_name="Jones", company="Initech")
    assert other.duplicate_of is None


# --------------------------------------------------------------------------- M2 matching


def test_M2_corporate_email_matches_the_account_and_stores_the_evidence(store: Store, playbook: Playbook,
                                                                        now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, an_account(id="a1", name="Initech Inc", website="https://initech.io", domain="initech.io"))
    result = take(store, playbook, now, channel="contact_us", email="jane@initech.io", last_name="Doe")
    lead = one(store, Lead)
    assert result.match is not None and result.match.account_id == "a1"
    assert (lead.matched_account_id, lead.matched_at) == ("a1", now)
    assert lead.match_confidence == pytest.approx(result.match.confidence, abs=1e-3)
    assert 0 < lead.match_confidence <= 1
    assert "initech.io" in (lead.match_evidence or "")


def test_M2_child_sharing_its_parents_domain_matches_the_parent(store: Store, playbook: Playbook,
                                                                now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, an_account(id="parent", name="Initech", website="initech.io", domain="initech.io"))
        save(uow, now, an_account(id="child", name="Initech Germany", website="initech.io", domain="initech.io",
                                  parent_id="parent"))
    take(store, playbook, now, channel="contact_us", email="jane@initech.io", last_name="Doe")
    assert one(store, Lead).matched_account_id == "parent"


# --------------------------------------------------------------------------- M4 customer and open opportunity


def test_M4_smb_lead_of_a_customer_account_is_converted_into_it(store: Store, playbook: Playbook,
                                                                now: dt.datetime, sales_admin: str) -> None:
    with store.uow() as uow:
        save(uow, now, an_account(id="a1", name="Initech", domain="initech.io", website="initech.io",
                                  type="Customer", employees_datafox=40, owner_id="ana"))
    result = take(store, playbook, now, channel="contact_us", email="jane@initech.io", first_name="Jane",
                  last_name="Doe")
    m4 = result.step("m4")
    assert m4 is not None and m4["action"] == "converted"
    contact = one(store, Contact)
    assert (contact.account_id, contact.email, contact.owner_id, contact.initial_source) == (
        "a1", "jane@initech.io", "ana", "Contact Us")
    lead = one(store, Lead)
    assert (lead.converted_contact_id, lead.converted_account_id, lead.converted_at) == (contact.id, "a1", now)
    (event,) = outbox(store, "lead.converted")
    assert (event.entity_id, event.payload["contact"], event.payload["notify"]) == (lead.id, contact.id, ["ana"])
    rules = {h.rule for h in rows(store, FieldHistory, FieldHistory.entity_id == lead.id)
             if h.field == "converted_contact_id"}
    assert rules == {"m4-customer-convert"}


def test_M4_large_lead_of_a_customer_account_is_not_converted(store: Store, playbook: Playbook,
                                                             now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, an_account(id="a1", name="Initech", domain="initech.io", website="initech.io",
                                  type="Customer", employees_datafox=5000))
    result = take(store, playbook, now, channel="contact_us", email="jane@initech.io", last_name="Doe")
    assert result.step("m4") is None
    assert counts(store)["contacts"] == 0 and one(store, Lead).converted_at is None


def test_M4_open_opportunity_without_a_customer_recycles_the_lead_as_evaluating(store: Store, playbook: Playbook,
                                                                               now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, an_account(id="a1", name="Initech", domain="initech.io", website="initech.io",
                                  type="Prospect", employees_datafox=40))
        save(uow, now, Opportunity(id="o1", name="Initech - New", account_id="a1", type="New Business",
                                   stage="1-Discovery"))
    result = take(store, playbook, now, channel="content_download", email="jane@initech.io", last_name="Doe")
    assert result.step("m4") == {"step": "m4", "action": "recycled", "status": "Recycle", "reason": "Evaluating",
                                 "opportunity": "o1"}
    lead = one(store, Lead)
    assert (lead.status, lead.status_reason, lead.owner_type, lead.owner_id) == (
        "Recycle", "Evaluating", "queue", "Recycle Queue")
    status_changes = [h for h in rows(store, FieldHistory, FieldHistory.entity_id == lead.id)
                      if h.field == "status"]
    assert [(h.old_value, h.new_value, h.rule) for h in status_changes] == [
        ("Raw", "Inquiry", "intake:content_download"), ("Inquiry", "Recycle", "m4-open-opportunity")]


def test_M4_open_opportunity_in_a_customer_hierarchy_does_not_recycle(store: Store, playbook: Playbook,
                                                                      now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, an_account(id="top", name="Initech Holding", type="Customer", employees_datafox=5000))
        save(uow, now, an_account(id="a1", name="Initech", domain="initech.io", website="initech.io",
                                  type="Prospect", parent_id="top"))
        save(uow, now, Opportunity(id="o1", name="Initech - New", account_id="a1", type="New Business",
                                   stage="1-Discovery"))
    result = take(store, playbook, now, channel="content_download", email="jane@initech.io", last_name="Doe")
    assert result.step("m4") is None
    assert one(store, Lead).status == "Inquiry"


def test_M4_closed_opportunity_does_not_recycle(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, an_account(id="a1", name="Initech", domain="initech.io", website="initech.io"))
        save(uow, now, Opportunity(id="o1", name="Initech - New", account_id="a1", type="New Business",
                                   stage="8-Closed Lost"))
    take(store, playbook, now, channel="content_download", email="jane@initech.io", last_name="Doe")
    assert one(store, Lead).status == "Inquiry"


# --------------------------------------------------------------------------- D5 / D6 history


def test_D5_every_intake_change_is_in_field_history_with_the_channel_rule(store: Store, playbook: Playbook,
                                                                          now: dt.datetime) -> None:
    created = take(store, playbook, now, channel="contact_us", email="jane@initech.io", last_name="Doe")
    later = now + dt.timedelta(days=1)
    take(store, playbook, later, channel="webcast_registration", email="jane@initech.io", title="CTO",
         phone="+14155552671")
    history = rows(store, FieldHistory, FieldHistory.entity_id == created.subject_id)
    creation = [h for h in history if h.field == "(created)"]
    assert [(h.rule, h.changed_at, h.actor_id) for h in creation] == [("intake:contact_us", now, "webhook")]
    assert creation[0].new_value["email"] == "jane@initech.io"
    touch = {h.field: h for h in history if h.changed_at == later}
    assert touch["title"].new_value == "CTO" and touch["title"].rule == "intake:webcast_registration"
    assert touch["phone"].new_value == "+14155552671"
    assert touch["channel"].old_value == "contact_us"
    assert all(h.rule for h in history)
    lead = one(store, Lead)
    assert (lead.title, lead.phone, lead.channel) == ("CTO", "+14155552671", "webcast_registration")


def test_D6_a_repeat_touch_never_overwrites_initial_source(store: Store, playbook: Playbook,
                                                           now: dt.datetime) -> None:
    take(store, playbook, now, channel="event_scan", email="jane@initech.io", last_name="Doe")
    for i, channel in enumerate(("contact_us", "trial_saas", "webcast_attended")):
        take(store, playbook, now + dt.timedelta(days=i + 1), channel=channel, email="jane@initech.io")
    lead = one(store, Lead)
    assert (lead.initial_source, lead.initial_source_at) == ("Conference", now)
    assert not [h for h in rows(store, FieldHistory, FieldHistory.entity_id == lead.id)
                if h.field == "initial_source"]


def test_D6_first_known_touch_sets_a_missing_initial_source_from_the_channel(store: Store, playbook: Playbook,
                                                                             now: dt.datetime) -> None:
    with store.uow() as uow:  # a lead that came in before anyone recorded its source
        save(uow, now, a_lead(id="l1", email="jane@initech.io", initial_source=None))
    later = now + dt.timedelta(days=1)
    take(store, playbook, later, channel="contact_us", email="jane@initech.io")
    lead = one(store, Lead)
    assert (lead.initial_source, lead.initial_source_at) == ("Contact Us", later)


def test_D6_activity_time_is_the_first_touch(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    attended = now - dt.timedelta(days=2)
    take(store, playbook, now, channel="webcast_attended", email="jane@initech.io", last_name="Doe",
         activities=[{"type": "webcast", "at": attended.isoformat()}])
    lead = one(store, Lead)
    assert (lead.initial_source, lead.initial_source_at) == ("Webcast", attended)
    assert [(a.type, a.at) for a in rows(store, Activity)] == [("webcast", attended)]


def test_I1_refusals_are_leadflow_errors_with_a_field(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    error = refuse(store, playbook, now, LeadflowError, channel="contact_us", first_name="Jane")
    assert isinstance(error, Refused) and error.field == "email"
