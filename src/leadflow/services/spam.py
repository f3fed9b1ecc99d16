"""I6 operations: the domain block list and the SPAM DELETION job (permanent, tombstoned, set-based)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, insert, select

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
CHUNK = 500  # people per unit of work (and per IN list)


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
    """Delete every member of the spam campaign for good; keep a tombstone without personal data.

    Set-based, CHUNK members per unit of work: one DELETE per table per chunk (not per person), so the
    nightly run costs a few statements however many members the campaign has.
    """
    deleted = {"lead": 0, "contact": 0}
    with store.uow() as uow:
        campaign = uow.session.scalars(select(Campaign).where(Campaign.name == pb.intake.spam_campaign)).first()
        if campaign is None:
            return {"deleted_leads": 0, "deleted_contacts": 0, "why": "no spam campaign yet"}
        campaign_id, campaign_name = campaign.id, campaign.name
        members = uow.session.execute(
            select(CampaignMember.subject_type, CampaignMember.subject_id)
            .where(CampaignMember.campaign_id == campaign_id).order_by(CampaignMember.id)
        ).all()
    for kind, model in (("lead", Lead), ("contact", Contact)):
        ids = [subject_id for subject_type, subject_id in members if subject_type == kind]
        for start in range(0, len(ids), CHUNK):
            with store.uow() as uow:
                with uow.changing(actor=Actor.system("job"), now=now, rule=SPAM_RULE,
                                  why=f"member of the {campaign_name} campaign (I6)"):
                    deleted[kind] += _erase_all(uow, model, kind, ids[start:start + CHUNK], now, run_id)
                    # memberships of records already gone (nothing else to erase)
                    uow.session.execute(delete(CampaignMember).where(
                        CampaignMember.campaign_id == campaign_id, CampaignMember.subject_type == kind,
                        CampaignMember.subject_id.in_(ids[start:start + CHUNK])))
                uow.commit()
    return {"deleted_leads": deleted["lead"], "deleted_contacts": deleted["contact"]}


def _erase_all(uow: UnitOfWork, model: type[Lead] | type[Contact], kind: str, ids: list[str], now: dt.datetime,
               run_id: int) -> int:
    """Remove these people and everything personal that points at them; returns how many existed."""
    session = uow.session
    found = session.execute(select(model.id, model.email).where(model.id.in_(ids))).all()
    if not found:
        return 0
    present = [record_id for record_id, _ in found]
    emails = sorted({email for _, email in found if email})
    for linked in (Activity, Task, SequenceEnrollment, CampaignMember):
        session.execute(delete(linked).where(linked.subject_type == kind, linked.subject_id.in_(present)))
    session.execute(delete(Intake).where(Intake.subject_type == kind, Intake.subject_id.in_(present)))
    if emails:  # intakes not linked to the record (e.g. a subscription before the lead existed) keep its address
        lowered = sorted({e.lower() for e in emails})
        session.execute(delete(Intake).where(func.lower(Intake.payload["email"].as_string()).in_(lowered)))
        session.execute(delete(Subscription).where(Subscription.email.in_(emails)))
    session.execute(delete(OutboxEvent).where(OutboxEvent.entity_type == kind, OutboxEvent.entity_id.in_(present),
                                              OutboxEvent.delivered_at.is_(None)))
    session.execute(delete(FieldHistory).where(FieldHistory.entity_type == kind, FieldHistory.entity_id.in_(present)))
    session.execute(insert(Tombstone), [
        {"entity_type": kind, "entity_id": record_id, "deleted_at": now, "rule": SPAM_RULE, "job_run_id": run_id}
        for record_id in present])
    session.execute(delete(model).where(model.id.in_(present)))
    return len(present)
