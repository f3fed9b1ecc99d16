"""Applies lifecycle decisions (L1-L6) to stored leads and contacts, with history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from leadflow.domain import lifecycle
from leadflow.domain.records import Actor, Owner
from leadflow.playbook.schema import Playbook
from leadflow.store.models import Account, Contact, Lead, SequenceEnrollment
from leadflow.store.uow import UnitOfWork

Person = Lead | Contact


@dataclass(frozen=True)
class TransitionResult:
    """What a transition did: the plan, and the automatic moves that followed it."""

    plan: lifecycle.TransitionPlan
    followups: tuple[lifecycle.TransitionPlan, ...] = ()


def owner_of(person: Person) -> Owner | None:
    if person.owner_type is None or person.owner_id is None:
        return None
    return Owner(person.owner_type, person.owner_id)  # type: ignore[arg-type]


def set_owner(person: Person, owner: Owner) -> None:
    person.owner_type = owner.type
    person.owner_id = owner.id


def in_active_sequence(uow: UnitOfWork, person: Person) -> bool:
    stmt = select(SequenceEnrollment.id).where(
        SequenceEnrollment.subject_type == person.__entity__,
        SequenceEnrollment.subject_id == person.id,
        SequenceEnrollment.state == "active",
    )
    return uow.session.scalars(stmt.limit(1)).first() is not None


def _apply(uow: UnitOfWork, person: Person, plan: lifecycle.TransitionPlan, why: str | None) -> None:
    with uow.changing(rule=plan.rule, why=why):
        person.status = plan.to_status
        person.status_reason = plan.reason
        if plan.hand_to is not None:
            set_owner(person, plan.hand_to)


def transition(
    uow: UnitOfWork,
    pb: Playbook,
    person: Person,
    to: str,
    reason: str | None,
    actor: Actor,
    now: dt.datetime,
    *,
    why: str | None = None,
    rule: str | None = None,
) -> TransitionResult:
    """Move a lead or contact to `to` if the playbook allows it; refuse otherwise (L3, L5)."""
    plan = lifecycle.plan_transition(
        pb,
        current=person.status,
        to=to,
        reason=reason,
        in_active_sequence=in_active_sequence(uow, person),
        rule=rule,
    )
    with uow.changing(actor=actor, now=now):
        _apply(uow, person, plan, why)
        followups = apply_automatic_rules(uow, pb, person)
    return TransitionResult(plan, followups)


def apply_automatic_rules(uow: UnitOfWork, pb: Playbook, person: Person) -> tuple[lifecycle.TransitionPlan, ...]:
    """Rules that fire by themselves after a change: the bad-data rule (L4)."""
    plan = lifecycle.bad_data_plan(pb, current=person.status, bad_data_reasons=person.bad_data_reasons or [])
    if plan is None:
        return ()
    _apply(uow, person, plan, "bad phone and bad email: no way to reach the person (L4)")
    return (plan,)


def add_bad_data_reason(
    uow: UnitOfWork, pb: Playbook, person: Person, reason: str, actor: Actor, now: dt.datetime
) -> tuple[lifecycle.TransitionPlan, ...]:
    """Record a bad-data reason (L4); the bad-data rule then fires by itself."""
    name = lifecycle.canonical_bad_data_reason(pb, reason)
    with uow.changing(actor=actor, now=now, why=f"bad data: {name}"):
        current = list(person.bad_data_reasons or [])
        if name not in current:
            person.bad_data_reasons = [*current, name]
        return apply_automatic_rules(uow, pb, person)


def classification_facts(uow: UnitOfWork, person: Person) -> lifecycle.ClassificationFacts:
    """Gather the matched account and its whole hierarchy for L6."""
    account_id = person.matched_account_id if isinstance(person, Lead) else person.account_id
    matching_done = person.matched_at is not None if isinstance(person, Lead) else True
    if account_id is None:
        return lifecycle.ClassificationFacts(
            matching_done=matching_done, matched=None,
            product_user=person.product_user, partner_managed=person.partner_managed,
        )
    matched = uow.get(Account, account_id)
    family = hierarchy(uow, matched)

    def facts(a: Account) -> lifecycle.AccountFacts:
        return lifecycle.AccountFacts(id=a.id, type=a.type, partner_managed=a.partner_managed)

    return lifecycle.ClassificationFacts(
        matching_done=True,
        matched=facts(matched),
        hierarchy=[facts(a) for a in family],
        product_user=person.product_user,
        partner_managed=person.partner_managed,
    )


def hierarchy(uow: UnitOfWork, account: Account) -> list[Account]:
    """Every account under the ultimate parent of `account`, the parent first."""
    top = account
    seen = {top.id}
    while top.parent_id and top.parent_id not in seen:
        top = uow.get(Account, top.parent_id)
        seen.add(top.id)
    family = [top]
    frontier = [top.id]
    while frontier:
        children = list(uow.session.scalars(select(Account).where(Account.parent_id.in_(frontier))))
        children = [c for c in children if c.id not in {a.id for a in family}]
        family += children
        frontier = [c.id for c in children]
    return family


def refresh_classifications(uow: UnitOfWork, pb: Playbook, person: Person) -> dict[str, str]:
    """Re-derive the six lifecycle classifications (L6) and store the ones that changed."""
    values = lifecycle.classify(pb, classification_facts(uow, person))
    for key, value in values.items():
        column = f"lc_{key}"
        if hasattr(person, column):
            uow.set_field(person, column, value.value, rule="lifecycle-classifications",
                          why="derived from matched account and user data")
    return {k: v.value for k, v in values.items()}
