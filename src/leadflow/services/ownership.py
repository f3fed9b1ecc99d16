"""Ownership changes under P1 and P2: account owner changes by who may make them, contact owners derived.

P2: `change_account_owner` asks `domain.permissions.may_change_account_owner`; a refusal is `NotPermitted`
(HTTP 403, field `owner_id`) and changes nothing. A change by a non-admin notifies the previous and the new
owner (outbox `account.owner_changed`). The account's contacts then get their P1 owner again.
P1: `derive_contact_owner` sets a contact's owner from its account by the playbook's contact-owner table.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from leadflow.domain.permissions import AccountFacts, ContactAccountFacts, Principal, contact_owner
from leadflow.domain.permissions import may_change_account_owner as p2
from leadflow.domain.records import Actor
from leadflow.errors import NotPermitted
from leadflow.playbook.schema import Playbook
from leadflow.services.accounts import change_owner
from leadflow.store.models import Account, Contact, User
from leadflow.store.uow import UnitOfWork

P1_RULE = "contact-owner"


def change_account_owner(
    uow: UnitOfWork, pb: Playbook, account: Account, new_owner_id: str, who: Principal, now: dt.datetime
) -> Account:
    """P2: give `account` to `new_owner_id` if `who` may; tell both owners when `who` is not an admin."""
    verdict = p2(pb, who, AccountFacts(owner_id=account.owner_id, parent_id=account.parent_id,
                                        region=account.region, segment=account.segment,
                                        employees_datafox=account.employees_datafox))
    if not verdict.allowed and not who.admin:
        raise NotPermitted(f"{who.user_id} may not change this account's owner: {verdict.why}", "owner_id")
    target = uow.session.get(User, new_owner_id)
    if target is not None and target.role == pb.default_owner_role and not who.admin:
        raise NotPermitted(f"only admins may assign an account to the {pb.default_owner_role} user (R10)",
                           "owner_id")
    previous = account.owner_id
    actor = Actor.user(who.user_id)
    change_owner(uow, pb, account, new_owner_id, actor, now)
    if account.owner_id == previous:
        return account
    with uow.changing(actor=actor, now=now, rule="account-owner-change", why=verdict.why):
        if pb.permissions.account_owner_change.notify_owners and not who.admin:
            uow.emit(
                "account.owner_changed",
                entity=account,
                payload={"notify": [u for u in (previous, account.owner_id) if u], "account": account.id,
                         "name": account.name, "from": previous, "to": account.owner_id, "by": who.user_id,
                         "why": verdict.why},
            )
        for contact in uow.session.scalars(select(Contact).where(Contact.account_id == account.id)):
            derive_contact_owner(uow, pb, contact)
    return account


def derive_contact_owner(uow: UnitOfWork, pb: Playbook, contact: Contact) -> str | None:
    """P1: the contact's owner from its account (inside a change context); returns the owner chosen."""
    if contact.account_id is None:
        return None
    account = uow.session.get(Account, contact.account_id)
    if account is None:
        return None
    owner, why = contact_owner(pb, ContactAccountFacts(
        segment=account.segment, type=account.type, owner_id=account.owner_id,
        sdr_assigned_id=account.sdr_assigned_id, bdr_assigned_id=account.bdr_assigned_id,
    ))
    if owner is None:
        return None
    uow.set_field(contact, "owner_type", "user", rule=P1_RULE, why=why)
    uow.set_field(contact, "owner_id", owner, rule=P1_RULE, why=why)
    return owner
