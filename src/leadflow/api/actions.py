"""The actions over HTTP (A2): intake per channel, transition, merge, duplicates, match, explain, route,
assign (P3/R10), account owner (P2), simulate, deactivate a user, run a job. Each is a thin call of its service.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.

import asyncio
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from leadflow.api.deps import Ctx, bearer_token, ctx
from leadflow.api.errors import ERROR_RESPONSES
from leadflow.api.records import fetch
from leadflow.domain.matching import LeadRow
from leadflow.errors import NotFound
from leadflow.services.intake_models import LeadIn
from leadflow.services.visibility import visible
from leadflow.store.models import Account, Contact, Lead
from leadflow.store.uow import to_json

router = APIRouter(responses=ERROR_RESPONSES)

Id = Annotated[str, Path(max_length=120)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- intake (I1)


class SubjectOut(BaseModel):
    type: str
    id: str


class IntakeOut(BaseModel):
    """What one intake did, with every pipeline step's outcome."""

    intake: str
    outcome: str
    replayed: bool
    subject: SubjectOut | None
    spam: bool
    duplicate_of: dict[str, str] | None
    matched_account: dict[str, Any] | None
    steps: list[dict[str, Any]]


class ChannelIntakeIn(LeadIn):
    """A person on the channel named in the path."""

    channel: str | None = Field(default=None, max_length=60)  # type: ignore[assignment]


def _out(result: Any) -> IntakeOut:
    return IntakeOut(
        intake=result.intake_id, outcome=result.outcome, replayed=result.replayed,
        subject=SubjectOut(type=result.subject_type, id=result.subject_id)
        if result.subject_id and result.subject_type else None,
        spam=result.spam, duplicate_of=result.duplicate_of, matched_account=result.matched_account(),
        steps=to_json(result.steps),
    )


async def _intake(request: Request, token: str, data: LeadIn) -> IntakeOut:
    """Through the app's group commit (services/intake_batcher.py), which checks the token and its `intake`
    permission in the group's transaction (401, 403 as every endpoint); answered once its group is stored."""
    batcher = request.app.state.intake_batcher
    result = await asyncio.wrap_future(batcher.submit(data, token=token, permission="intake"))
    return _out(result)


@router.post("/leads", response_model=IntakeOut, status_code=201, tags=["leads"], summary="Create a lead (intake)")
async def create_lead(
    body: LeadIn, request: Request, token: Annotated[str, Depends(bearer_token)]
) -> IntakeOut:
    """A lead is created through the intake of its channel (normalise, spam, duplicates, match, score, route)."""
    return await _intake(request, token, body)


@router.post("/intake/{channel}", response_model=IntakeOut, status_code=201, tags=["intake"],
             summary="Take a person in on a channel")
async def intake_channel(
    channel: Annotated[str, Path(min_length=1, max_length=60)], body: ChannelIntakeIn, request: Request,
    token: Annotated[str, Depends(bearer_token)],
) -> IntakeOut:
    """The same pipeline as every channel (I1); a repeated delivery_id makes one record (I2)."""
    data = LeadIn.model_validate({**body.model_dump(exclude_unset=True), "channel": channel})
    return await _intake(request, token, data)


# --------------------------------------------------------------------------- lifecycle (L3, L5)


class TransitionIn(Strict):
    to: str = Field(min_length=1, max_length=60)
    reason: str | None = Field(default=None, max_length=120)


class TransitionOut(BaseModel):
    id: str
    from_status: str
    status: str
    reason: str | None
    owner: SubjectOut | None
    followups: list[dict[str, Any]]


def _person(c: Ctx, record_id: str, field: str = "id") -> Lead | Contact:
    try:
        found: Lead | Contact = fetch(c, Lead, record_id, field_name=field)
    except NotFound:
        found = fetch(c, Contact, record_id, field_name=field)
    return found


def _owner(person: Lead | Contact) -> SubjectOut | None:
    return SubjectOut(type=person.owner_type, id=person.owner_id) if person.owner_type and person.owner_id else None


@router.post("/leads/{lead_id}/transition", response_model=TransitionOut, tags=["leads"])
def transition_lead(lead_id: Id, body: TransitionIn, c: Annotated[Ctx, Depends(ctx("leads.transition"))]) -> Any:
    """Move a lead to another status if the playbook allows it (409 when not, 422 for a missing reason)."""
    from leadflow.services.lifecycle import transition

    lead = fetch(c, Lead, lead_id, for_update=True)
    result = transition(c.uow, c.pb, lead, body.to, body.reason, c.actor, c.now)
    c.uow.commit()
    return TransitionOut(id=lead.id, from_status=result.plan.from_status, status=lead.status,
                         reason=lead.status_reason, owner=_owner(lead),
                         followups=[{"status": f.to_status, "reason": f.reason, "rule": f.rule}
                                    for f in result.followups])


# --------------------------------------------------------------------------- merge, duplicates (M1, M3)


class MergeIn(Strict):
    merged: str = Field(min_length=1, max_length=64, description="Id of the lead merged into the survivor.")


class MergeOut(BaseModel):
    survivor: SubjectOut
    merged: SubjectOut
    choices: list[dict[str, Any]]


@router.post("/leads/{survivor_id}/merge", response_model=MergeOut, tags=["leads"])
def merge_into(survivor_id: Id, body: MergeIn, c: Annotated[Ctx, Depends(ctx("leads.merge"))]) -> Any:
    """Merge lead `merged` into this lead or contact, keeping the oldest Initial Source (M3)."""
    from leadflow.services.merge import merge

    survivor = _person(c, survivor_id, "survivor")
    merged = _person(c, body.merged, "merged")
    result = merge(c.uow, c.pb, survivor, merged, c.actor, c.now)
    c.uow.commit()
    return MergeOut(survivor=SubjectOut(type=result.survivor_type, id=result.survivor_id),
                    merged=SubjectOut(type=result.merged_type, id=result.merged_id),
                    choices=[{"field": ch.field, "rule": ch.rule, "value": to_json(ch.value), "from": ch.source}
                             for ch in result.choices])


class DuplicatesOut(BaseModel):
    id: str
    candidates: list[dict[str, Any]]


@router.get("/leads/{lead_id}/duplicates", response_model=DuplicatesOut, tags=["leads"])
def duplicates(lead_id: Id, c: Annotated[Ctx, Depends(ctx("leads.read"))]) -> Any:
    """The lead's duplicate candidates (M1) with score and evidence; ones you may not see are left out (P4)."""
    lead = fetch(c, Lead, lead_id)
    shown = []
    for candidate in lead.duplicate_candidates or []:
        model = Contact if candidate.get("type") == "contact" else Lead
        found = c.uow.session.scalars(visible(select(model.id).where(model.id == str(candidate.get("id"))),
                                              model, c.principal, c.pb)).first()
        if found is not None:
            shown.append(candidate)
    return DuplicatesOut(id=lead.id, candidates=shown)


# --------------------------------------------------------------------------- match, explain (M2, R1)


class MatchIn(Strict):
    email: str | None = Field(default=None, max_length=320)
    company: str | None = Field(default=None, max_length=300)
    website: str | None = Field(default=None, max_length=500)
    country: str | None = Field(default=None, max_length=80)


class MatchOut(BaseModel):
    account_id: str | None
    confidence: float | None
    evidence: str


@router.post("/match", response_model=MatchOut, tags=["actions"])
def match(body: MatchIn, c: Annotated[Ctx, Depends(ctx("accounts.read"))]) -> Any:
    """Which account a person would match (M2), with the evidence; an account you may not see is no match."""
    from leadflow.services.intake import IntakeEnv

    decision = IntakeEnv(c.uow, c.pb).decide(LeadRow(id="(api)", **body.model_dump()))
    found = decision.match
    if found is not None:
        seen = c.uow.session.scalars(visible(select(Account.id).where(Account.id == found.account_id),
                                             Account, c.principal, c.pb)).first()
        if seen is not None:
            return MatchOut(account_id=found.account_id, confidence=round(found.confidence, 3),
                            evidence=found.evidence)
    # a match to an account hidden from this user (P4) reads exactly like no match at all
    hidden = "no account has this domain or a name like it"
    return MatchOut(account_id=None, confidence=None, evidence=decision.reason if found is None else hidden)


@router.get("/leads/{lead_id}/explain", response_model=dict[str, Any], tags=["leads"])
def explain(lead_id: Id, c: Annotated[Ctx, Depends(ctx("leads.read"))]) -> Any:
    """Why the lead has its score, segment, region, activity, classifications and owner (R1)."""
    from leadflow.services.explain import explain_lead

    fetch(c, Lead, lead_id)
    return to_json(explain_lead(c.uow, lead_id))


# --------------------------------------------------------------------------- routing, ownership (R1, P2, P3)


class RouteOut(BaseModel):
    id: str
    routed: bool
    rule: str
    owner: SubjectOut | None
    why: str
    notify: list[str]
    sla_due: dt.datetime | None
    trace: list[dict[str, Any]]


@router.post("/leads/{lead_id}/route", response_model=RouteOut, tags=["leads"])
def route(lead_id: Id, c: Annotated[Ctx, Depends(ctx("leads.route"))]) -> Any:
    """Route (or re-route) the lead through the playbook's flow now, with the trace of every rule checked."""
    from leadflow.services.routing import route_lead

    lead = fetch(c, Lead, lead_id, for_update=True)
    result = route_lead(c.uow, c.pb, lead, c.actor, c.now)
    c.uow.commit()
    owner = SubjectOut(type=result.owner.type, id=result.owner.id) if result.owner else None
    return RouteOut(id=lead.id, routed=result.routed, rule=result.rule, owner=owner, why=result.why,
                    notify=list(result.notify), sla_due=result.sla_due,
                    trace=[{"rule": t.rule, "matched": t.matched, "why": t.why} for t in result.trace])


class AssignIn(Strict):
    owner_id: str = Field(min_length=1, max_length=64)


@router.post("/leads/{lead_id}/assign", response_model=SubjectOut, tags=["leads"])
def assign(lead_id: Id, body: AssignIn, c: Annotated[Ctx, Depends(ctx("leads.assign"))]) -> Any:
    """Change a lead's owner by hand: to the matched account's owner, or by the current owner (P3);
    to the Sales Admin user only by admins (R10). Refused with 403."""
    from leadflow.services.reassign import assign_lead

    lead = fetch(c, Lead, lead_id, for_update=True)
    owner = assign_lead(c.uow, c.pb, lead, body.owner_id, c.actor, c.now, actor_is_admin=c.principal.admin)
    c.uow.commit()
    return SubjectOut(type=owner.type, id=owner.id)


@router.post("/accounts/{account_id}/owner", response_model=SubjectOut, tags=["accounts"])
def account_owner(account_id: Id, body: AssignIn, c: Annotated[Ctx, Depends(ctx("accounts.owner"))]) -> Any:
    """Change an account's owner if P2 allows you (403 otherwise); a non-admin's change tells both owners."""
    from leadflow.services.ownership import change_account_owner

    account = fetch(c, Account, account_id, for_update=True)
    change_account_owner(c.uow, c.pb, account, body.owner_id, c.principal, c.now)
    c.uow.commit()
    return SubjectOut(type="user", id=account.owner_id or "")


# --------------------------------------------------------------------------- simulate, users, jobs


class SimulateIn(Strict):
    world: dict[str, Any] = Field(default_factory=dict, description="WORLD.json: users, accounts, leads, ...")
    lead: dict[str, Any] = Field(description="LEAD.json: the person arriving, with its channel.")
    now: AwareDatetime | None = None


@router.post("/simulate", response_model=dict[str, Any], tags=["actions"])
def simulate(body: SimulateIn, c: Annotated[Ctx, Depends(ctx("simulate"))]) -> Any:
    """What would happen to LEAD in WORLD under the playbook in force: a throw-away store, nothing written."""
    from leadflow.services.simulate import simulate as run

    return to_json(run(c.pb, body.world, body.lead, body.now or c.now))


class DeactivateOut(BaseModel):
    id: str
    deactivated: bool
    reassigned: int
    sequences_finished: int
    by_rule: dict[str, int]


@router.post("/users/{user_id}/deactivate", response_model=DeactivateOut, tags=["users"])
def deactivate(user_id: Id, c: Annotated[Ctx, Depends(ctx("users.deactivate"))]) -> Any:
    """Deactivate a user and reassign their leads and contacts by the offboarding table (L7)."""
    from leadflow.services.offboard import deactivate_user

    report = deactivate_user(c.uow, c.pb, user_id, c.actor, c.now)
    c.uow.commit()
    return DeactivateOut(id=user_id, deactivated=report.deactivated, reassigned=len(report.reassigned),
                         sequences_finished=report.sequences_finished, by_rule=report.by_rule)


class JobIn(Strict):
    now: AwareDatetime | None = Field(default=None, description="Run for the period containing this time.")


class JobOut(BaseModel):
    job: str
    summary: str


@router.post("/jobs/{name}/run", response_model=JobOut, tags=["jobs"])
def run_job(name: Annotated[str, Path(min_length=1, max_length=80)],
            c: Annotated[Ctx, Depends(ctx("jobs.run"))],
            body: Annotated[JobIn | None, Body()] = None) -> Any:
    """Run a named job for the period containing `now` (idempotent per period, W8)."""
    import leadflow.services.activity_jobs
    import leadflow.services.rescore
    import leadflow.services.segment_review
    import leadflow.services.spam  # noqa: F401  (each registers its jobs)
    from leadflow.services.jobs import run_once

    if not any(j.name == name for j in c.pb.jobs):
        raise NotFound(f"unknown job '{name}'; jobs: {', '.join(j.name for j in c.pb.jobs)}", "name")
    at = body.now if body and body.now else c.now
    c.uow.session.close()  # the job opens its own units of work
    return JobOut(job=name, summary=run_once(c.store, c.pb, name, at))
