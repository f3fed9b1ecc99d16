"""Decides what working a lead means over time: which engagement-event rules fire (W1), whether a person may be
emailed (W6), how long a pass waits before the passer is reminded (W4), and when a status has timed out (W7).

Pure: the playbook and the facts come in, a decision with its reason goes out; services apply it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook, SequenceRuleDef, StatusTimeoutDef

# --------------------------------------------------------------------------- W1: engagement events


@dataclass(frozen=True)
class RuleCheck:
    """One sequence rule checked against an event: whether it fires, and why (or why not)."""

    rule: SequenceRuleDef
    fires: bool
    why: str


def check_rule(rule: SequenceRuleDef, event: str, step: int | None, status: str) -> RuleCheck:
    """Does `rule` fire for `event` (at `step`) on a person in `status`?"""
    if rule.event != event:
        return RuleCheck(rule, False, f"rule is for {rule.event}, not {event}")
    if rule.step is not None and rule.step != step:
        return RuleCheck(rule, False, f"rule is for step {rule.step}, this was step {step}")
    if rule.from_ and status not in rule.from_:
        return RuleCheck(rule, False, f"status {status} is not one of {', '.join(rule.from_)}")
    parts = []
    if rule.to is not None:
        move = f"{status} -> {rule.to}" + (f" ({rule.reason})" if rule.reason else "")
        parts.append(f"{move} after {rule.after_days} day(s) without reply" if rule.after_days else move)
    if rule.set_inactive:
        parts.append("marks the person inactive")
    if rule.finish_sequences:
        parts.append("finishes running sequences")
    return RuleCheck(rule, True, "; ".join(parts))


def rules_for(pb: Playbook, event: str) -> list[SequenceRuleDef]:
    """The playbook's rules for `event`, in order."""
    return [r for r in pb.working.sequences.rules if r.event == event]


def sequence_rule(pb: Playbook, rule_id: str) -> SequenceRuleDef | None:
    return next((r for r in pb.working.sequences.rules if r.id == rule_id), None)


# --------------------------------------------------------------------------- W6: who may be emailed


@dataclass(frozen=True)
class SendFacts:
    """What decides whether an email may go to a person."""

    email: str | None
    opt_out: bool = False
    opt_out_until: dt.datetime | None = None
    lists: frozenset[str] = frozenset()  # the lists the address is subscribed to (not unsubscribed)


@dataclass(frozen=True)
class SendDecision:
    """May an email of `kind` go to the person, is it operational, and why."""

    allowed: bool
    kind: str
    operational: bool
    why: str


def may_send(pb: Playbook, kind: str, facts: SendFacts, now: dt.datetime) -> SendDecision:
    """W6: operational kinds always go; any other kind is withheld from opted-out people (permanently or for the
    30 days) and, for a list kind, from addresses not on the list."""
    subs = pb.working.subscriptions
    found = subs.kind(kind)
    if found is None:
        known = ", ".join(k.name for k in subs.message_kinds) or "none"
        raise InvalidInput(f"unknown message kind '{kind}'; kinds: {known}", "kind")
    if not facts.email:
        return SendDecision(False, kind, found.operational, "the person has no email address")
    if found.operational:
        return SendDecision(True, kind, True, f"{kind} is operational: it goes even to opted-out people")
    if facts.opt_out:
        return SendDecision(False, kind, False, f"opted out: no non-operational email ({kind})")
    if facts.opt_out_until is not None and now < facts.opt_out_until:
        return SendDecision(
            False, kind, False, f"temporary opt-out until {facts.opt_out_until:%Y-%m-%d %H:%M} UTC: no {kind}"
        )
    if found.list is not None and found.list not in facts.lists:
        return SendDecision(False, kind, False, f"not subscribed to the {found.list} list")
    on_list = f", on the {found.list} list" if found.list else ""
    return SendDecision(True, kind, False, f"{kind}: not opted out{on_list}")


def temporary_opt_out_end(pb: Playbook, now: dt.datetime) -> dt.datetime:
    """W6: when a temporary opt-out given at `now` ends by itself."""
    return now + dt.timedelta(days=pb.working.subscriptions.temporary_opt_out_days)


# --------------------------------------------------------------------------- W4: passing


def pass_window_days(pb: Playbook, days: int | None) -> int:
    """W4: the days the new owner has to act before the passer is reminded (the playbook's default, or the
    passer's choice within the playbook's bounds)."""
    passing = pb.working.passing
    if passing is None:
        raise InvalidInput("this playbook has no working.passing section", "status")
    if days is None:
        return passing.remind_after_days
    if not passing.min_days <= days <= passing.max_days:
        raise InvalidInput(
            f"the reminder window must be {passing.min_days}-{passing.max_days} days (got {days})", "window_days"
        )
    return days


# --------------------------------------------------------------------------- W7: status timeouts


def timed_out(timeout: StatusTimeoutDef, status: str, entered_at: dt.datetime | None, now: dt.datetime) -> bool:
    """W7: has a record in `status` since `entered_at` stayed there `after_days` or more?"""
    if status not in timeout.statuses or entered_at is None:
        return False
    return now - entered_at >= dt.timedelta(days=timeout.after_days)


def timeout_statuses(timeouts: Iterable[StatusTimeoutDef]) -> set[str]:
    return {s for t in timeouts for s in t.statuses}
