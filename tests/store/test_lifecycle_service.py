"""The lifecycle service on both stores: refusals change nothing; moves keep history (L1-L6)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from builders import a_lead, a_user, an_account, save
from leadflow.domain.records import Actor
from leadflow.errors import InvalidTransition, MissingReason, UnknownReason
from leadflow.playbook.schema import Playbook
from leadflow.services.lifecycle import add_bad_data_reason, refresh_classifications, transition
from leadflow.store.db import Store
from leadflow.store.models import FieldHistory, Lead, Sequence, SequenceEnrollment
from leadflow.store.uow import replay, snapshot

ANA = Actor.user("ana")


def _history_count(store: Store) -> int:
    with store.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(FieldHistory)) or 0)


@pytest.mark.parametrize(
    ("to", "reason", "error"),
    [("Qualified", None, InvalidTransition), ("Recycle", None, MissingReason),
     ("Disqualified", "Too pricey", UnknownReason)],
)
def test_L5_refused_transition_changes_nothing(store: Store, playbook: Playbook, now: dt.datetime,
                                               to: str, reason: str | None, error: type[Exception]) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="ana"), a_lead(id="l1", status="MQL", owner_type="user", owner_id="ana"))
    before = _history_count(store)
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        with pytest.raises(error):
            transition(uow, playbook, lead, to, reason, ANA, now)
        uow.commit()
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.status_reason, lead.owner_id) == ("MQL", None, "ana")
    assert _history_count(store) == before


def test_L2_recycle_hands_the_lead_to_the_recycle_queue_with_history(store: Store, playbook: Playbook,
                                                                    now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="ana"), a_lead(id="l1", status="Accepted", owner_type="user", owner_id="ana"))
    with store.uow() as uow:
        transition(uow, playbook, uow.get(Lead, "l1"), "Recycle", "no response", ANA, now)
        uow.commit()
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.status_reason, lead.owner_type, lead.owner_id) == (
            "Recycle", "No response", "queue", "Recycle Queue")
        changes = {h.field: h for h in uow.history("lead", "l1")[1:]}
        assert changes["status"].old_value == "Accepted" and changes["status"].new_value == "Recycle"
        assert changes["owner_id"].old_value == "ana" and changes["owner_id"].new_value == "Recycle Queue"
        assert {h.rule for h in changes.values()} == {"transition:Accepted->Recycle"}
        assert {h.actor_id for h in changes.values()} == {"ana"}


def test_L2_inquiry_lead_in_an_active_sequence_keeps_its_owner(store: Store, playbook: Playbook,
                                                             now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="ana"), a_lead(id="l1", status="Raw", owner_type="user", owner_id="ana"))
    with store.uow() as uow:
        with uow.changing(actor=ANA, now=now):
            seq = uow.add(Sequence(name="Inbound"))
        with uow.changing(actor=ANA, now=now):
            uow.add(SequenceEnrollment(sequence_id=seq.id, subject_type="lead", subject_id="l1", enrolled_at=now))
        transition(uow, playbook, uow.get(Lead, "l1"), "Inquiry", None, ANA, now)
        uow.commit()
    with store.uow() as uow:
        assert uow.get(Lead, "l1").owner_id == "ana"


def test_L4_bad_data_rule_fires_by_itself_and_names_its_rule(store: Store, playbook: Playbook,
                                                             now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="ana"), a_lead(id="l1", status="Accepted", owner_type="user", owner_id="ana"))
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert add_bad_data_reason(uow, playbook, lead, "Bad phone number", ANA, now) == ()
        fired = add_bad_data_reason(uow, playbook, lead, "invalid email", ANA, now + dt.timedelta(minutes=1))
        uow.commit()
    assert [p.rule for p in fired] == ["bad-data-phone-and-email"]
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.status_reason, lead.owner_id) == ("Disqualified", "Bad Data", "Disqualified Queue")
        assert lead.bad_data_reasons == ["Bad phone number", "Invalid email"]
        rows = uow.history("lead", "l1")
        by_field = {h.field: h for h in rows if h.rule == "bad-data-phone-and-email"}
        assert set(by_field) >= {"status", "status_reason", "owner_id"}
        reason_rows = [h for h in rows if h.field == "bad_data_reasons"]
        assert [h.rule for h in reason_rows] == [None, None]  # set by ana, not by the rule
        assert replay(rows) == snapshot(lead)


def test_L6_classifications_are_derived_and_stored_with_history(store: Store, playbook: Playbook,
                                                               now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, an_account(id="hq", type="Customer"), an_account(id="sub", type="Prospect", parent_id="hq"))
        save(uow, now, a_lead(id="l1", matched_account_id="sub", matched_at=now),
             a_lead(id="l2", product_user=False, matched_at=now), a_lead(id="l3"))
    with store.uow() as uow:
        with uow.changing(actor=Actor.system("test"), now=now):
            values = {lid: refresh_classifications(uow, playbook, uow.get(Lead, lid)) for lid in ("l1", "l2", "l3")}
        uow.commit()
    assert values["l1"]["customer_hierarchy_account"] == "True"
    assert values["l1"]["prospect_hierarchy"] == "False"
    assert values["l2"]["unknown"] == "True"
    assert set(values["l3"].values()) == {"-"}
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert lead.lc_customer_hierarchy_account == "True"
        rules = {h.rule for h in uow.history("lead", "l1") if h.field.startswith("lc_")}
        assert rules == {"lifecycle-classifications"}
