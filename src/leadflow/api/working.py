"""Working leads over HTTP (W1, W3-W6): engagement events, SDR views, passing, opt-outs, the SLA report.

Every endpoint applies the same visibility rule (P4) as the record endpoints: a person the principal
may not see answers 404, and a view or report never lists nor counts one.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from leadflow.api.deps import Ctx, ctx
from leadflow.api.errors import ERROR_RESPONSES
from leadflow.api.records import fetch
from leadflow.errors import NotFound
from leadflow.services import passing, sequences, sla_jobs, subscriptions, views
from leadflow.services.visibility import visible
from leadflow.store.models import Contact, Lead
from leadflow.store.uow import to_json

router = APIRouter(responses=ERROR_RESPONSES)
Id = Annotated[str, Path(min_length=1, max_length=64)]


def _person(c: Ctx, record_id: str, field: str = "id") -> Lead | Contact:
    try:
        found: Lead | Contact = fetch(c, Lead, record_id, field_name=field)
    except NotFound:
        found = fetch(c, Contact, record_id, field_name=field)
    return found


# --------------------------------------------------------------------------- W1 engagement events


class EngagementEventIn(BaseModel):
    """One event of the sales engagement tool (the same shape its webhook posts)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["step_completed", "email_replied", "sequence_finished", "person_inactive"]
    person_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)
    sequence_id: str | None = Field(default=None, max_length=64)
    step: int | None = Field(default=None, ge=1, le=100)
    occurred_at: AwareDatetime | None = None
    event_id: str | None = Field(default=None, max_length=150)
    actor_id: str | None = Field(default=None, max_length=120)


@router.post("/sequences/events", response_model=dict[str, Any], tags=["working"])
def engagement_event(body: EngagementEventIn, c: Annotated[Ctx, Depends(ctx("activities.write"))]) -> Any:
    """W1: a sequence step completed, a reply, a sequence finished or a person marked inactive, with the
    lifecycle moves the playbook's sequence rules make (each in the person's history with its rule)."""
    person = sequences.find_person(c.uow, body.person_id, body.email)
    model = Lead if isinstance(person, Lead) else Contact
    if c.uow.session.scalars(visible(select(model.id).where(model.id == person.id), model, c.principal,
                                     c.pb)).first() is None:
        raise NotFound(f"no person with id '{body.person_id or body.email}'", "person_id")
    outcome = sequences.apply_engagement_event(c.uow, c.pb, body.model_dump(mode="json", exclude_none=True), c.now)
    c.uow.commit()
    return outcome


# --------------------------------------------------------------------------- W5 SDR views


class SdrRowOut(BaseModel):
    id: str
    name: str
    company: str | None
    status: str
    score: int
    owner: str | None
    mql_date: str | None
    high_priority: bool
    active_sequence: bool
    open_task: bool
    future_meeting: bool
    to_sequence: bool


class SdrViewOut(BaseModel):
    name: str
    description: str
    total: int
    rows: list[SdrRowOut]


@router.get("/views/{name}", response_model=SdrViewOut, tags=["working"])
def sdr_view(
    name: Annotated[str, Path(min_length=1, max_length=40)],
    c: Annotated[Ctx, Depends(ctx("leads.read"))],
    mine: Annotated[bool, Query(description="only the leads I own")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Any:
    """W5: S1 High Priority (`s1-high`), S1 new MQLs (`s1`), S2 leads with a logged call (`s2`), S3 Qualifying
    (`s3`) and the S3 leads lacking an active sequence, an open task and a future meeting (`s3-to-sequence`)."""
    found = views.view(c.store, c.pb, name, c.now, viewer=c.principal.user_id if mine else None,
                       filter=lambda stmt: visible(stmt, Lead, c.principal, c.pb), limit=limit)
    return SdrViewOut(name=found.definition.name, description=found.definition.description, total=found.total,
                      rows=[SdrRowOut(**r.as_json()) for r in found.rows])


# --------------------------------------------------------------------------- W4 passing, W6 opt-out


class PassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=120, description="the sales member who takes the lead")
    window_days: int | None = Field(default=None, ge=1, le=30, description="days before the passer is reminded")
    note: str = Field(default="", max_length=2000)


class PassOut(BaseModel):
    id: str
    status: str
    owner: str | None
    remind_at: str | None


@router.post("/leads/{lead_id}/pass", response_model=PassOut, tags=["working"])
def pass_qualified(lead_id: Id, body: PassIn, c: Annotated[Ctx, Depends(ctx("leads.assign"))]) -> Any:
    """W4: set Qualified, assign the sales owner and notify them; the passer is reminded if they do nothing."""
    person = _person(c, lead_id, "lead_id")
    row = passing.pass_lead(c.uow, c.pb, person, body.to, c.actor, c.now, window_days=body.window_days,
                            note=body.note)
    c.uow.commit()
    return PassOut(id=person.id, status=person.status, owner=f"{person.owner_type}:{person.owner_id}",
                   remind_at=to_json(row.remind_at))


class OptOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temporary: bool = Field(default=False, description="the playbook's 30-day opt-out instead of for good")
    undo: bool = Field(default=False, description="opt back in")


class OptOutOut(BaseModel):
    id: str
    opt_out: bool
    opt_out_until: str | None


@router.post("/people/{person_id}/opt-out", response_model=OptOutOut, tags=["working"])
def opt_out(person_id: Id, body: OptOutIn, c: Annotated[Ctx, Depends(ctx("leads.write"))]) -> Any:
    """W6: no more non-operational email (for good or 30 days); `undo` opts back in."""
    person = _person(c, person_id, "person_id")
    if body.undo:
        subscriptions.opt_in(c.uow, person, c.actor, c.now)
    else:
        subscriptions.opt_out(c.uow, c.pb, person, c.actor, c.now, temporary=body.temporary)
    c.uow.commit()
    return OptOutOut(id=person.id, opt_out=bool(person.opt_out), opt_out_until=to_json(person.opt_out_until))


# --------------------------------------------------------------------------- W3 SLA report


class SlaRowOut(BaseModel):
    entity: str
    id: str
    name: str
    channel: str | None
    region: str | None
    owner: str | None
    due_at: str
    first_response_at: str | None
    breached_at: str | None
    state: str


class SlaReportOut(BaseModel):
    summary: dict[str, Any]
    rows: list[SlaRowOut]


@router.get("/sla", response_model=SlaReportOut, tags=["working"])
def sla_report(
    c: Annotated[Ctx, Depends(ctx("leads.read"))],
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    state: Literal["met", "late", "breached", "open"] | None = None,
) -> Any:
    """W3: every request with an SLA (due, first response, breach, state) and the compliance rate."""
    rows = sla_jobs.sla_report(c.uow, c.now, since=since, until=until, state=state,
                               narrow=lambda stmt, model: visible(stmt, model, c.principal, c.pb))
    return SlaReportOut(summary=sla_jobs.sla_summary(rows),
                        rows=[SlaRowOut(**{k: to_json(v) for k, v in vars(r).items()}) for r in rows])
