"""The follow-up SLA after it is set (W3): first response, breach, the hourly breach check and the report.

Routing sets `sla_due_at` (domain/sla.py counts the business days on the owner's region calendar). From then on:

* the first follow-up activity logged on the record (a call, an email, a meeting, a sequence step: the
  playbook's `working.sla.follow_up_activities`) is its first response (`sla_first_response_at`, rule
  `w3-first-response`);
* no follow-up by the due time is a breach: `sla_breached_at` = the due time (rule `w3-sla-breach`), found by the
  hourly `sla-breach` job (or at once when a late follow-up is logged first), and the owner and their manager
  are notified through the outbox (`lead.sla_breached`, once per SLA window);
* `sla_report` lists due, first response and breach per record, and `sla_summary` the compliance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.jobs import job
from leadflow.store.db import Store
from leadflow.store.models import Activity, Contact, Lead, User
from leadflow.store.uow import UnitOfWork, to_json

Person = Lead | Contact
PEOPLE: tuple[type[Lead] | type[Contact], ...] = (Lead, Contact)

FIRST_RESPONSE_RULE = "w3-first-response"
BREACH_RULE = "w3-sla-breach"
BREACH_JOB = "sla-breach"
BREACH_EVENT = "lead.sla_breached"


def known_activity_types(pb: Playbook) -> set[str]:
    """Channels, S10's activity types and the ones logged while working a lead."""
    s10 = set(pb.activity.types if pb.activity else [])
    return {c.name for c in pb.channels} | s10 | set(pb.working.activity_types)


def log_activity(uow: UnitOfWork, pb: Playbook, person: Person, activity_type: str, actor: Actor,
                 now: dt.datetime, *, at: dt.datetime | None = None, details: dict[str, Any] | None = None) -> Activity:
    """Record an activity on a person (a call, an email, a meeting ...); a follow-up may answer the SLA."""
    if activity_type not in known_activity_types(pb):
        raise InvalidInput(f"unknown activity type '{activity_type}'", "type")
    when = at or now
    if when.tzinfo is None:
        raise InvalidInput("the activity time must carry a time zone", "at")
    with uow.changing(actor=actor, now=now, why=f"activity {activity_type} logged"):
        row = Activity(subject_type=person.__entity__, subject_id=person.id, type=activity_type, at=when,
                       details=details or {}, actor_id=actor.id if actor.type == "user" else None)
        uow.session.add(row)
        record_follow_up(uow, pb, person, activity_type, when)
    return row


def record_follow_up(uow: UnitOfWork, pb: Playbook, person: Person, activity_type: str, at: dt.datetime) -> bool:
    """W3: the first follow-up activity of an open SLA window is its first response (inside a change context).
    A follow-up after the due time still answers the request, and flags the breach if the job has not yet."""
    work = pb.working.sla
    if work is None or activity_type not in work.follow_up_activities:
        return False
    if person.sla_due_at is None or person.sla_first_response_at is not None:
        return False
    on_time = at <= person.sla_due_at
    uow.set_field(person, "sla_first_response_at", at, rule=FIRST_RESPONSE_RULE,
                  why=f"first follow-up ({activity_type}) {'on time' if on_time else 'after the due time'}; "
                      f"due {person.sla_due_at:%Y-%m-%d %H:%M} UTC (W3)")
    if not on_time and person.sla_breached_at is None:
        flag_breach(uow, pb, person, f"first follow-up ({activity_type}) came after the due time")
    return True


def flag_breach(uow: UnitOfWork, pb: Playbook, person: Person, why: str) -> list[str]:
    """Store the breach (at the due time) and notify the owner and their manager; returns who was notified."""
    due = person.sla_due_at
    assert due is not None
    uow.set_field(person, "sla_breached_at", due, rule=BREACH_RULE,
                  why=f"no follow-up activity by {due:%Y-%m-%d %H:%M} UTC: {why} (W3)")
    notify = _recipients(uow, pb, person)
    uow.emit(
        BREACH_EVENT,
        entity=person,
        payload={
            "lead" if isinstance(person, Lead) else "contact": person.id,
            "owner": {"type": person.owner_type, "id": person.owner_id} if person.owner_type else None,
            "due": to_json(due),
            "first_response": to_json(person.sla_first_response_at),
            "notify": notify,
            "rule": BREACH_RULE,
            "why": why,
        },
        dedupe_key=f"{BREACH_EVENT}:{person.__entity__}:{person.id}:{due.isoformat()}",
    )
    return notify


def _recipients(uow: UnitOfWork, pb: Playbook, person: Person) -> list[str]:
    work = pb.working.sla
    out: list[str] = []
    if person.owner_type != "user" or person.owner_id is None:
        return out
    owner = uow.session.get(User, person.owner_id)
    if work is None or work.notify_owner:
        out.append(person.owner_id)
    if owner is not None and owner.manager_id and (work is None or work.notify_manager):
        out.append(owner.manager_id)
    return out


@job(BREACH_JOB)
def sla_breach_job(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
    """W3: every SLA whose due time has passed with no follow-up is flagged, and its people notified, once."""
    flagged: list[str] = []
    with store.uow() as uow:
        with uow.changing(actor=Actor.system(BREACH_JOB), now=now, rule=BREACH_RULE):
            for model in PEOPLE:
                stmt = select(model).where(
                    model.sla_due_at.is_not(None), model.sla_due_at <= now,
                    model.sla_first_response_at.is_(None), model.sla_breached_at.is_(None),
                    model.merged_into_id.is_(None),
                )
                found: list[Person] = list(uow.session.scalars(stmt.order_by(model.sla_due_at, model.id)))
                for person in found:
                    flag_breach(uow, pb, person, "the breach check found no follow-up")
                    flagged.append(person.id)
        uow.commit()
    return {"breached": len(flagged), "records": flagged[:50]}


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class SlaRow:
    """One record's SLA: due, first response, breach, and the state they make."""

    entity: str
    id: str
    name: str
    channel: str | None
    region: str | None
    owner: str | None
    due_at: dt.datetime
    first_response_at: dt.datetime | None
    breached_at: dt.datetime | None
    state: str  # met | late (answered after the due time) | breached (no answer yet) | open (not yet due)


def sla_state(due: dt.datetime, first: dt.datetime | None, breached: dt.datetime | None, now: dt.datetime) -> str:
    if first is not None:
        return "met" if first <= due else "late"
    if breached is not None or due <= now:
        return "breached"
    return "open"


def sla_report(uow: UnitOfWork, now: dt.datetime, *, since: dt.datetime | None = None,
               until: dt.datetime | None = None, state: str | None = None,
               narrow: Callable[[Any, Any], Any] | None = None) -> list[SlaRow]:
    """W3: every lead and contact with an SLA due in [since, until), oldest due first; optionally one state.

    `narrow(stmt, model)`: the caller's visibility rule (P4), applied to each query (the API passes it)."""
    if state is not None and state not in ("met", "late", "breached", "open"):
        raise InvalidInput(f"unknown SLA state '{state}'; states: met, late, breached, open", "state")
    rows: list[SlaRow] = []
    for model in PEOPLE:
        stmt = select(model).where(model.sla_due_at.is_not(None), model.merged_into_id.is_(None))
        if since is not None:
            stmt = stmt.where(model.sla_due_at >= since)
        if until is not None:
            stmt = stmt.where(model.sla_due_at < until)
        if narrow is not None:
            stmt = narrow(stmt, model)
        people: list[Person] = list(uow.session.scalars(stmt))
        for p in people:
            assert p.sla_due_at is not None
            row_state = sla_state(p.sla_due_at, p.sla_first_response_at, p.sla_breached_at, now)
            if state is not None and row_state != state:
                continue
            rows.append(SlaRow(
                entity=p.__entity__, id=p.id, name=" ".join(x for x in (p.first_name, p.last_name) if x),
                channel=getattr(p, "channel", None), region=getattr(p, "region", None),
                owner=f"{p.owner_type}:{p.owner_id}" if p.owner_type else None, due_at=p.sla_due_at,
                first_response_at=p.sla_first_response_at, breached_at=p.sla_breached_at, state=row_state,
            ))
    return sorted(rows, key=lambda r: (r.due_at, r.id))


def sla_summary(rows: list[SlaRow]) -> dict[str, Any]:
    """Counts per state and the compliance rate of the decided ones (met / (met + late + breached))."""
    counts = {s: sum(1 for r in rows if r.state == s) for s in ("met", "late", "breached", "open")}
    decided = counts["met"] + counts["late"] + counts["breached"]
    return {**counts, "total": len(rows), "compliance": round(counts["met"] / decided, 4) if decided else None}
