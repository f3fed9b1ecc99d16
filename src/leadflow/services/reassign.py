"""Manual lead owner changes (P3, R10).

P3: a lead's owner may be changed to the matched account's owner, or by the lead's current owner.
R10: the default owner user (Sales Admin, the playbook's `default_owner_role`) may be assigned by hand only
by admins. A refusal raises `NotPermitted` (an `InvalidInput`, HTTP 403, field `owner`) and changes nothing;
a change is recorded in
history under the rule `manual-reassignment` and notifies the new owner through the outbox.
"""

from __future__ import annotations

import datetime as dt

from leadflow.domain.records import Actor, Owner
from leadflow.errors import InvalidInput, NotPermitted
from leadflow.playbook.schema import Playbook
from leadflow.services.lifecycle import owner_of, set_owner
from leadflow.store.models import Account, Lead, User
from leadflow.store.uow import UnitOfWork

RULE = "manual-reassignment"


def assign_lead(
    uow: UnitOfWork,
    pb: Playbook,
    lead: Lead,
    new_owner_id: str,
    actor: Actor,
    now: dt.datetime,
    *,
    actor_is_admin: bool = False,
) -> Owner:
    """Give `lead` to the user `new_owner_id` if P3 and R10 allow it; refuse with InvalidInput otherwise."""
    target = uow.session.get(User, new_owner_id)
    if target is None:
        raise InvalidInput(f"no user with id '{new_owner_id}'", "owner")
    if not target.active:
        raise InvalidInput(f"user {new_owner_id} is inactive and cannot own leads", "owner")
    previous = owner_of(lead)
    new = Owner.user(target.id)
    if previous == new:
        return new  # nothing to change
    if target.role == pb.default_owner_role:
        if not actor_is_admin:
            raise NotPermitted(f"only admins may assign a lead to the {pb.default_owner_role} user (R10)", "owner")
        why = f"assigned by admin {actor.id} to the {pb.default_owner_role} user (R10)"
    else:
        account = uow.session.get(Account, lead.matched_account_id) if lead.matched_account_id else None
        to_account_owner = account is not None and account.owner_id == target.id
        by_current_owner = previous is not None and previous.type == "user" and previous.id == actor.id
        if to_account_owner:
            why = f"to {target.id}, owner of the matched account {account.id} (P3)"  # type: ignore[union-attr]
        elif by_current_owner:
            why = f"handed on by the current owner {actor.id} (P3)"
        else:
            raise NotPermitted(
                "a lead's owner may change only to the matched account's owner, or by the current owner (P3)",
                "owner",
            )
    with uow.changing(actor=actor, now=now, rule=RULE, why=why):
        set_owner(lead, new)
        uow.session.flush()
        uow.emit(
            "lead.reassigned",
            entity=lead,
            payload={
                "lead": lead.id,
                "owner": {"type": new.type, "id": new.id},
                "previous_owner": {"type": previous.type, "id": previous.id} if previous else None,
                "rule": RULE,
                "why": why,
            },
        )
    return new
