"""Sequences (W1): create one, enroll a person, and the one entry point for the engagement tool's events.

`handle_engagement_event(store, pb, payload, now)` is what the API, the inbound webhook and the CLI call with an
Outreach-style event: step_completed, email_replied, sequence_finished or person_inactive, for a person (id or
email) in a sequence. It keeps the event once (`event_id`, else a natural key: repeating a delivery changes
nothing), updates the enrollment, logs the event as an activity (a step done is a follow-up for the SLA, W3),
and fires the playbook's `working.sequences.rules` in order: a lifecycle transition named by the rule's id, or a
deferred one (sequence finished without reply: Recycle seven days later, by the `sequence-no-response` job).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from leadflow.domain import working
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput, NotFound
from leadflow.playbook.schema import EngagementEventType, Playbook
from leadflow.services import sla_jobs, subscriptions
from leadflow.services.jobs import job
from leadflow.services.lifecycle import transition
from leadflow.store.db import Store
from leadflow.store.models import Contact, EngagementEvent, Lead, Sequence, SequenceEnrollment, User
from leadflow.store.uow import UnitOfWork, to_json

Person = Lead | Contact

ENGAGEMENT_ACTOR = "engagement-tool"
NO_RESPONSE_JOB = "sequence-no-response"
ENROLL_KIND = "sales_sequence"  # the message kind of sequence emails (W6): opted-out people are not enrolled
NEEDS_SEQUENCE = ("step_completed", "email_replied", "sequence_finished")


class EngagementEventIn(BaseModel):
    """An Outreach-style engagement event, as the tool posts it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: EngagementEventType
    event_id: str | None = Field(default=None, min_length=1, max_length=200)
    person_id: str | None = Field(default=None, min_length=1, max_length=64)
    email: str | None = Field(default=None, min_length=3, max_length=320)
    sequence_id: str | None = Field(default=None, min_length=1, max_length=64)
    step: int | None = Field(default=None, ge=1)
    occurred_at: dt.datetime | None = None
    actor_id: str | None = Field(default=None, min_length=1, max_length=64)


def parse_event(payload: dict[str, Any]) -> EngagementEventIn:
    """The payload as an event, or InvalidInput naming the first bad field."""
    try:
        data = EngagementEventIn.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "payload"
        raise InvalidInput(first["msg"].removeprefix("Value error, "), field) from None
    if data.person_id is None and data.email is None:
        raise InvalidInput("give person_id or email", "person_id")
    if data.type in NEEDS_SEQUENCE and data.sequence_id is None:
        raise InvalidInput(f"a {data.type} event needs sequence_id", "sequence_id")
    if data.type == "step_completed" and data.step is None:
        raise InvalidInput("a step_completed event needs step", "step")
    if data.occurred_at is not None and data.occurred_at.tzinfo is None:
        raise InvalidInput("occurred_at must carry a time zone", "occurred_at")
    return data


# --------------------------------------------------------------------------- sequences and enrollment


def create_sequence(uow: UnitOfWork, name: str, steps: list[str], actor: Actor, now: dt.datetime) -> Sequence:
    """A new sequence with its steps in order (1 = the first)."""
    title = name.strip()
    if not title:
        raise InvalidInput("a sequence needs a name", "name")
    if not steps or any(not s.strip() for s in steps):
        raise InvalidInput("a sequence needs at least one step, each with a name", "steps")
    if uow.session.scalars(select(Sequence).where(Sequence.name == title)).first() is not None:
        raise InvalidInput(f"a sequence named '{title}' exists already", "name")
    with uow.changing(actor=actor, now=now, why=f"sequence {title} created"):
        seq = Sequence(name=title, steps=[{"step": i, "name": s.strip()} for i, s in enumerate(steps, 1)])
        uow.session.add(seq)
    return seq


def find_person(uow: UnitOfWork, person_id: str | None, email: str | None) -> Person:
    """A live lead or contact by id (following a merge to its survivor) or by email (a lead first)."""
    if person_id is not None:
        found: Person | None = uow.session.get(Lead, person_id) or uow.session.get(Contact, person_id)
        if found is None:
            raise NotFound(f"no lead or contact with id '{person_id}'", "person_id")
        for _ in range(10):
            if found is None or found.merged_into_id is None:
                break
            found = (uow.session.get(Contact, found.merged_into_id) if found.merged_into_type == "contact"
                     else uow.session.get(Lead, found.merged_into_id))
        if found is None:
            raise NotFound(f"'{person_id}' was merged into a record that no longer exists", "person_id")
        return found
    address = (email or "").strip().lower()
    lead = uow.session.scalars(
        select(Lead).where(Lead.email == address, Lead.merged_into_id.is_(None)).order_by(Lead.created_at, Lead.id)
    ).first()
    if lead is not None:
        return lead
    contact = uow.session.scalars(
        select(Contact).where(Contact.email == address, Contact.merged_into_id.is_(None))
        .order_by(Contact.created_at, Contact.id)
    ).first()
    if contact is not None:
        return contact
    raise NotFound(f"no lead or contact with email '{address}'", "email")


def active_enrollments(uow: UnitOfWork, person: Person) -> list[SequenceEnrollment]:
    return list(uow.session.scalars(
        select(SequenceEnrollment).where(
            SequenceEnrollment.subject_type == person.__entity__, SequenceEnrollment.subject_id == person.id,
            SequenceEnrollment.state == "active",
        ).order_by(SequenceEnrollment.enrolled_at, SequenceEnrollment.id)
    ))


def enroll(uow: UnitOfWork, pb: Playbook, person: Person, sequence_id: str, actor: Actor, now: dt.datetime, *,
           owner_id: str | None = None) -> SequenceEnrollment:
    """Put a person in a sequence; refused for an inactive or opted-out person, or one already in it."""
    seq = uow.get(Sequence, sequence_id, "sequence_id")
    if not seq.active:
        raise InvalidInput(f"sequence {seq.name} is not active", "sequence_id")
    if person.inactive:
        raise InvalidInput(f"{person.id} is marked inactive (no longer at the company)", "person_id")
    if pb.working.subscriptions.kind(ENROLL_KIND) is not None:
        decision = subscriptions.may_send(uow, pb, person, ENROLL_KIND, now)
        if not decision.allowed:
            raise InvalidInput(f"{person.id} may not get sequence emails: {decision.why}", "person_id")
    if any(e.sequence_id == seq.id for e in active_enrollments(uow, person)):
        raise InvalidInput(f"{person.id} is already in sequence {seq.name}", "sequence_id")
    owner = owner_id or (person.owner_id if person.owner_type == "user" else None)
    if owner is not None and uow.session.get(User, owner) is None:
        raise InvalidInput(f"no user with id '{owner}'", "owner_id")
    with uow.changing(actor=actor, now=now, why=f"enrolled in sequence {seq.name}"):
        row = SequenceEnrollment(sequence_id=seq.id, subject_type=person.__entity__, subject_id=person.id,
                                 owner_id=owner, state="active", current_step=0, enrolled_at=now)
        uow.session.add(row)
    return row


def finish_sequences(uow: UnitOfWork, person: Person, now: dt.datetime) -> list[str]:
    """End every running sequence of a person; returns the enrollment ids."""
    done = []
    for row in active_enrollments(uow, person):
        row.state = "finished"
        row.finished_at = now
        done.append(row.id)
    uow.session.flush()
    return done


def mark_inactive(uow: UnitOfWork, pb: Playbook, person: Person, actor: Actor, now: dt.datetime) -> dict[str, Any]:
    """The Inactive checkbox (002): the same as a person_inactive event from the engagement tool."""
    with uow.changing(actor=actor, now=now, why="marked inactive by hand"):
        applied = _apply_rules(uow, pb, person, "person_inactive", None, now, actor, None, now)
        if not person.inactive:  # no playbook rule marks it: the checkbox still does
            uow.set_field(person, "inactive", True, rule="manual-inactive", why="marked inactive by hand")
    return applied


# --------------------------------------------------------------------------- the engagement event


def _event_key(data: EngagementEventIn, person: Person, occurred: dt.datetime) -> str:
    if data.event_id is not None:
        return f"id:{data.event_id}"
    step = str(data.step or "")
    return ":".join((data.type, person.__entity__, person.id, data.sequence_id or "", step, occurred.isoformat()))


def _enrollment(uow: UnitOfWork, person: Person, data: EngagementEventIn, occurred: dt.datetime,
                actor_id: str | None) -> SequenceEnrollment | None:
    if data.sequence_id is None:
        return None
    seq = uow.get(Sequence, data.sequence_id, "sequence_id")
    stmt = select(SequenceEnrollment).where(
        SequenceEnrollment.sequence_id == seq.id, SequenceEnrollment.subject_type == person.__entity__,
        SequenceEnrollment.subject_id == person.id,
    )
    rows = list(uow.session.scalars(stmt.order_by(SequenceEnrollment.enrolled_at.desc(), SequenceEnrollment.id)))
    row = next((r for r in rows if r.state == "active"), rows[0] if rows else None)
    if row is None:
        # the tool enrolled the person itself: keep its enrollment so W2 and the views see it
        owner = actor_id if actor_id and uow.session.get(User, actor_id) else None
        row = SequenceEnrollment(sequence_id=seq.id, subject_type=person.__entity__, subject_id=person.id,
                                 owner_id=owner, state="active", current_step=0, enrolled_at=occurred)
        uow.session.add(row)
    if data.type == "step_completed" and data.step is not None:
        steps = len(seq.steps or [])
        if steps and data.step > steps:
            raise InvalidInput(f"sequence {seq.name} has {steps} step(s), not {data.step}", "step")
        row.current_step = max(row.current_step or 0, data.step)
    elif data.type == "email_replied":
        row.replied_at = row.replied_at or occurred
    elif data.type == "sequence_finished" and row.state == "active":
        row.state = "finished"
        row.finished_at = occurred
    uow.session.flush()
    return row


def handle_engagement_event(store: Store, pb: Playbook, payload: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """W1: apply one engagement-tool event (see the module's docstring) and commit; returns what it did, with why."""
    with store.uow() as uow:
        outcome = apply_engagement_event(uow, pb, payload, now)
        uow.commit()
    return outcome


def apply_engagement_event(uow: UnitOfWork, pb: Playbook, payload: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """As `handle_engagement_event`, inside the caller's unit of work (the API's, the webhook receiver's),
    which commits it; an event already applied returns its stored outcome marked `duplicate`."""
    data = parse_event(payload)
    occurred = (data.occurred_at or now).astimezone(dt.UTC)
    person = find_person(uow, data.person_id, data.email)
    key = _event_key(data, person, occurred)
    seen = uow.session.scalars(select(EngagementEvent).where(EngagementEvent.event_key == key)).first()
    if seen is not None:
        return {**seen.outcome, "duplicate": True}
    actor_id = data.actor_id
    actor = Actor.system(ENGAGEMENT_ACTOR)
    with uow.changing(actor=actor, now=now, why=f"engagement event {data.type}"):
        enrollment = _enrollment(uow, person, data, occurred, actor_id)
        # a step is done by the user running the sequence; a reply, a finish or an inactive mark is not theirs
        doer = (actor_id or (enrollment.owner_id if enrollment is not None else None)
                if data.type == "step_completed" else None)
        activity_type = pb.working.sequences.activity_types.get(data.type)
        if activity_type is not None:
            sla_jobs.log_activity(
                uow, pb, person, activity_type, Actor.user(doer) if doer else actor, now, at=occurred,
                details={"sequence_id": data.sequence_id, "step": data.step, "event": key},
            )
        applied = _apply_rules(uow, pb, person, data.type, data.step, occurred, actor, enrollment, now, doer)
        outcome = {
            "event": data.type, "person": {"type": person.__entity__, "id": person.id},
            "sequence_id": data.sequence_id, "step": data.step, "occurred_at": to_json(occurred),
            "enrollment": enrollment.id if enrollment is not None else None, "status": person.status,
            **applied, "duplicate": False,
        }
        uow.session.add(EngagementEvent(
            event_key=key, type=data.type, subject_type=person.__entity__, subject_id=person.id,
            sequence_id=data.sequence_id, enrollment_id=enrollment.id if enrollment else None, step=data.step,
            occurred_at=occurred, received_at=now, outcome=to_json(outcome),
            pending_rule=applied["pending"]["rule"] if applied["pending"] else None,
            due_at=dt.datetime.fromisoformat(applied["pending"]["due_at"]) if applied["pending"] else None,
        ))
    return outcome


def _apply_rules(uow: UnitOfWork, pb: Playbook, person: Person, event: str, step: int | None,
                 occurred: dt.datetime, actor: Actor, enrollment: SequenceEnrollment | None,
                 now: dt.datetime, doer: str | None = None) -> dict[str, Any]:
    checked: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None
    for rule in working.rules_for(pb, event):
        check = working.check_rule(rule, event, step, person.status)
        checked.append({"rule": rule.id, "fires": check.fires, "why": check.why})
        if not check.fires:
            continue
        if rule.set_inactive:
            uow.set_field(person, "inactive", True, rule=rule.id, why=f"marked inactive ({event}) (W1)")
        if rule.finish_sequences:
            checked[-1]["finished"] = finish_sequences(uow, person, occurred)
        if rule.take_ownership and person.owner_type != "user" and doer is not None:
            user = uow.session.get(User, doer)
            if user is not None and user.active:
                why = f"{doer} ran step {step} of a sequence on a queue-owned record (W1)"
                uow.set_field(person, "owner_type", "user", rule=rule.id, why=why)
                uow.set_field(person, "owner_id", doer, rule=rule.id, why=why)
                checked[-1]["owner"] = doer
        if rule.to is None:
            continue
        if rule.after_days:
            due = occurred + dt.timedelta(days=rule.after_days)
            pending = {"rule": rule.id, "to": rule.to, "reason": rule.reason, "due_at": to_json(due)}
            continue
        where = f" in sequence {enrollment.sequence_id}" if enrollment is not None else ""
        where += f" at step {step}" if step else ""
        transition(uow, pb, person, rule.to, rule.reason, actor, now, rule=rule.id,
                   why=f"{event}{where}: {check.why} (W1)")
    return {"rules": checked, "pending": pending}


# --------------------------------------------------------------------------- the deferred no-response rule


@job(NO_RESPONSE_JOB)
def no_response_job(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
    """W1: a sequence finished without reply moves the person (Recycle - No response) once its days have passed,
    if there is still no reply and the status is still one the rule moves; otherwise the wait is settled."""
    counts = {"moved": 0, "replied": 0, "moved_on": 0, "rule_gone": 0}
    with store.uow() as uow:
        ids = list(uow.session.scalars(
            select(EngagementEvent.id).where(
                EngagementEvent.settled_at.is_(None), EngagementEvent.pending_rule.is_not(None),
                EngagementEvent.due_at <= now,
            ).order_by(EngagementEvent.due_at, EngagementEvent.id)
        ))
    actor = Actor.system(NO_RESPONSE_JOB)
    for event_id in ids:
        with store.uow() as uow:
            ev = uow.get(EngagementEvent, event_id)
            outcome = _settle(uow, pb, ev, actor, now)
            counts[outcome] += 1
            with uow.changing(actor=actor, now=now):
                ev.settled_at = now
                ev.outcome = {**ev.outcome, "settled": outcome, "settled_at": to_json(now)}
            uow.commit()
    return counts


def _settle(uow: UnitOfWork, pb: Playbook, ev: EngagementEvent, actor: Actor, now: dt.datetime) -> str:
    rule = working.sequence_rule(pb, ev.pending_rule or "")
    if rule is None or rule.to is None:
        return "rule_gone"
    person: Person | None = (uow.session.get(Contact, ev.subject_id) if ev.subject_type == "contact"
                             else uow.session.get(Lead, ev.subject_id))
    if person is None or person.merged_into_id is not None:
        return "moved_on"
    replied = uow.session.scalars(select(EngagementEvent.id).where(
        EngagementEvent.subject_type == ev.subject_type, EngagementEvent.subject_id == ev.subject_id,
        EngagementEvent.type == "email_replied", EngagementEvent.occurred_at >= ev.occurred_at,
    ).limit(1)).first()
    enrollment = uow.session.get(SequenceEnrollment, ev.enrollment_id) if ev.enrollment_id else None
    if replied is not None or (enrollment is not None and enrollment.replied_at is not None):
        return "replied"
    if rule.from_ and person.status not in rule.from_:
        return "moved_on"
    transition(uow, pb, person, rule.to, rule.reason, actor, now, rule=rule.id,
               why=f"sequence {ev.sequence_id} finished {ev.occurred_at:%Y-%m-%d} and no reply in "
                   f"{rule.after_days} days (W1)")
    return "moved"
