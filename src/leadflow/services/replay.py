"""Replays routing under a changed playbook without writing (issue 6): `leadflow simulate --replay`.

`replay(uow, old_pb, new_pb, now=...)` re-decides every stored open lead under both playbooks and lists the
leads whose decision (owner target or rule) differs, with counts per (old target -> new target, new rule).

Nothing is written: the flow is only asked to decide (`services.routing.decide`), never to apply. Pools are
reported as `pool:<id>/<region>` - no round-robin turn is taken, no credit row is created or locked. The
default owner (R10) is named through the same read-only lookup routing uses. Open leads are those not merged,
not converted, not spam, and not in an exit status (Qualified, or a status that needs a reason: Disqualified,
Recycle, Ineligible); leads below the new playbook's routing threshold are included as "not routed".
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from sqlalchemy import select, text

from leadflow.domain.routing import Assignment, Decision
from leadflow.errors import LeadflowError
from leadflow.playbook.schema import Playbook
from leadflow.services.csvsafe import SafeWriter
from leadflow.services.routing import Pools, decide, default_owner_user
from leadflow.store.models import Lead
from leadflow.store.uow import UnitOfWork

QUALIFIED = "Qualified"
CSV_HEADER = ("lead_id", "email", "status", "old_rule", "old_target", "new_rule", "new_target")


@dataclass(frozen=True)
class ReplayRow:
    """One lead whose decision differs between the playbooks."""

    lead_id: str
    email: str | None
    status: str
    old_rule: str
    old_target: str
    new_rule: str
    new_target: str


@dataclass
class ReplayReport:
    """What the new playbook would change: the leads considered, those that differ, grouped counts."""

    considered: int = 0
    not_routed: int = 0  # below the new playbook's routing threshold
    rows: list[ReplayRow] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.rows)

    @property
    def counts(self) -> list[tuple[str, str, str, int]]:
        """(old target, new target, new rule, leads), most leads first."""
        tally = Counter((r.old_target, r.new_target, r.new_rule) for r in self.rows)
        return [(o, n, rule, c) for (o, n, rule), c in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))]

    def write_csv(self, stream: IO[str]) -> None:
        """The changed leads as CSV, every cell escaped against formula injection."""
        writer = SafeWriter(stream)
        writer.writerow(CSV_HEADER)
        for r in self.rows:
            writer.writerow((r.lead_id, r.email, r.status, r.old_rule, r.old_target, r.new_rule, r.new_target))


def exit_statuses(pb: Playbook) -> set[str]:
    """Statuses a lead has left the funnel in: Qualified and every status that needs a reason."""
    return {QUALIFIED} | {s.name for s in pb.statuses if s.needs_reason}


def open_leads(uow: UnitOfWork, old_pb: Playbook, new_pb: Playbook) -> Iterator[Lead]:
    """Stored live leads in an open status (under either playbook), by id."""
    exits = exit_statuses(old_pb) | exit_statuses(new_pb)
    stmt = (
        select(Lead)
        .where(
            Lead.status.not_in(sorted(exits)),
            Lead.merged_into_id.is_(None),
            Lead.converted_at.is_(None),
            Lead.spam.is_(False),
        )
        .order_by(Lead.id)
    )
    yield from uow.session.scalars(stmt)


def target(decision: Decision, pools: Pools, pb: Playbook) -> str:
    """Where a decision sends the lead, without taking a turn: `user:x`, `queue:Q`, `pool:id/region`..."""
    assign: Assignment = decision.assign
    if assign.kind == "pool":
        label = f"pool:{assign.id}/{assign.key}" if assign.key else f"pool:{assign.id}"
    elif assign.kind == "default_owner":
        label = f"default_owner:{default_owner_user(pools, pb) or pb.default_owner_role}"
    elif assign.kind == "keep":
        label = "keep"
    else:
        label = f"{assign.kind}:{assign.id}"
    return label if decision.routed else f"not routed ({label})"


def replay(uow: UnitOfWork, old_pb: Playbook, new_pb: Playbook, *, now: dt.datetime) -> ReplayReport:
    """Re-decide every open lead under `old_pb` and `new_pb`; nothing is written (the session stays clean)."""
    session = uow.session
    old_pools, new_pools = Pools(uow, old_pb, now), Pools(uow, new_pb, now)
    report = ReplayReport()
    for lead in open_leads(uow, old_pb, new_pb):
        report.considered += 1
        old = decide(uow, old_pb, lead, now, old_pools)
        new = decide(uow, new_pb, lead, now, new_pools)
        if not new.routed:
            report.not_routed += 1
        old_target, new_target = target(old, old_pools, old_pb), target(new, new_pools, new_pb)
        if (old.rule, old_target) != (new.rule, new_target):
            report.rows.append(ReplayRow(lead.id, lead.email, lead.status, old.rule, old_target, new.rule,
                                         new_target))
    if session.new or session.dirty or session.deleted:  # a guard: replay must never change the store
        session.rollback()
        raise LeadflowError("replay changed records in its session; nothing was written", "replay")
    return report


def begin_read_only(uow: UnitOfWork) -> None:
    """Make the unit of work's transaction refuse writes (PostgreSQL: READ ONLY; SQLite: query_only).

    Call before anything else in the unit of work."""
    session = uow.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET TRANSACTION READ ONLY"))
    elif session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA query_only = ON"))


def end_read_only(uow: UnitOfWork) -> None:
    """Undo `begin_read_only` on SQLite, whose pragma outlives the transaction on a pooled connection."""
    session = uow.session
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA query_only = OFF"))
    session.rollback()

