"""Manual owner changes on both stores (P3, R10): allowed cases write history and notify; refusals change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from builders import a_lead, a_user, an_account, save
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.reassign import assign_lead
from leadflow.store.db import Store
from leadflow.store.models import FieldHistory, Lead, OutboxEvent


def _setup(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_user(id="ana"), a_user(id="bob"), a_user(id="carl", role="AE"),
             a_user(id="sales-admin", role="Sales Admin"), a_user(id="root", role="Admin"),
             an_account(id="acc", owner_id="carl"),
             a_lead(id="l1", status="MQL", owner_type="user", owner_id="ana", matched_account_id="acc"))


def _counts(store: Store) -> tuple[int, int]:
    with store.uow() as uow:
        return (int(uow.session.scalar(select(func.count()).select_from(FieldHistory)) or 0),
                int(uow.session.scalar(select(func.count()).select_from(OutboxEvent)) or 0))


def _assign(store: Store, pb: Playbook, now: dt.datetime, to: str, actor: str, admin: bool = False) -> None:
    with store.uow() as uow:
        assign_lead(uow, pb, uow.get(Lead, "l1"), to, Actor.user(actor), now, actor_is_admin=admin)
        uow.commit()


@pytest.mark.parametrize(("to", "actor"), [("carl", "bob"), ("bob", "ana"), ("carl", "ana")])
def test_P3_allowed_owner_changes(store: Store, playbook: Playbook, now: dt.datetime, to: str, actor: str) -> None:
    _setup(store, now)
    _assign(store, playbook, now, to, actor)
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.owner_type, lead.owner_id) == ("user", to)
        row = [h for h in uow.history("lead", "l1") if h.field == "owner_id"][-1]
        assert (row.old_value, row.new_value, row.rule, row.actor_id) == ("ana", to, "manual-reassignment", actor)
        events = list(uow.session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "lead.reassigned")))
        assert [e.payload["owner"]["id"] for e in events] == [to]


@pytest.mark.parametrize(("to", "actor", "admin"), [("bob", "carl", False), ("bob", "bob", False),
                                                    ("bob", "root", True)])
def test_P3_refused_owner_changes_change_nothing(store: Store, playbook: Playbook, now: dt.datetime, to: str,
                                                 actor: str, admin: bool) -> None:
    _setup(store, now)
    before = _counts(store)
    with pytest.raises(InvalidInput) as info:
        _assign(store, playbook, now, to, actor, admin)
    assert info.value.field == "owner"
    with store.uow() as uow:
        assert uow.get(Lead, "l1").owner_id == "ana"
    assert _counts(store) == before


def test_R10_sales_admin_is_assignable_only_by_admins(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    _setup(store, now)
    before = _counts(store)
    with pytest.raises(InvalidInput) as info:
        _assign(store, playbook, now, "sales-admin", "ana")  # even the current owner may not
    assert info.value.field == "owner"
    assert _counts(store) == before
    _assign(store, playbook, now, "sales-admin", "root", admin=True)
    with store.uow() as uow:
        assert uow.get(Lead, "l1").owner_id == "sales-admin"
        assert [h for h in uow.history("lead", "l1") if h.field == "owner_id"][-1].rule == "manual-reassignment"


def test_P3_unknown_or_inactive_user_is_refused(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    _setup(store, now)
    with store.uow() as uow:
        save(uow, now, a_user(id="old", active=False))
    for to in ("nobody", "old"):
        with pytest.raises(InvalidInput):
            _assign(store, playbook, now, to, "ana")
    with store.uow() as uow:
        assert uow.get(Lead, "l1").owner_id == "ana"
