"""Decides lead/contact status changes: allowed moves, reasons, queues, bad data, classes.

A pure state machine over the playbook (L1-L6, L8). It returns plans; services apply them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from leadflow.domain.records import Owner, TriState
from leadflow.errors import InvalidTransition, MissingReason, UnknownReason, UnknownStatus
from leadflow.playbook.schema import OffboardRuleDef, Playbook, StatusDef


@dataclass(frozen=True)
class TransitionPlan:
    """A permitted status change and what comes with it."""

    from_status: str
    to_status: str
    reason: str | None
    hand_to: Owner | None
    rule: str


def resolve_status(pb: Playbook, name: str | None, field: str = "status") -> StatusDef:
    """The playbook status for `name` (case-insensitive) or UnknownStatus naming `field`."""
    found = pb.status(name) if name else None
    if found is None:
        raise UnknownStatus(f"unknown status '{name}'; expected one of: {', '.join(pb.status_names())}", field)
    return found


def canonical_reason(pb: Playbook, status: StatusDef, reason: str | None) -> str | None:
    """The reason as the playbook spells it; refuses missing, unknown or unexpected reasons."""
    text = (reason or "").strip()
    if not text:
        if status.needs_reason:
            raise MissingReason(
                f"status {status.name} needs a reason: {', '.join(r.name for r in status.reasons)}",
                "reason",
            )
        return None
    if not status.reasons:
        raise UnknownReason(f"status {status.name} takes no reason (got '{text}')", "reason")
    key = text.casefold()
    for r in status.reasons:
        if key == r.name.casefold() or key in (a.casefold() for a in r.aliases):
            return r.name
    raise UnknownReason(
        f"'{text}' is not a reason for {status.name}; expected one of: {', '.join(r.name for r in status.reasons)}",
        "reason",
    )


def plan_transition(
    pb: Playbook,
    *,
    current: str,
    to: str,
    reason: str | None = None,
    in_active_sequence: bool = False,
    rule: str | None = None,
) -> TransitionPlan:
    """Check a move against the playbook (L3, L5) and say where the record goes (L2)."""
    source = resolve_status(pb, current, "status")
    target = resolve_status(pb, to, "to")
    if target.name not in pb.allowed_targets(source.name):
        allowed = pb.allowed_targets(source.name)
        raise InvalidTransition(
            f"{source.name} -> {target.name} is not allowed; from {source.name} a record may go to: "
            f"{', '.join(allowed) or 'nothing'}",
            "to",
        )
    canonical = canonical_reason(pb, target, reason)
    return TransitionPlan(
        from_status=source.name,
        to_status=target.name,
        reason=canonical,
        hand_to=holding_owner(target, in_active_sequence=in_active_sequence),
        rule=rule or f"transition:{source.name}->{target.name}",
    )


def holding_owner(status: StatusDef, *, in_active_sequence: bool = False) -> Owner | None:
    """The queue that takes a record entering `status`, when no user should keep it (L2)."""
    if status.queue is None or status.hand_to_queue == "never":
        return None
    if status.hand_to_queue == "unless_in_active_sequence" and in_active_sequence:
        return None
    return Owner.queue(status.queue)


def bad_data_plan(pb: Playbook, *, current: str, bad_data_reasons: Iterable[str]) -> TransitionPlan | None:
    """The L4 rule's move when every one of its groups has a reason on the record."""
    if pb.bad_data is None:
        return None
    present = {r.casefold() for r in bad_data_reasons}
    for rule in pb.bad_data.rules:
        if not all(any(r.casefold() in present for r in group) for group in rule.when_each_group_present):
            continue
        source = resolve_status(pb, current)
        if source.name == rule.set_status:
            return None
        if rule.set_status not in pb.allowed_targets(source.name):
            return None
        return plan_transition(pb, current=source.name, to=rule.set_status, reason=rule.reason, rule=rule.id)
    return None


def canonical_bad_data_reason(pb: Playbook, reason: str) -> str:
    """A bad-data reason as the playbook spells it, or UnknownReason."""
    known = pb.bad_data.reasons if pb.bad_data else []
    for name in known:
        if name.casefold() == reason.strip().casefold():
            return name
    raise UnknownReason(f"'{reason}' is not a bad-data reason; expected one of: {', '.join(known)}", "bad_data_reason")


# --------------------------------------------------------------------------- L6


@dataclass(frozen=True)
class AccountFacts:
    """What the classifications need to know of one account of a hierarchy."""

    id: str
    type: str | None
    partner_managed: bool | None = None


@dataclass(frozen=True)
class ClassificationFacts:
    """Inputs of the lifecycle classifications; None means not known yet."""

    matching_done: bool
    matched: AccountFacts | None
    hierarchy: Sequence[AccountFacts] = ()
    product_user: bool | None = None
    partner_managed: bool | None = None


def classify(pb: Playbook, facts: ClassificationFacts) -> dict[str, TriState]:
    """The six lifecycle classifications (L6), '-' where the data to decide is missing."""
    out: dict[str, TriState] = {}
    matched = facts.matched
    accounts = list(facts.hierarchy) or ([matched] if matched else [])
    for cl in pb.classifications:
        types = set(cl.account_types)
        value: bool | None
        if cl.mechanism == "product_user":
            value = facts.product_user
        elif cl.mechanism == "unmatched_non_user":
            if matched is not None or facts.product_user:
                value = False
            elif facts.matching_done and facts.product_user is False:
                value = True
            else:
                value = None
        elif cl.mechanism == "partner_managed":
            value = facts.partner_managed
            if value is None and matched is not None:
                value = matched.partner_managed
        elif matched is None:
            value = None
        elif cl.mechanism == "account_has_type":
            value = None if matched.type is None else matched.type in types
        elif any(a.type is None for a in accounts):
            value = None
        else:
            has = any(a.type in types for a in accounts)
            value = has if cl.mechanism == "hierarchy_with_type" else not has
        out[cl.key] = TriState.of(value)
    return out


# --------------------------------------------------------------------------- L8


def map_legacy_status(pb: Playbook, value: str) -> tuple[str, str | None]:
    """A status from any process (current or legacy) as (status, reason) of this playbook."""
    text = (value or "").strip()
    current = pb.status(text)
    if current is not None:
        return current.name, None
    key = text.casefold()
    for legacy, target in pb.legacy_statuses.items():
        if legacy.casefold() == key:
            return target.status, target.reason
    raise UnknownStatus(
        f"'{value}' is neither a status nor a mapped legacy status (legacy: {', '.join(pb.legacy_statuses) or 'none'})",
        "status",
    )


# --------------------------------------------------------------------------- L7 (plan only)


def offboarding_rule(pb: Playbook, *, status: str, mql_date: dt.datetime | None) -> OffboardRuleDef:
    """The offboarding rule that applies to a lead of a departing owner (L7)."""
    if pb.offboarding is None:
        raise InvalidTransition("the playbook has no offboarding table", "offboarding")
    cutoff = pb.offboarding.mql_cutoff
    for rule in pb.offboarding.rules:
        if status not in rule.statuses:
            continue
        if rule.mql_date == "any" or cutoff is None:
            return rule
        if mql_date is None:
            # No MQL date recorded: treat as old, the cautious reading of the table.
            if rule.mql_date == "before_cutoff":
                return rule
            continue
        before = mql_date.date() < cutoff
        if (rule.mql_date == "before_cutoff") == before:
            return rule
    raise InvalidTransition(f"no offboarding rule for status {status}", "status")
