"""Decides which member of a round-robin pool gets the next lead (R9): a smooth weighted round robin.

Pure: the service reads the pool's members under a row lock (``SELECT ... FOR UPDATE``), calls
`choose`, and stores the new credits and counts in the same transaction, so that no two workers
give the same turn. Nothing here reads a clock or a database.

How a turn is given (nginx's smooth weighted round robin): every *available* member earns its
weight in credit; the member with the most credit gets the lead and pays the total weight of the
available members. Ties go to the member with fewer leads so far, then to the smaller id, so the
choice is deterministic.

Fairness, and how it is measured: over N turns with the same members available, member i gets
``N * w_i / W`` turns to within one turn, so the measure ``max_i |count_i / N - w_i / W|`` (each
member's share against its weight share) is at most 1/N. A member is never starved (it earns
credit every turn until it is the richest) nor favoured (it pays for every lead it gets).

Away and coming back: an inactive, out-of-office, at-capacity or zero-weight member neither earns
nor pays while away; it keeps its credit, which is bounded by the pool's total weight. So a member
coming back rejoins the rotation where it left off, at most one turn ahead, and is never flooded
with the turns it missed (a "lowest count first" rule would hand it every lead until it caught up).
A new member starts with credit 0, like everyone's average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """One pool member as the service reads it: the user's weight, availability, capacity, counts and
    stored round-robin credit."""

    id: str
    weight: int = 1
    active: bool = True
    out_of_office: bool = False
    capacity_day: int | None = None  # None: no daily limit
    capacity_week: int | None = None  # None: no weekly limit
    assigned_today: int = 0
    assigned_week: int = 0
    assigned_total: int = 0
    credit: int = 0  # the stored smooth-round-robin credit ("current weight"); 0 for a new member

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"member {self.id}: weight {self.weight} is negative")


@dataclass(frozen=True)
class Choice:
    """Who gets the lead (None when nobody is available), why, and every member's credit after the turn."""

    member_id: str | None
    why: str
    credits: tuple[tuple[str, int], ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (member id, why it could not take a turn)

    def credit_of(self, member_id: str) -> int | None:
        """The credit to store for `member_id` after this turn."""
        return next((c for m, c in self.credits if m == member_id), None)


def unavailable_because(member: Member) -> str | None:
    """Why `member` cannot take a turn now (inactive, out of office, at capacity, weight 0), or None."""
    if not member.active:
        return "inactive"
    if member.out_of_office:
        return "out of office"
    if member.weight == 0:
        return "weight 0"
    if member.capacity_day is not None and member.assigned_today >= member.capacity_day:
        return f"at daily capacity {member.assigned_today}/{member.capacity_day}"
    if member.capacity_week is not None and member.assigned_week >= member.capacity_week:
        return f"at weekly capacity {member.assigned_week}/{member.capacity_week}"
    return None


def has_available(members: Sequence[Member]) -> bool:
    """True when some member can take a turn: what the routing flow asks before naming a pool."""
    return any(unavailable_because(m) is None for m in members)


def choose(members: Sequence[Member]) -> Choice:
    """Give the next turn of a pool: the available member with the most credit after this turn's earnings."""
    ids = [m.id for m in members]
    if len(set(ids)) != len(ids):
        raise ValueError("a member is listed twice")
    skipped = tuple((m.id, why) for m in members if (why := unavailable_because(m)) is not None)
    away = {member_id for member_id, _ in skipped}
    available = [m for m in members if m.id not in away]
    if not available:
        reasons = "; ".join(f"{member_id} {why}" for member_id, why in skipped) or "the pool has no members"
        return Choice(None, f"no available member ({reasons})", tuple((m.id, m.credit) for m in members), skipped)
    total = sum(m.weight for m in available)
    # A credit kept from a time when the pool was larger is capped, so nobody comes back owed many turns.
    earned = {m.id: max(-total, min(total, m.credit)) + m.weight for m in available}
    chosen = min(available, key=lambda m: (-earned[m.id], m.assigned_total, m.id))
    earned[chosen.id] -= total
    credits = tuple((m.id, earned.get(m.id, m.credit)) for m in members)
    why = f"{chosen.id}: most round-robin credit among {len(available)} available (weight {chosen.weight} of {total})"
    if skipped:
        why += "; skipped " + ", ".join(f"{member_id} ({reason})" for member_id, reason in skipped)
    return Choice(chosen.id, why, credits, skipped)
