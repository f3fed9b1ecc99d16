"""Time-based moves of people nobody is working: the Inquiry clean-up (W2) and status timeouts (W7).

* `inquiry-cleanup` (22:30 US Eastern in the default playbook): every lead or contact in a status whose
  `hand_to_queue` is `unless_in_active_sequence` (Inquiry) and in no active sequence is handed to that status's
  queue (rule `w2-inquiry-cleanup`); one in an active sequence keeps its owner.
* `status-timeouts` (the legacy playbook's cadence): a record that has been in one of a timeout's statuses for
  `after_days` moves to its target through the lifecycle (Attempt 1-4 -> Nurture after 21 days). The time in
  status is read from field history: the last change of `status`, else the record's creation.

Both only change what is due, so running them again for the same period (or late) does nothing twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, exists, func, or_, select

from leadflow.domain import working
from leadflow.domain.records import Actor
from leadflow.playbook.schema import Playbook
from leadflow.services.jobs import job
from leadflow.services.lifecycle import transition
from leadflow.store.db import Store
from leadflow.store.models import Contact, FieldHistory, Lead, SequenceEnrollment
from leadflow.store.uow import CREATED, UnitOfWork

CLEANUP_JOB = "inquiry-cleanup"
CLEANUP_RULE = "w2-inquiry-cleanup"
TIMEOUT_JOB = "status-timeouts"


@job(CLEANUP_JOB)
def inquiry_cleanup_job(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
    """W2: hand unsequenced records of the `unless_in_active_sequence` statuses to their queues."""
    moved: dict[str, int] = {}
    with store.uow() as uow:
        with uow.changing(actor=Actor.system(CLEANUP_JOB), now=now, rule=CLEANUP_RULE):
            for status in pb.statuses:
                if status.hand_to_queue != "unless_in_active_sequence" or status.queue is None:
                    continue
                for model in (Lead, Contact):
                    for person in _unsequenced(uow, model, status.name, status.queue):
                        uow.set_field(person, "owner_type", "queue", rule=CLEANUP_RULE,
                                      why=f"{status.name} and in no active sequence: to the {status.queue} (W2)")
                        uow.set_field(person, "owner_id", status.queue, rule=CLEANUP_RULE,
                                      why=f"{status.name} and in no active sequence: to the {status.queue} (W2)")
                        moved[status.name] = moved.get(status.name, 0) + 1
        uow.commit()
    return {"moved": moved}


def _unsequenced(uow: UnitOfWork, model: type[Lead] | type[Contact], status: str, queue: str) -> list[Any]:
    in_sequence = exists().where(
        SequenceEnrollment.subject_type == model.__entity__, SequenceEnrollment.subject_id == model.id,
        SequenceEnrollment.state == "active",
    )
    not_in_queue = or_(model.owner_type.is_(None), model.owner_type != "queue", model.owner_id != queue)
    stmt = select(model).where(model.status == status, model.merged_into_id.is_(None), not_in_queue, ~in_sequence)
    return list(uow.session.scalars(stmt.order_by(model.id)))


@job(TIMEOUT_JOB)
def status_timeouts_job(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
    """W7: records that stayed in a timeout's status for its days move on, each by the timeout's rule."""
    moved: dict[str, int] = {}
    actor = Actor.system(TIMEOUT_JOB)
    for timeout in pb.working.status_timeouts:
        cutoff = now - dt.timedelta(days=timeout.after_days)
        for model in (Lead, Contact):
            with store.uow() as uow:
                for person, entered in _entered(uow, model, timeout.statuses, cutoff):
                    if not working.timed_out(timeout, person.status, entered, now):
                        continue
                    transition(uow, pb, person, timeout.to, timeout.reason, actor, now, rule=timeout.id,
                               why=f"{person.status} since {entered:%Y-%m-%d} ({timeout.after_days}+ days without "
                                   f"response) (W7)")
                    moved[timeout.id] = moved.get(timeout.id, 0) + 1
                uow.commit()
    return {"moved": moved}


def _entered(uow: UnitOfWork, model: type[Lead] | type[Contact], statuses: list[str],
             cutoff: dt.datetime) -> list[tuple[Any, dt.datetime]]:
    """People in `statuses` with the time they entered it, for those who entered at or before `cutoff`."""
    last_change = (
        select(FieldHistory.entity_id, func.max(FieldHistory.changed_at).label("entered"))
        .where(FieldHistory.entity_type == model.__entity__,
               FieldHistory.field.in_(("status", CREATED)))
        .group_by(FieldHistory.entity_id)
        .subquery()
    )
    stmt = (
        select(model, last_change.c.entered)
        .join(last_change, and_(last_change.c.entity_id == model.id))
        .where(model.status.in_(statuses), model.merged_into_id.is_(None), last_change.c.entered <= cutoff)
        .order_by(model.id)
    )
    return [(person, entered) for person, entered in uow.session.execute(stmt)]

