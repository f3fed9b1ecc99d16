"""Read models for people: a lead with its fields and history, and the SDR views (W5), ready to print or serialise."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Select, exists, func, inspect, or_, select

from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.merge import history_with_merged
from leadflow.store.db import Store
from leadflow.store.models import Activity, FieldHistory, Intake, Lead, SequenceEnrollment, Task
from leadflow.store.uow import UnitOfWork, to_json


@dataclass(frozen=True)
class LeadView:
    fields: dict[str, Any]
    history: list[tuple[str, str, str, str, str, str, str]]
    intakes: list[tuple[str, str, str, str]]


def _short(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def history_row(h: FieldHistory, own: bool = True) -> tuple[str, str, str, str, str, str, str]:
    return (
        h.changed_at.strftime("%Y-%m-%d %H:%M:%S"),
        h.field if own else f"{h.field} [{h.entity_type} {h.entity_id}]",
        _short(h.old_value),
        _short(h.new_value),
        f"{h.actor_type}:{h.actor_id}",
        h.rule or "",
        h.why or "",
    )


def lead_view(uow: UnitOfWork, lead_id: str) -> LeadView:
    """A lead's fields (status and owner first) and its full field history."""
    lead = uow.get(Lead, lead_id)
    fields: dict[str, Any] = {
        "status": lead.status,
        "reason": lead.status_reason,
        "owner": f"{lead.owner_type}:{lead.owner_id}" if lead.owner_type else None,
    }
    for attr in inspect(Lead).column_attrs:
        if attr.key not in ("status", "status_reason", "owner_type", "owner_id"):
            fields[attr.key] = to_json(getattr(lead, attr.key))
    rows = history_with_merged(uow, lead)
    intakes = uow.session.scalars(
        select(Intake).where(Intake.subject_type == "lead", Intake.subject_id == lead_id).order_by(Intake.received_at)
    )
    return LeadView(
        fields=fields,
        history=[history_row(h, own=(h.entity_type, h.entity_id) == ("lead", lead_id)) for h in rows],
        intakes=[(i.received_at.strftime("%Y-%m-%d %H:%M:%S"), i.channel, i.outcome, _steps(i.steps)) for i in intakes],
    )


def _steps(steps: list[dict[str, Any]]) -> str:
    """One line per step: its name and what it found."""
    lines = []
    for step in steps:
        rest = {k: v for k, v in step.items() if k != "step" and v not in (None, [], {}, "")}
        lines.append(f"{step.get('step')}: {_short(rest)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- SDR views (W5)

# 002 "SDR Lead Views". A logged phone call is an activity of one of these types; a meeting is a task of
# kind `meeting`, or an activity of a meeting type, dated in the future ("a future last activity date").
CALL_ACTIVITY_TYPES = ("call", "phone_call")
MEETING_ACTIVITY_TYPES = ("meeting",)
MEETING_TASK_KIND = "meeting"

StatementFilter = Callable[[Select[Any]], Select[Any]]


@dataclass(frozen=True)
class SdrViewDef:
    """One SDR view: which open leads it lists, in what order, and what 002 says it is for."""

    name: str
    label: str
    description: str
    statuses: tuple[str, ...]
    high_priority: bool = False
    with_call: bool = False
    to_sequence_only: bool = False


def sdr_views(pb: Playbook) -> dict[str, SdrViewDef]:
    """The SDR views of 002, with the playbook's MQL status (S1 lists the leads that reached it)."""
    mql = pb.scoring.mql_status or "MQL"
    return {v.name: v for v in (
        SdrViewDef("s1-high", "S1 - High Priority",
                   "new leads marked High Priority for a high Propensity To Purchase indication",
                   ("Inquiry", mql, "Accepted"), high_priority=True),
        SdrViewDef("s1", "S1", "net new leads that scored high enough to reach MQL status", (mql,)),
        SdrViewDef("s2", "S2", "existing leads with a logged phone call: the callable pipeline",
                   ("Accepted", "Qualifying"), with_call=True),
        SdrViewDef("s3", "S3", "Qualifying leads; each needs an active sequence, an open task or a future "
                   "meeting (the ones lacking all three are marked to sequence)", ("Qualifying",)),
        SdrViewDef("s3-to-sequence", "S3 - to sequence",
                   "Qualifying leads with no active sequence, no open task and no future meeting",
                   ("Qualifying",), to_sequence_only=True),
    )}


@dataclass(frozen=True)
class SdrRow:
    """One lead of an SDR view, with what S3 checks."""

    id: str
    name: str
    company: str | None
    status: str
    score: int
    owner: str | None
    mql_date: dt.datetime | None
    high_priority: bool
    active_sequence: bool
    open_task: bool
    future_meeting: bool

    @property
    def to_sequence(self) -> bool:
        """002 step 8: no active sequence, no open task and no future meeting: sequence this lead."""
        return not (self.active_sequence or self.open_task or self.future_meeting)

    def as_json(self) -> dict[str, Any]:
        return {**{k: to_json(v) for k, v in asdict(self).items()}, "to_sequence": self.to_sequence}


@dataclass(frozen=True)
class SdrView:
    """A page of an SDR view: its definition, how many leads it holds in all, and the rows shown."""

    definition: SdrViewDef
    total: int
    rows: list[SdrRow]


def view(
    store: Store,
    pb: Playbook,
    name: str,
    now: dt.datetime,
    viewer: str | None = None,
    filter: StatementFilter | None = None,  # noqa: A002  (the name the API layer passes)
    limit: int = 200,
) -> SdrView:
    """SDR view `name` (W5) at `now`: open, unmerged, unconverted leads, oldest work first.

    `viewer`: a user id; only the leads that user owns ("my S1"). None: every owner's.
    `filter`: the caller's visibility rule (P4), a function that takes the view's SELECT on `leads`
    and returns it narrowed (e.g. `leadflow.services.visibility` hiding Public Sector records from
    those not permitted); it is applied to every query the view makes, the rows and the count alike.
    """
    definitions = sdr_views(pb)
    found = definitions.get(name)
    if found is None:
        raise InvalidInput(f"unknown view '{name}'; views: {', '.join(definitions)}", "name")
    known = {s.name for s in pb.statuses}
    missing = [s for s in found.statuses if s not in known]
    if len(missing) == len(found.statuses):
        raise InvalidInput(f"view '{name}' lists leads in {', '.join(found.statuses)}; the playbook "
                           f"'{pb.name}' has none of these statuses", "name")
    if limit < 1:
        raise InvalidInput("limit must be at least 1", "limit")

    lead = Lead.__table__
    active_sequence = exists().where(
        SequenceEnrollment.subject_type == "lead", SequenceEnrollment.subject_id == lead.c.id,
        SequenceEnrollment.state == "active")
    open_task = exists().where(
        Task.subject_type == "lead", Task.subject_id == lead.c.id, Task.status == "open",
        Task.kind != MEETING_TASK_KIND)
    future_meeting = or_(
        exists().where(Task.subject_type == "lead", Task.subject_id == lead.c.id, Task.status == "open",
                       Task.kind == MEETING_TASK_KIND, Task.due_at > now),
        exists().where(Activity.subject_type == "lead", Activity.subject_id == lead.c.id,
                       Activity.type.in_(MEETING_ACTIVITY_TYPES), Activity.at > now),
    )

    def narrowed(stmt: Select[Any]) -> Select[Any]:
        stmt = stmt.where(lead.c.status.in_(found.statuses), lead.c.merged_into_id.is_(None),
                          lead.c.converted_at.is_(None))
        if found.high_priority:
            stmt = stmt.where(lead.c.high_priority.is_(True))
        if found.with_call:
            stmt = stmt.where(exists().where(Activity.subject_type == "lead", Activity.subject_id == lead.c.id,
                                             Activity.type.in_(CALL_ACTIVITY_TYPES)))
        if found.to_sequence_only:
            stmt = stmt.where(~active_sequence, ~open_task, ~future_meeting)
        if viewer is not None:
            stmt = stmt.where(lead.c.owner_type == "user", lead.c.owner_id == viewer)
        return filter(stmt) if filter is not None else stmt

    order = [lead.c.score.desc(), lead.c.mql_date.asc().nulls_last()] if found.high_priority else \
        [lead.c.mql_date.asc().nulls_last()] if found.name == "s1" else [lead.c.updated_at.asc().nulls_first()]
    rows_stmt = narrowed(select(
        lead.c.id, lead.c.first_name, lead.c.last_name, lead.c.company, lead.c.status, lead.c.score,
        lead.c.owner_type, lead.c.owner_id, lead.c.mql_date, lead.c.high_priority,
        active_sequence.label("active_sequence"), open_task.label("open_task"),
        future_meeting.label("future_meeting"),
    ).select_from(lead)).order_by(*order, lead.c.id).limit(limit)
    count_stmt = narrowed(select(func.count()).select_from(lead))
    with store.uow() as uow:
        total = int(uow.session.scalar(count_stmt) or 0)
        rows = [
            SdrRow(id=r.id, name=" ".join(p for p in (r.first_name, r.last_name) if p), company=r.company,
                   status=r.status, score=r.score or 0,
                   owner=f"{r.owner_type}:{r.owner_id}" if r.owner_type else None, mql_date=r.mql_date,
                   high_priority=bool(r.high_priority), active_sequence=bool(r.active_sequence),
                   open_task=bool(r.open_task), future_meeting=bool(r.future_meeting))
            for r in uow.session.execute(rows_stmt)
        ]
    return SdrView(definition=found, total=total, rows=rows)
