"""Soft-BANT (S11): record the four answers; enough of them marks the person ready to pass."""

from __future__ import annotations

import datetime as dt

from leadflow.domain.bant import SoftBant, soft_bant
from leadflow.domain.records import Actor
from leadflow.playbook.schema import Playbook
from leadflow.store.models import Contact, Lead
from leadflow.store.uow import UnitOfWork

ELEMENTS = ("budget", "authority", "need", "timeline")


def record_bant(
    uow: UnitOfWork,
    pb: Playbook,
    person: Lead | Contact,
    answers: dict[str, bool | None],
    actor: Actor,
    now: dt.datetime,
) -> SoftBant:
    """Merge the given answers into the person's Soft-BANT and re-decide ready-to-pass (S11)."""
    merged = {k: (person.bant or {}).get(k) for k in ELEMENTS}
    merged.update({k: v for k, v in answers.items() if k in ELEMENTS})
    verdict = soft_bant(pb.soft_bant, **merged)
    with uow.changing(actor=actor, now=now, rule="soft-bant-answers", why="Soft-BANT answers recorded"):
        uow.set_field(person, "bant", merged, rule="soft-bant-answers", why="Soft-BANT answers recorded")
        uow.set_field(person, "ready_to_pass", verdict.qualified, rule="soft-bant", why=verdict.why)
    return verdict
