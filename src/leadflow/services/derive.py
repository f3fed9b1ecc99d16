"""Derived figures kept current on stored records: segment, region, score, MQL, active (S1-S10).

Each figure is a pure rule of `domain/`; this service gathers its inputs from the store, writes
the result only where it changed (with the rule's name in history) and keeps the explanation in
`derivations` for `leadflow explain`. Recomputing twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from leadflow.domain import activity as activity_rules
from leadflow.domain import lifecycle, scoring
from leadflow.domain.records import Actor
from leadflow.domain.segments import AccountSizing, LeadSegment, hierarchy_segments, lead_segment
from leadflow.domain.territory import AccountPlace, hierarchy_territories, is_public_sector, region_of
from leadflow.playbook.schema import Playbook
from leadflow.services.lifecycle import classification_facts, hierarchy
from leadflow.store.models import Account, Activity, Lead
from leadflow.store.uow import UnitOfWork, to_json


@dataclass(frozen=True)
class LeadFigures:
    """What the derivation of one lead found (and whether it asked for routing)."""

    segment: str
    region: str | None
    score: scoring.Score
    mql: scoring.MqlDecision
    routing: scoring.RoutingCheck
    active: activity_rules.ActiveResult
    not_to_engage: activity_rules.NotToEngage


Setter = Callable[[Any, str, Any, str, str], bool]


def _set(record: Any, field: str, value: Any, rule: str, why: str, uow: UnitOfWork) -> bool:
    """Write `value` with its rule and reason only when it differs from what is stored."""
    return uow.set_field(record, field, value, rule=rule, why=why)


# --------------------------------------------------------------------------- accounts (S6-S8)


def _acting(uow: UnitOfWork, now: dt.datetime) -> Any:
    """Inside a caller's change the caller acts; on its own (a job, a bench) the derivation does."""
    return uow.changing(actor=None if uow.context else Actor.system("derive"), now=now)


def refresh_hierarchy(uow: UnitOfWork, pb: Playbook, account: Account, now: dt.datetime) -> list[Account]:
    """Re-derive segment, Parent Sales Segmentation and region for the account's whole hierarchy."""
    with _acting(uow, now):
        return _refresh_hierarchy(uow, pb, account, now)


def _refresh_hierarchy(uow: UnitOfWork, pb: Playbook, account: Account, now: dt.datetime) -> list[Account]:
    family = hierarchy(uow, account)
    segments = hierarchy_segments([AccountSizing.of(a) for a in family], pb, now)
    places = hierarchy_territories(
        [AccountPlace(id=a.id, parent_id=a.parent_id, addresses=_addresses(a)) for a in family], pb
    )
    for a in family:
        seg, place = segments[a.id], places[a.id]
        region = place.region.region
        if region is None and a.public_sector:
            region = region_of(pb, None, None, public_sector=True).region
        _set(a, "segment", seg.segment, "segment-hierarchy", seg.why, uow)
        _set(a, "parent_segment", seg.parent_segment, "parent-sales-segmentation",
             f"the parent's own segment is {seg.parent_segment}", uow)
        _set(a, "region", region, "territory", place.why, uow)
        a.derivations = {**(a.derivations or {}),
                         "segment": {"value": seg.segment, "decided_by": seg.decided_by,
                                     "field": seg.measure.field, "source": seg.measure.source, "why": seg.why},
                         "region": {"value": region, "decided_by": place.decided_by,
                                    "source": place.address.source, "why": place.why}}
    return family


def _addresses(account: Account) -> dict[str, Any]:
    addresses = dict(account.addresses or {})
    if account.country and not any(addresses.values()):
        addresses["billing"] = {"country": account.country}
    return addresses


# --------------------------------------------------------------------------- leads (S1-S5, S10)


def lead_activities(uow: UnitOfWork, lead: Lead) -> list[tuple[str, dt.datetime]]:
    rows = uow.session.execute(
        select(Activity.type, Activity.at).where(Activity.subject_type == "lead", Activity.subject_id == lead.id)
    )
    return [(r.type, r.at) for r in rows]


def refresh_lead(
    uow: UnitOfWork,
    pb: Playbook,
    lead: Lead,
    now: dt.datetime,
    *,
    external_score: int | None = None,
    activities: list[tuple[str, dt.datetime]] | None = None,
) -> LeadFigures:
    """Re-derive the lead's segment, region, score, MQL, routing request and active window."""
    with _acting(uow, now):
        return _refresh_lead(uow, pb, lead, now, external_score=external_score, activities=activities)


def _refresh_lead(
    uow: UnitOfWork,
    pb: Playbook,
    lead: Lead,
    now: dt.datetime,
    *,
    external_score: int | None,
    activities: list[tuple[str, dt.datetime]] | None,
) -> LeadFigures:
    account = uow.session.get(Account, lead.matched_account_id) if lead.matched_account_id else None
    if account is not None and needs_hierarchy_refresh(account):
        _refresh_hierarchy(uow, pb, account, now)
    acts = activities if activities is not None else lead_activities(uow, lead)

    def set_(record: Any, field: str, value: Any, rule: str, why: str) -> bool:
        return uow.set_field(record, field, value, rule=rule, why=why)

    return apply_lead_figures(pb, lead, account, acts, now, external_score=external_score,
                              keep_stored_external=activities is None, set_=set_,
                              facts=lambda: classification_facts(uow, lead))


def needs_hierarchy_refresh(account: Account) -> bool:
    """The matched account's own figures were never derived: its hierarchy is derived first."""
    return account.segment is None or not (account.derivations or {}).get("segment")


def apply_lead_figures(
    pb: Playbook,
    lead: Lead,
    account: Account | None,
    acts: list[tuple[str, dt.datetime]],
    now: dt.datetime,
    *,
    external_score: int | None,
    keep_stored_external: bool,
    set_: Setter,
    facts: Callable[[], lifecycle.ClassificationFacts],
) -> LeadFigures:
    """The derivation of one lead from its inputs (no store access): every field change goes through `set_`
    with its rule and reason, so the per-row intake (the unit of work) and the batch import (its own
    history) record the same changes."""
    seg = lead_segment(pb, developers_bucket=lead.developers_bucket, how_many_developers=lead.how_many_developers,
                       employees=lead.employees, matched_account_segment=account.segment if account else None)
    region, region_why = _lead_region(pb, lead, account)
    set_(lead, "segment", seg.segment, "lead-segment", seg.why)
    set_(lead, "region", region, "territory", region_why)

    if external_score is not None:
        score = scoring.external_score(external_score)
    elif lead.score_source == "external" and keep_stored_external:
        score = scoring.Score(total=lead.score, parts=(), source="external", notes=())
    else:
        inputs = scoring.ScoreInput(activities=acts, title=lead.title, segment=seg.segment, country=lead.country,
                                    region=region, industry=lead.industry, company=lead.company, email=lead.email)
        score = scoring.compute_score(pb.scoring, inputs, now)
    old_score = lead.score
    set_(lead, "score_parts", [p.as_json() for p in score.parts], "score", f"{len(score.parts)} part(s)")
    set_(lead, "score_source", score.source, "score", f"score from {score.source}")
    set_(lead, "score", score.total, "score", _score_why(score))
    routing = scoring.routing_check(pb, old_score, score.total)
    if routing.triggered:
        set_(lead, "route_requested_at", now, "routing-threshold", routing.why)
    mql = scoring.mql_decision(pb, current_status=lead.status, mql_date=lead.mql_date, old_score=old_score,
                               new_score=score.total)
    if mql.set_mql_date:
        set_(lead, "mql_date", now, "mql-threshold", mql.why)
    if mql.set_status and mql.set_status != lead.status:
        plan = lifecycle.plan_transition(pb, current=lead.status, to=mql.set_status, rule="mql-threshold")
        set_(lead, "status", plan.to_status, plan.rule, mql.why)
        set_(lead, "status_reason", plan.reason, plan.rule, mql.why)
        if plan.hand_to is not None:
            set_(lead, "owner_type", plan.hand_to.type, plan.rule, mql.why)
            set_(lead, "owner_id", plan.hand_to.id, plan.rule, mql.why)

    rules = activity_rules.ActivityRules.from_playbook(pb)
    trials = [(lead.trial_started_at, lead.trial_ends_at)] if lead.trial_started_at and lead.trial_ends_at else []
    active = activity_rules.active_until(rules, acts, trials, now)
    set_(lead, "active_until", active.until, "active-window", active.why)
    engage = activity_rules.not_to_engage(rules, lead.initial_source, acts, active.active, now=now)
    set_(lead, "not_to_engage", engage.flag, "not-to-engage", engage.why)
    for key, value in lifecycle.classify(pb, facts()).items():
        column = f"lc_{key}"
        if hasattr(lead, column):
            set_(lead, column, value.value, "lifecycle-classifications", "derived from matched account and user data")
    lead.derivations = explanations(lead, seg, region, region_why, score, mql, routing, active, engage)
    return LeadFigures(seg.segment, region, score, mql, routing, active, engage)


def explanations(
    lead: Lead,
    seg: LeadSegment,
    region: str | None,
    region_why: str,
    score: scoring.Score,
    mql: scoring.MqlDecision,
    routing: scoring.RoutingCheck,
    active: activity_rules.ActiveResult,
    engage: activity_rules.NotToEngage,
) -> dict[str, Any]:
    """Why each derived figure is what it is, as stored in `derivations` and shown by `explain`."""
    return {
        **(lead.derivations or {}),
        "segment": {"value": seg.segment, "field": seg.field, "why": seg.why},
        "region": {"value": region, "why": region_why},
        "score": {"total": score.total, "source": score.source, "notes": list(score.notes)},
        "mql": {"mql": mql.mql, "why": mql.why},
        "routing": {"triggered": routing.triggered, "why": routing.why},
        "active": {"active": active.active, "until": to_json(active.until), "why": active.why},
        "not_to_engage": {"flag": engage.flag, "why": engage.why},
    }


def _lead_region(pb: Playbook, lead: Lead, account: Account | None) -> tuple[str | None, str]:
    """The matched account's territory decides (S8); else the lead's own country and state."""
    if account is not None and account.region:
        return account.region, f"the matched account {account.name}'s territory ({account.region})"
    public = is_public_sector(pb, industry=lead.industry, country=lead.country)
    found = region_of(pb, lead.country, lead.state, public_sector=public.public_sector)
    return found.region, found.why if not public.public_sector else f"{public.why}; {found.why}"


def _score_why(score: scoring.Score) -> str:
    if score.source == "external":
        return f"external score {score.total} sent by an upstream tool"
    return " + ".join(f"{p.rule} {p.points:+d}" for p in score.parts) or "no rule applies"
