"""I6 operations: the domain block list and the SPAM DELETION job (permanent, tombstoned)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, select

from leadflow.domain.normalise import registrable_domain
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.jobs import job
from leadflow.store.db import Store
from leadflow.store.models import (
    Activity,
    BlockedDomain,
    Campaign,
    CampaignMember,
    Contact,
    FieldHistory,
    Intake,
    Lead,
    OutboxEvent,
    SequenceEnrollment,
    Subscription,
    Task,
    Tombstone,
)
from leadflow.store.uow import UnitOfWork

SPAM_RULE = "spam-deletion"


def block_domain(uow: UnitOfWork, domain: str, reason: str, actor: Actor, now: dt.datetime) -> str:
    """Refuse future leads from `domain` (I6); returns the registrable domain blocked."""
    name = registrable_domain(domain.strip().lower()) or domain.strip().lower()
    if not name or "." not in name:
        raise InvalidInput(f"'{domain}' is not a domain", "domain")
    if uow.session.get(BlockedDomain, name) is None:
        uow.session.add(BlockedDomain(domain=name, reason=reason, blocked_at=now, blocked_by=str(actor)))
    return name


@job("spam-deletion")
def spam_deletion(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
    """Delete every member of the spam campaign for good; keep a tombstone without personal data."""
    deleted = {"lead": 0, "contact": 0}
    with store.uow() as uow:
        campaign = uow.session.scalars(select(Campaign).where(Campaign.name == pb.intake.spam_campaign)).first()
        if campaign is None:
            return {"deleted_leads": 0, "deleted_contacts": 0, "why": "no spam campaign yet"}
        members = list(uow.session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == campaign.id)))
        with uow.changing(actor=Actor.system("job"), now=now, rule=SPAM_RULE,
                          why=f"member of the {campaign.name} campaign (I6)"):
            for member in members:
                model = Lead if member.subject_type == "lead" else Contact
                record = uow.session.get(model, member.subject_id)
                if record is not None:
                    # _erase removes the record's campaign memberships (this one too) in bulk
                    _erase(uow, record, member.subject_type, now, run_id)
                    deleted[member.subject_type] += 1
                else:
                    uow.session.delete(member)
        uow.commit()
    return {"deleted_leads": deleted["lead"], "deleted_contacts": deleted["contact"]}


def _erase(uow: UnitOfWork, record: Lead | Contact, kind: str, now: dt.datetime, run_id: int) -> None:
    """Remove the person and everything personal that points at them."""
    session = uow.session
    email = record.email
    for model in (Activity, Task, SequenceEnrollment, CampaignMember):
        session.execute(delete(model).where(model.subject_type == kind, model.subject_id == record.id))
    session.execute(delete(Intake).where(Intake.subject_type == kind, Intake.subject_id == record.id))
    if email:  # intakes not linked to the record (e.g. a subscription before the lead existed) keep its address
        session.execute(delete(Intake).where(func.lower(Intake.payload["email"].as_string()) == email.lower()))
    session.execute(delete(OutboxEvent).where(OutboxEvent.entity_type == kind, OutboxEvent.entity_id == record.id,
                                              OutboxEvent.delivered_at.is_(None)))
    if email:
        session.execute(delete(Subscription).where(Subscription.email == email))
    session.execute(delete(FieldHistory).where(FieldHistory.entity_type == kind, FieldHistory.entity_id == record.id))
    session.add(Tombstone(entity_type=kind, entity_id=record.id, deleted_at=now, rule=SPAM_RULE, job_run_id=run_id))
    session.delete(record)
