"""Offboarding a user (L7): deactivate them and hand every lead and contact they own on, by the playbook's
offboarding table (status and MQL date against the cutoff), with history naming the offboarding rule.

Owner steps are tried in order: a queue; a user field of the matched account (only when the account meets
`when_account` and that user is active); a round-robin turn of a routing pool (through the routing
service's `Pools`, so the departed, now inactive user is never chosen). When no step yields an owner the
record goes to the unroutable queue (R10, the SDR Queue). The user's running sequence enrollments are
finished. Running it again changes nothing: the user is already inactive and owns no records.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from leadflow.domain import lifecycle
from leadflow.domain.records import Actor, Owner
from leadflow.errors import LeadflowError
from leadflow.playbook.schema import OffboardOwnerStep, OffboardRuleDef, Playbook
from leadflow.services.lifecycle import Person, in_active_sequence, owner_of, set_owner
from leadflow.services.routing import Pools
from leadflow.store.models import Account, Contact, Lead, RoutingDecision, SequenceEnrollment, User
from leadflow.store.uow import UnitOfWork

DEACTIVATE_RULE = "offboarding:deactivate"
UNMATCHED_RULE = "offboarding:no-rule"
_ACCOUNT_FIELDS = {"bdr_assigned": "bdr_assigned_id", "sdr_assigned": "sdr_assigned_id", "owner": "owner_id"}


@dataclass(frozen=True)
class Reassignment:
    entity: str
    id: str
    rule: str
    from_status: str
    to_status: str
    owner: Owner
    why: str


@dataclass
class OffboardReport:
    user_id: str
    deactivated: bool = False  # False when the user was already inactive
    sequences_finished: int = 0
    reassigned: list[Reassignment] = field(default_factory=list)

    @property
    def by_rule(self) -> dict[str, int]:
        return dict(Counter(r.rule for r in self.reassigned))


def deactivate_user(uow: UnitOfWork, pb: Playbook, user_id: str, actor: Actor, now: dt.datetime) -> OffboardReport:
    """L7: mark the user inactive and reassign every lead and contact they own (idempotent)."""
    user = uow.get(User, user_id)
    report = OffboardReport(user_id)
    with uow.changing(actor=actor, now=now, rule=DEACTIVATE_RULE, why=f"user {user_id} offboarded (L7)"):
        report.deactivated = uow.set_field(user, "active", False, rule=DEACTIVATE_RULE,
                                           why=f"user {user_id} offboarded (L7)")
        uow.session.flush()
        report.sequences_finished = _finish_sequences(uow, user_id, now)
        pools = Pools(uow, pb, now)
        for model in (Lead, Contact):
            stmt = (select(model).where(model.owner_type == "user", model.owner_id == user_id)
                    .order_by(model.id))
            for person in list(uow.session.scalars(stmt)):
                report.reassigned.append(_reassign(uow, pb, pools, person, user_id, actor, now))
    return report


def _finish_sequences(uow: UnitOfWork, user_id: str, now: dt.datetime) -> int:
    rows = list(uow.session.scalars(
        select(SequenceEnrollment).where(SequenceEnrollment.owner_id == user_id, SequenceEnrollment.state == "active")
    ))
    for row in rows:
        row.state = "finished"
        row.finished_at = now
    uow.session.flush()
    return len(rows)


def _reassign(uow: UnitOfWork, pb: Playbook, pools: Pools, person: Person, user_id: str, actor: Actor,
              now: dt.datetime) -> Reassignment:
    previous = owner_of(person)
    from_status = person.status
    try:
        rule: OffboardRuleDef | None = lifecycle.offboarding_rule(pb, status=person.status, mql_date=person.mql_date)
    except LeadflowError:
        rule = None
    rule_id = rule.id if rule is not None else UNMATCHED_RULE
    why = f"owner {user_id} deactivated: {from_status} record handed on by {rule_id} (L7)"
    with uow.changing(actor=actor, now=now, rule=rule_id, why=why):
        if rule is not None and rule.set_status and rule.set_status != person.status:
            _set_status(uow, pb, person, rule.set_status, rule.reason, rule_id, why)
        owner, step_why, turn = _owner(uow, pb, pools, person, rule, user_id)
        set_owner(person, owner)
        full_why = f"{why}; {step_why}"
        if turn is not None:
            # a round-robin turn is a routing decision like any other: it counts against the member's
            # capacity (R9) and `explain` shows it
            uow.session.add(RoutingDecision(
                lead_id=person.id, decided_at=now, playbook=pb.name, rule=rule_id, routed=True, assign_kind="pool",
                pool_id=turn["pool"], pool_key=turn["key"], owner_type=owner.type, owner_id=owner.id, why=full_why,
                trace=[{"rule": rule_id, "matched": True, "why": full_why}],
                inputs={"record": f"{person.__entity__}:{person.id}", "status": from_status,
                        "previous_owner": user_id},
                notify=[owner.id], round_robin=turn, actor_id=str(actor), change_id=uow.context.change_id
                if uow.context else None,
            ))
        uow.session.flush()
        if owner.type == "user" and (previous is None or previous != owner):
            uow.emit(
                f"{person.__entity__}.reassigned",
                entity=person,
                payload={
                    person.__entity__: person.id,
                    "owner": {"type": owner.type, "id": owner.id},
                    "previous_owner": {"type": previous.type, "id": previous.id} if previous else None,
                    "rule": rule_id,
                    "why": full_why,
                },
            )
    return Reassignment(person.__entity__, person.id, rule_id, from_status, person.status, owner, full_why)


def _set_status(uow: UnitOfWork, pb: Playbook, person: Person, to: str, reason: str | None, rule_id: str,
                why: str) -> None:
    """Change the status through the lifecycle's checks; the table may also move a record the manual
    transitions do not allow, so a refused transition is applied directly, still with a canonical reason."""
    try:
        plan = lifecycle.plan_transition(pb, current=person.status, to=to, reason=reason,
                                         in_active_sequence=in_active_sequence(uow, person), rule=rule_id)
        to_status, canonical = plan.to_status, plan.reason
    except LeadflowError:
        target = lifecycle.resolve_status(pb, to, "to")
        to_status, canonical = target.name, lifecycle.canonical_reason(pb, target, reason)
    with uow.changing(rule=rule_id, why=why):
        person.status = to_status
        person.status_reason = canonical


def _owner(uow: UnitOfWork, pb: Playbook, pools: Pools, person: Person, rule: OffboardRuleDef | None,
           user_id: str) -> tuple[Owner, str, dict[str, Any] | None]:
    """The new owner, why, and the round-robin turn when a pool gave it."""
    for step in rule.owner if rule is not None else []:
        found = _try_step(uow, pools, person, step, user_id)
        if found is not None:
            return found
    queue = (pb.routing.unroutable_queue if pb.routing else None) or "SDR Queue"
    return Owner.queue(queue), f"no owner step gave an owner: to {queue} (R10)", None


def _try_step(uow: UnitOfWork, pools: Pools, person: Person, step: OffboardOwnerStep,
              user_id: str) -> tuple[Owner, str, dict[str, Any] | None] | None:
    if step.queue:
        return Owner.queue(step.queue), f"to {step.queue}", None
    if step.account_field:
        account_id = person.matched_account_id if isinstance(person, Lead) else person.account_id
        account = uow.session.get(Account, account_id) if account_id else None
        if account is None:
            return None
        for name, wanted in step.when_account.items():
            if str(getattr(account, name, None)) != str(wanted):
                return None
        chosen = getattr(account, _ACCOUNT_FIELDS[step.account_field])
        target = uow.session.get(User, chosen) if chosen else None
        if target is None or not target.active or target.id == user_id:
            return None
        return Owner.user(target.id), f"{step.account_field} of account {account.id} ({target.id})", None
    if step.round_robin:
        key = getattr(person, step.by, None) if step.by in ("region", "segment") else None
        choice = pools.take_turn(step.round_robin, key)
        if choice.member_id is None:
            return None
        turn = {"pool": step.round_robin, "key": key, "chosen": choice.member_id, "why": choice.why,
                "skipped": [list(x) for x in choice.skipped]}
        return Owner.user(choice.member_id), f"round robin {step.round_robin}[{key}]: {choice.why}", turn
    return None
