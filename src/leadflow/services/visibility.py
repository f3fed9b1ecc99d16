"""Record visibility (P4, P5) as ONE query-level filter, used by every listing, get, count, search and export.

`visible(stmt, Model, principal, pb)` adds the WHERE clause that hides what the principal may not see:
- P4: a record owned by a member of a public-sector team (playbook `permissions.public_sector_teams`)
  is seen only by members of those teams and by principals with `public_sector.view`;
- a role whose `read_scope` is `own` (resellers) sees only records it owns.
Activities and tasks follow the lead or contact they are about. Because it is a clause on the statement
(NOT EXISTS, never a Python filter after the fact), counts and pages agree with what a get shows.

Use: `stmt = visible(select(Lead).where(...), Lead, principal, pb)`; `visible_leads(stmt, principal, pb)` etc.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true

from leadflow.domain.permissions import Principal
from leadflow.playbook.schema import Playbook
from leadflow.store.models import Account, Activity, Contact, Lead, Opportunity, Task, User

S = TypeVar("S", bound=Select[Any])


def _owned_by_team(owner_type: Any, owner_id: Any, teams: list[str]) -> ColumnElement[bool]:
    member = select(User.id).where(User.id == owner_id, User.team.in_(teams))
    if owner_type is None:
        return exists(member)
    return and_(owner_type == "user", exists(member))


def _person_clause(model: type[Lead] | type[Contact], principal: Principal, pb: Playbook) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    teams = pb.permissions.public_sector_teams
    if teams and not principal.sees_public_sector:
        clauses.append(~_owned_by_team(model.owner_type, model.owner_id, teams))
    if principal.read_scope == "own":
        clauses.append(and_(model.owner_type == "user", model.owner_id == principal.user_id))
    return and_(true(), *clauses)


def _owner_clause(model: type[Account] | type[Opportunity], principal: Principal, pb: Playbook) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    teams = pb.permissions.public_sector_teams
    if teams and not principal.sees_public_sector:
        clauses.append(~_owned_by_team(None, model.owner_id, teams))
    if principal.read_scope == "own":
        clauses.append(model.owner_id == principal.user_id)
    return and_(true(), *clauses)


def _subject_clause(model: type[Activity] | type[Task], principal: Principal, pb: Playbook) -> ColumnElement[bool]:
    """An activity or task is seen when the lead or contact it is about is seen."""
    lead_seen = exists(select(Lead.id).where(Lead.id == model.subject_id, visibility_clause(Lead, principal, pb)))
    contact_seen = exists(
        select(Contact.id).where(Contact.id == model.subject_id, visibility_clause(Contact, principal, pb))
    )
    return or_(
        and_(model.subject_type == "lead", lead_seen),
        and_(model.subject_type == "contact", contact_seen),
        model.subject_type.not_in(("lead", "contact")) if principal.read_scope == "all" else false(),
    )


def visibility_clause(model: type[Any], principal: Principal, pb: Playbook) -> ColumnElement[bool]:
    """The WHERE clause of what `principal` may see of `model` (true() when everything)."""
    if principal.sees_public_sector and principal.read_scope == "all":
        return true()
    if model is Lead or model is Contact:
        return _person_clause(model, principal, pb)
    if model is Account or model is Opportunity:
        return _owner_clause(model, principal, pb)
    if model is Activity or model is Task:
        return _subject_clause(model, principal, pb)
    return true()  # users, queues, campaigns: not owned records


def visible(stmt: S, model: type[Any], principal: Principal, pb: Playbook) -> S:
    """`stmt` restricted to what `principal` may see of `model` (P4, P5)."""
    clause = visibility_clause(model, principal, pb)
    if clause is true():
        return stmt
    return stmt.where(clause)


def visible_leads(stmt: S, principal: Principal, pb: Playbook) -> S:
    return visible(stmt, Lead, principal, pb)


def visible_contacts(stmt: S, principal: Principal, pb: Playbook) -> S:
    return visible(stmt, Contact, principal, pb)


def visible_accounts(stmt: S, principal: Principal, pb: Playbook) -> S:
    return visible(stmt, Account, principal, pb)


def visible_opportunities(stmt: S, principal: Principal, pb: Playbook) -> S:
    return visible(stmt, Opportunity, principal, pb)
