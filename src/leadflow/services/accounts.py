"""Account changes that carry rules: ownership transfer and the I8 adoption alert."""

from __future__ import annotations

import datetime as dt

from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.store.models import Account, User
from leadflow.store.uow import UnitOfWork


def change_owner(
    uow: UnitOfWork, pb: Playbook, account: Account, new_owner_id: str, actor: Actor, now: dt.datetime
) -> Account:
    """Give the account to another user; adopting a default-owner account alerts research (I8)."""
    new_owner = uow.session.get(User, new_owner_id)
    if new_owner is None:
        raise InvalidInput(f"no user with id '{new_owner_id}'", "owner")
    if not new_owner.active:
        raise InvalidInput(f"user {new_owner_id} is inactive", "owner")
    previous = uow.session.get(User, account.owner_id) if account.owner_id else None
    if previous is not None and previous.id == new_owner.id:
        return account
    adopted = previous is not None and previous.role == pb.default_owner_role
    rule = "account-adoption" if adopted else "account-owner-change"
    why = f"owner {previous.id if previous else 'none'} -> {new_owner.id}"
    with uow.changing(actor=actor, now=now, rule=rule, why=why):
        account.owner_id = new_owner.id
        if adopted and pb.intake.adoption_alert_user:
            uow.emit(
                "account.adopted",
                entity=account,
                payload={"notify": [pb.intake.adoption_alert_user], "account": account.id, "name": account.name,
                         "from": previous.id if previous else None, "to": new_owner.id,
                         "why": f"{new_owner.name} adopted {pb.default_owner_role}-owned account {account.name} (I8)"},
                dedupe_key=f"adopted:{account.id}:{new_owner.id}:{now.isoformat()}",
            )
    return account
