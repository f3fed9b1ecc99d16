"""Passing a qualified lead to sales (W4), and reminding the passer when the new owner does nothing.

004: "Set Lead Status to Qualified and assign the appropriate sales team member as the new owner ... If no action
is taken by the newly assigned sales team member within 1-7 days, follow up with them." `pass_lead` moves the
person to the playbook's pass status through the lifecycle (refused where the playbook forbids the move), gives it
to the sales owner, notifies them (`lead.passed`) and records the pass with its reminder time. The daily
`pass-reminders` job looks at each pass whose window has ended: if the new owner did anything on the record since
the pass (an activity they logged, or a change they made), the pass is marked acted on; otherwise the passer is
reminded once (`lead.pass_reminder`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from leadflow.domain import working
from leadflow.domain.records import Actor, Owner
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.jobs import job
from leadflow.services.lifecycle import owner_of, set_owner, transition
from leadflow.store.db import Store
from leadflow.store.models import Activity, Contact, FieldHistory, Lead, LeadPass, User
from leadflow.store.uow import UnitOfWork, to_json

Person = Lead | Contact

PASS_RULE = "w4-pass-qualified"
REMINDER_RULE = "w4-pass-reminder"
REMINDER_JOB = "pass-reminders"


def pass_lead(uow: UnitOfWork, pb: Playbook, person: Person, to_user_id: str, actor: Actor, now: dt.datetime, *,
              window_days: int | None = None, note: str = "") -> LeadPass:
    """W4: Qualified, owned by the sales member `to_user_id`, who is notified; the passer is the actor."""
    passing = pb.working.passing
    days = working.pass_window_days(pb, window_days)
    assert passing is not None
    target = uow.session.get(User, to_user_id)
    if target is None:
        raise InvalidInput(f"no user with id '{to_user_id}'", "to")
    if not target.active:
        raise InvalidInput(f"user {to_user_id} is inactive and cannot take leads", "to")
    if target.role not in passing.owner_roles:
        raise InvalidInput(
            f"{to_user_id} is a {target.role}; a qualified lead is passed to one of: {', '.join(passing.owner_roles)}",
            "to",
        )
    previous = owner_of(person)
    why = f"passed by {actor.id} to {to_user_id} ({target.role}) (W4)" + (f": {note}" if note else "")
    with uow.changing(actor=actor, now=now, rule=PASS_RULE, why=why):
        if person.status != passing.status:
            transition(uow, pb, person, passing.status, None, actor, now, rule=PASS_RULE, why=why)
        set_owner(person, Owner.user(to_user_id))
        row = LeadPass(subject_type=person.__entity__, subject_id=person.id, passed_by=actor.id,
                       passed_to=to_user_id, passed_at=now, remind_at=now + dt.timedelta(days=days), note=note)
        uow.session.add(row)
        uow.session.flush()
        uow.emit("lead.passed", entity=person, payload={
            "lead" if isinstance(person, Lead) else "contact": person.id,
            "owner": {"type": "user", "id": to_user_id},
            "previous_owner": {"type": previous.type, "id": previous.id} if previous else None,
            "passed_by": actor.id, "notify": [to_user_id], "remind_at": to_json(row.remind_at), "note": note,
            "rule": PASS_RULE, "why": why,
        })
    return row


def owner_acted(uow: UnitOfWork, p: LeadPass, until: dt.datetime) -> dt.datetime | None:
    """When the new owner first did something on the record after the pass (an activity or a change), or None."""
    activity = uow.session.scalar(
        select(Activity.at).where(
            Activity.subject_type == p.subject_type, Activity.subject_id == p.subject_id,
            Activity.actor_id == p.passed_to, Activity.at > p.passed_at, Activity.at <= until,
        ).order_by(Activity.at).limit(1)
    )
    change = uow.session.scalar(
        select(FieldHistory.changed_at).where(
            FieldHistory.entity_type == p.subject_type, FieldHistory.entity_id == p.subject_id,
            FieldHistory.actor_type == "user", FieldHistory.actor_id == p.passed_to,
            FieldHistory.changed_at > p.passed_at, FieldHistory.changed_at <= until,
        ).order_by(FieldHistory.changed_at).limit(1)
    )
    found = [t for t in (activity, change) if t is not None]
    return min(found) if found else None


@job(REMINDER_JOB)
def pass_reminders_job(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
    """W4: each pass whose window has ended is settled once: acted on, or the passer reminded."""
    counts = {"acted": 0, "reminded": 0}
    with store.uow() as uow:
        due = list(uow.session.scalars(
            select(LeadPass).where(LeadPass.reminded_at.is_(None), LeadPass.acted_at.is_(None),
                                   LeadPass.remind_at <= now).order_by(LeadPass.remind_at, LeadPass.id)
        ))
        with uow.changing(actor=Actor.system(REMINDER_JOB), now=now, rule=REMINDER_RULE):
            for p in due:
                acted = owner_acted(uow, p, now)
                if acted is not None:
                    p.acted_at = acted
                    counts["acted"] += 1
                    continue
                p.reminded_at = now
                uow.emit("lead.pass_reminder", payload={
                    p.subject_type: p.subject_id, "pass": p.id, "passed_to": p.passed_to,
                    "passed_at": to_json(p.passed_at), "notify": [p.passed_by], "rule": REMINDER_RULE,
                    "why": f"{p.passed_to} has taken no action on {p.subject_id} since it was passed "
                           f"{p.passed_at:%Y-%m-%d %H:%M} UTC: follow up with them (W4)",
                }, dedupe_key=f"lead.pass_reminder:{p.id}")
                counts["reminded"] += 1
        uow.commit()
    return counts


def passes_of(uow: UnitOfWork, person: Person) -> list[LeadPass]:
    return list(uow.session.scalars(
        select(LeadPass).where(LeadPass.subject_type == person.__entity__, LeadPass.subject_id == person.id)
        .order_by(LeadPass.passed_at)
    ))
