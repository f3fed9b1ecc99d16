"""Routes a stored lead (R1-R13, S3, W3): gathers what the flow reads, decides, takes a round-robin turn
under a row lock, and writes the owner, the SLA, the stored decision and the notification in one change.

`route_lead(uow, pb, lead, actor, now)` is the use case. The decision itself is the playbook's compiled
flow (`domain.routing`); pools are resolved here, from the users table, because they need the store:

* members of a pool are the users `pool_admits` (role, region, team, segment); a member may take a
  turn when active, in office, with weight > 0 and under its daily/weekly capacity (R9). Capacity
  counts the member's round-robin assignments (stored decisions) since the start of its local day and
  week, on the calendar of its region;
* the turn is `round_robin.choose` over the members' stored credits, read with `SELECT ... FOR
  UPDATE` on PostgreSQL (the rows are created first with INSERT ... ON CONFLICT DO NOTHING), so two
  workers never give the same turn; SQLite has a single writer.

A lead below the routing threshold is not routed: nothing is written and it stays with its status's
holding queue (S3, L2). R3's "both leads go to the owner with the earliest MQL date": when a rule
assigns the owner of the company's earliest MQL, the company's other MQL leads move to that owner too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from leadflow.domain import round_robin, sla
from leadflow.domain.normalise import normalise_company, normalise_country
from leadflow.domain.records import Actor, Owner
from leadflow.domain.routing import (
    UNROUTABLE_RULE,
    AccountView,
    Assignment,
    Decision,
    Flow,
    RoutingRecord,
    SameCompanyLead,
    TraceEntry,
    compile_flow,
    pool_admits,
)
from leadflow.domain.territory import is_public_sector
from leadflow.playbook.schema import Playbook, PoolDef
from leadflow.services.lifecycle import owner_of, set_owner
from leadflow.store.models import Account, Activity, Lead, RoundRobinCredit, RoutingDecision, User
from leadflow.store.uow import UnitOfWork, to_json

R3_OWNER_FIELD = "same_company.earliest_mql_owner"
_SAME_COMPANY_LIMIT = 500


@dataclass
class RoutingResult:
    """What routing one lead did: the decision with its trace, the owner it gave, the SLA it set."""

    lead_id: str
    routed: bool
    rule: str
    assignment: Assignment
    owner: Owner | None
    why: str
    trace: list[TraceEntry]
    inputs: dict[str, Any]
    notify: list[str]
    sla_business_days: int | None = None
    sla_due: dt.datetime | None = None
    sla_why: str | None = None
    round_robin: dict[str, Any] = field(default_factory=dict)
    moved: list[str] = field(default_factory=list)  # other leads of the company moved with it (R3)
    decision_id: int | None = None

    def step(self) -> dict[str, Any]:
        """The intake step that records this routing."""
        return {
            "step": "route",
            "routed": self.routed,
            "rule": self.rule,
            "owner": str(self.owner) if self.owner else None,
            "why": self.why,
            "notify": self.notify,
            "sla_due": to_json(self.sla_due),
            "moved": self.moved,
            "decision": self.decision_id,
        }


# --------------------------------------------------------------------------- what the flow reads


def account_view(pb: Playbook, account: Account) -> AccountView:
    """An account as routing sees it (D3)."""
    public = account.public_sector or is_public_sector(
        pb, industry=account.industry, country=account.country
    ).public_sector
    return AccountView(
        id=account.id,
        type=account.type,
        named=bool(account.named),
        public_sector=public,
        bdr_prospecting_status=account.bdr_prospecting_status,
        owner=account.owner_id,
        sdr_assigned=account.sdr_assigned_id,
        bdr_assigned=account.bdr_assigned_id,
        segment=account.segment,
        region=account.region,
        industry=account.industry,
        country=account.country,
        parent_id=account.parent_id,
    )


def ultimate_parent(uow: UnitOfWork, account: Account) -> Account | None:
    """The top of the account's hierarchy, or None when it has no parent (it is its own global account)."""
    top, seen = account, {account.id}
    while top.parent_id and top.parent_id not in seen:
        parent = uow.session.get(Account, top.parent_id)
        if parent is None:
            break
        top = parent
        seen.add(top.id)
    return top if top is not account else None


def is_university(pb: Playbook, company: str | None, domains: Iterable[str | None]) -> bool:
    """R7: the company name or an email/web domain matches the playbook's university patterns."""
    spec = pb.routing.university if pb.routing else None
    if spec is None:
        return False
    if company and any(re.search(p, company, re.IGNORECASE) for p in spec.company_matches):
        return True
    return any(d and re.search(p, d, re.IGNORECASE) for d in domains for p in spec.domain_matches)


def same_company_leads(uow: UnitOfWork, pb: Playbook, lead: Lead) -> tuple[SameCompanyLead, ...]:
    """R3: the company's other live leads (same corporate domain or same normalised company name) in the
    statuses the playbook's same-company rules count, none of them matched to an account."""
    routing = pb.routing
    statuses = [*routing.same_company.mql_statuses, *routing.same_company.working_statuses] if routing else []
    name = normalise_company(lead.company)
    if not statuses or (not lead.domain and not name):
        return ()
    by: list[Any] = []
    if lead.domain:
        by.append(Lead.domain == lead.domain)
    if name:
        by.append(Lead.company_key == name.key)  # indexed; kept by the unit of work (store/uow.py)
    # One query per key, merged here: with `domain = ? OR company_key = ?` SQLite's planner (no statistics)
    # walks the status or matched-account index instead, i.e. every live lead, on every routing.
    found: dict[str, Any] = {}
    for condition in by:
        stmt = (
            select(Lead.status, Lead.mql_date, Lead.owner_type, Lead.owner_id, Lead.id, Lead.created_at)
            .where(
                condition,
                Lead.id != lead.id,
                Lead.status.in_(statuses),
                Lead.matched_account_id.is_(None),
                Lead.merged_into_id.is_(None),
                Lead.converted_at.is_(None),
                Lead.spam.is_(False),
            )
            .order_by(Lead.mql_date, Lead.created_at, Lead.id)
            .limit(_SAME_COMPANY_LIMIT)
        )
        for other in uow.session.execute(stmt):
            found[other.id] = other
    # the order the single query had: mql_date (NULLs first on SQLite, last on PostgreSQL), created_at, id
    nulls_first = uow.session.get_bind().dialect.name == "sqlite"
    ordered = sorted(
        found.values(),
        key=lambda r: (
            (r.mql_date is None) != nulls_first,
            _utc_or_min(r.mql_date),
            _utc_or_min(r.created_at),
            r.id,
        ),
    )
    out = []
    for other in ordered[:_SAME_COMPANY_LIMIT]:
        out.append(
            SameCompanyLead(
                status=other.status,
                mql_date=other.mql_date,
                owner_type="queue" if other.owner_type == "queue" else "user",
                owner_id=other.owner_id,
                lead_id=other.id,
            )
        )
    return tuple(out)


def local_bounds(pb: Playbook, region: str | None, now: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """The instants (UTC) that start the local week (Monday) and day of `now` in the region's calendar, and
    the one that ends the day: R9's capacity counts assignments in [week start, day end) and
    [day start, day end)."""
    zone = sla.region_calendar(pb, region).zone
    today = now.astimezone(zone).date()
    week = today - dt.timedelta(days=today.weekday())

    def start_of(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)

    return start_of(week), start_of(today), start_of(today + dt.timedelta(days=1))


_MIN_UTC = dt.datetime.min.replace(tzinfo=dt.UTC)


def _utc_or_min(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return _MIN_UTC
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def routing_record(uow: UnitOfWork, pb: Playbook, lead: Lead, now: dt.datetime) -> RoutingRecord:
    """Everything the flow may look at for `lead`, from the store (R1)."""
    account = uow.session.get(Account, lead.matched_account_id) if lead.matched_account_id else None
    top = ultimate_parent(uow, account) if account is not None else None
    activities = frozenset(
        uow.session.scalars(
            select(Activity.type).where(Activity.subject_type == "lead", Activity.subject_id == lead.id).distinct()
        )
    )
    email_domain = lead.email.rsplit("@", 1)[-1] if lead.email and "@" in lead.email else None
    return RoutingRecord(
        channel=lead.channel or "",
        segment=lead.segment or pb.segmentation.unknown,
        region=lead.region,
        score=lead.score or 0,
        status=lead.status,
        country=lead.country,
        state=lead.state,
        industry=lead.industry,
        title=lead.title,
        university=is_university(pb, lead.company, (lead.domain, email_domain)),
        public_sector=is_public_sector(pb, industry=lead.industry, country=lead.country).public_sector,
        active=lead.active_until is not None and lead.active_until > now,
        activities=activities,
        account=account_view(pb, account) if account is not None else None,
        ultimate_parent=account_view(pb, top) if top is not None else None,
        same_company=same_company_leads(uow, pb, lead) if account is None else (),
    )


# --------------------------------------------------------------------------- pools (R9)


_USER_FACTS = select(
    User.id, User.role, User.team, User.segment, User.region, User.active, User.out_of_office, User.rr_weight,
    User.rr_capacity_per_day, User.rr_capacity_per_week,
).order_by(User.id)


class Pools:
    """A routing call's view of the round-robin pools: members from the users table, their availability
    and capacity; `take_turn` gives a turn under a row lock and stores the new credits."""

    def __init__(self, uow: UnitOfWork, pb: Playbook, now: dt.datetime) -> None:
        self.uow = uow
        self.pb = pb
        self.now = now
        self.defs: dict[str, PoolDef] = {p.id: p for p in pb.routing.pools} if pb.routing else {}
        self._users: dict[str, Any] | None = None
        self._members: dict[tuple[str, str | None], list[round_robin.Member]] = {}
        self._admitted: dict[tuple[str, str | None], list[Any]] = {}

    @property
    def users(self) -> dict[str, Any]:
        """Every user's routing facts (rows with User's attribute names, read once per routing call)."""
        if self._users is None:
            self._users = {u.id: u for u in self.uow.session.execute(_USER_FACTS)}
        return self._users

    def user_available(self, user_id: str) -> bool:
        """A user taken from a record field may receive the lead: known, active and in office."""
        user = self.users.get(user_id)
        return user is not None and bool(user.active) and not user.out_of_office

    def admitted(self, pool_id: str, key: str | None) -> list[Any]:
        """The pool's members for this key, whatever their availability (decided once per pool and key: the
        users are read once per object)."""
        found = self._admitted.get((pool_id, key))
        if found is None:
            pool = self.defs.get(pool_id)
            found = [u for u in self.users.values() if pool_admits(pool, u, key)] if pool is not None else []
            self._admitted[(pool_id, key)] = found
        return found

    def _assigned_counts(self, users: list[Any]) -> dict[str, tuple[int, int]]:
        """Round-robin assignments of each user since the start of its local day and week (R9 capacity)."""
        limited = [u for u in users if u.rr_capacity_per_day is not None or u.rr_capacity_per_week is not None]
        if not limited:
            return {}
        # Counted in the store, one query per local calendar (users of a region share one): assignments
        # from the start of the local week, of which those from the start of the local day.
        by_bounds: dict[tuple[dt.datetime, dt.datetime, dt.datetime], list[str]] = {}
        for user in limited:
            by_bounds.setdefault(local_bounds(self.pb, user.region, self.now), []).append(user.id)
        out: dict[str, tuple[int, int]] = {}
        for (week_start, day_start, day_end), ids in by_bounds.items():
            today = func.sum(case((RoutingDecision.decided_at >= day_start, 1), else_=0))
            stmt = (
                select(RoutingDecision.owner_id, today, func.count())
                .where(
                    RoutingDecision.assign_kind == "pool",
                    RoutingDecision.owner_type == "user",
                    RoutingDecision.owner_id.in_(ids),
                    RoutingDecision.decided_at >= week_start,
                    RoutingDecision.decided_at < day_end,
                )
                .group_by(RoutingDecision.owner_id)
            )
            counts = {owner: (int(day or 0), int(week)) for owner, day, week in self.uow.session.execute(stmt)}
            for user_id in ids:
                out[user_id] = counts.get(user_id, (0, 0))
        return out

    def members(
        self, pool_id: str, key: str | None, credits: dict[str, RoundRobinCredit] | None = None
    ) -> list[round_robin.Member]:
        users = self.admitted(pool_id, key)
        counts = self._assigned_counts(users)
        out = []
        for u in users:
            row = credits.get(u.id) if credits is not None else None
            today, week = counts.get(u.id, (0, 0))
            out.append(
                round_robin.Member(
                    id=u.id,
                    weight=max(0, u.rr_weight if u.rr_weight is not None else 1),
                    active=bool(u.active),
                    out_of_office=bool(u.out_of_office),
                    capacity_day=u.rr_capacity_per_day,
                    capacity_week=u.rr_capacity_per_week,
                    assigned_today=today,
                    assigned_week=week,
                    assigned_total=row.assigned_total if row is not None else 0,
                    credit=row.credit if row is not None else 0,
                )
            )
        return out

    def has_member(self, pool_id: str, key: str | None) -> bool:
        """What the flow asks before naming a pool: is any member available now?"""
        if (pool_id, key) not in self._members:
            if any(_free_turn(u) for u in self.admitted(pool_id, key)):
                return True  # someone can take a turn whatever the counts: they need not be read
            self._members[(pool_id, key)] = self.members(pool_id, key)
        return round_robin.has_available(self._members[(pool_id, key)])

    def take_turn(self, pool_id: str, key: str | None) -> round_robin.Choice:
        """Give the pool's next turn: lock its members' credit rows, choose, store the new credits."""
        session = self.uow.session
        users = self.admitted(pool_id, key)
        if not users:
            return round_robin.choose([])
        stored_key = key or ""
        values = [{"pool_id": pool_id, "pool_key": stored_key, "user_id": u.id, "credit": 0, "assigned_total": 0}
                  for u in users]
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert(RoundRobinCredit).values(values).on_conflict_do_nothing())
        rows = session.scalars(
            select(RoundRobinCredit)
            .where(
                RoundRobinCredit.pool_id == pool_id,
                RoundRobinCredit.pool_key == stored_key,
                RoundRobinCredit.user_id.in_([u.id for u in users]),
            )
            .order_by(RoundRobinCredit.user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        credits = {r.user_id: r for r in rows}
        choice = round_robin.choose(self.members(pool_id, key, credits))  # counts read again, under the lock
        for member_id, credit in choice.credits:
            credits[member_id].credit = credit
        if choice.member_id is not None:
            chosen = credits[choice.member_id]
            chosen.assigned_total += 1
            chosen.last_assigned_at = self.now
        self._members.pop((pool_id, key), None)
        session.flush()  # the store has no autoflush: later reads in this transaction see the new credits
        return choice


def _free_turn(user: Any) -> bool:
    """A member available whatever its assignment counts: active, in office, weight above 0, no capacity."""
    weight = user.rr_weight if user.rr_weight is not None else 1
    return (bool(user.active) and not user.out_of_office and weight > 0
            and user.rr_capacity_per_day is None and user.rr_capacity_per_week is None)


def default_owner_user(pool: Pools, pb: Playbook) -> str | None:
    """R10's default owner: the user with the playbook's default role (`sales-admin` first, active first)."""
    users = [u for u in pool.users.values() if u.role == pb.default_owner_role]
    users.sort(key=lambda u: (u.id != "sales-admin", not u.active, u.id))
    return users[0].id if users else None


# --------------------------------------------------------------------------- routing one lead


def decide(uow: UnitOfWork, pb: Playbook, lead: Lead, now: dt.datetime, pools: Pools | None = None) -> Decision:
    """The flow's decision for `lead` as the store stands (no writes)."""
    pools = pools or Pools(uow, pb, now)
    flow = compile_flow(pb)
    if (lead.score or 0) < flow.threshold:  # S3: below the threshold only the status decides; read nothing more
        record = RoutingRecord(channel=lead.channel or "", segment=lead.segment or pb.segmentation.unknown,
                               region=lead.region, score=lead.score or 0, status=lead.status)
    else:
        record = routing_record(uow, pb, lead, now)
    return flow.decide(record, pools.has_member, pools.user_available)


def wants_routing(pb: Playbook, lead: Lead) -> bool:
    """Whether intake should route `lead` now: it is live (not spam, merged or converted) and either its score
    just reached the routing threshold (S3, `route_requested_at`) or nobody works it yet (no owner, or a
    status's holding queue). A lead a user already works is not taken away by a new touch, and a lead that
    left the funnel (a status with reasons: Disqualified, Recycle, Ineligible) waits in its queue until it
    comes back (L2)."""
    if lead.spam or lead.merged_into_id or lead.converted_at:
        return False
    status = pb.status(lead.status)
    if status is not None and status.needs_reason:
        return False
    if lead.route_requested_at is not None:
        return True
    holding = {s.queue for s in pb.statuses if s.queue}
    return lead.owner_type is None or (lead.owner_type == "queue" and lead.owner_id in holding)


def route_lead(uow: UnitOfWork, pb: Playbook, lead: Lead, actor: Actor, now: dt.datetime) -> RoutingResult:
    """Route `lead` through the playbook's flow and apply the result (R1-R13, W3); below the routing
    threshold nothing changes (S3)."""
    flow = compile_flow(pb)
    pools = Pools(uow, pb, now)
    decision = decide(uow, pb, lead, now, pools)
    trace = list(decision.trace)
    inputs = _plain(decision.inputs)
    if not decision.routed:
        return RoutingResult(lead.id, False, decision.rule, decision.assign, owner_of(lead), trace[-1].why,
                             trace, inputs, [])
    # The round-robin turn (credit rows) is taken inside the change, so that it commits or rolls back with it.
    with uow.changing(actor=actor, now=now, rule=decision.rule, why="routing"):
        return _apply(uow, pb, flow, pools, lead, decision, trace, inputs, now, actor)


def _apply(uow: UnitOfWork, pb: Playbook, flow: Flow, pools: Pools, lead: Lead, decision: Decision,
           trace: list[TraceEntry], inputs: dict[str, Any], now: dt.datetime, actor: Actor) -> RoutingResult:
    assign, rule = decision.assign, decision.rule
    owner, rr = _resolve(pools, pb, flow, assign)
    if owner is None:  # the pool emptied between deciding and locking, or no default owner exists
        lost = f"{assign} could not give a turn ({rr.get('why', 'no default owner user')})"
        assign, rule = flow.unroutable, UNROUTABLE_RULE
        owner, _ = _resolve(pools, pb, flow, assign)
        trace.append(TraceEntry(UNROUTABLE_RULE, True, f"{lost}: unroutable, to {assign} (R10)"))
    if owner is None:
        owner = owner_of(lead)
    if rr.get("chosen"):
        last = trace[-1]
        trace[-1] = TraceEntry(last.rule, last.matched, f"{last.why}: {rr['why']}")
    why = trace[-1].why
    notify = list(dict.fromkeys([*([owner.id] if owner and owner.type == "user" else []), *decision.notify]))
    days = decision.sla_business_days
    due = None
    if days is not None:
        due = sla.due_explained(now, days, _calendar(pools, pb, lead, owner))
    result = RoutingResult(lead.id, True, rule, assign, owner, why, trace, inputs, notify, days,
                           due.at if due else None, due.why if due else None, rr)
    with uow.changing(rule=rule, why=why):
        previous = owner_of(lead)
        if owner is not None:
            set_owner(lead, owner)
        lead.route_requested_at = None
        if due is not None:
            lead.sla_due_at = due.at  # a new request starts a new SLA window (W3)
            lead.sla_first_response_at = None
            lead.sla_breached_at = None
        result.decision_id = _store(uow, pb, lead, result, actor, now, previous)
        if rule != UNROUTABLE_RULE and owner is not None and owner.type == "user" and _assigns_earliest_mql(pb, rule):
            result.moved = _move_company_mqls(uow, pb, lead, owner, rule, actor, now)
    return result


def _resolve(pools: Pools, pb: Playbook, flow: Flow, assign: Assignment) -> tuple[Owner | None, dict[str, Any]]:
    if assign.kind == "pool":
        choice = pools.take_turn(assign.id, assign.key)
        rr = {"pool": assign.id, "key": assign.key, "chosen": choice.member_id, "why": choice.why,
              "skipped": [list(s) for s in choice.skipped]}
        return (Owner.user(choice.member_id) if choice.member_id else None), rr
    if assign.kind == "default_owner":
        user = default_owner_user(pools, pb)
        return (Owner.user(user) if user else None), {}
    return assign.owner(), {}


def _calendar(pools: Pools, pb: Playbook, lead: Lead, owner: Owner | None) -> sla.Calendar:
    """W3: the lead's region's calendar (with its country's holidays); without a region, the owner's."""
    country = normalise_country(lead.country, pb.countries.aliases) if lead.country else None
    region = lead.region
    if region is None and owner is not None and owner.type == "user" and owner.id in pools.users:
        region = pools.users[owner.id].region
    return sla.region_calendar(pb, region, country.alpha_2 if country else None)


def _store(uow: UnitOfWork, pb: Playbook, lead: Lead, result: RoutingResult, actor: Actor, now: dt.datetime,
           previous: Owner | None) -> int:
    ctx = uow.context
    row = RoutingDecision(
        lead_id=lead.id,
        decided_at=now,
        playbook=pb.name,
        rule=result.rule,
        routed=result.routed,
        assign_kind=result.assignment.kind,
        pool_id=result.assignment.id if result.assignment.kind == "pool" else None,
        pool_key=result.assignment.key,
        owner_type=result.owner.type if result.owner else None,
        owner_id=result.owner.id if result.owner else None,
        why=result.why,
        trace=[{"rule": t.rule, "matched": t.matched, "why": t.why} for t in result.trace],
        inputs=result.inputs,
        notify=result.notify,
        round_robin=result.round_robin,
        sla_business_days=result.sla_business_days,
        sla_due_at=result.sla_due,
        sla_why=result.sla_why,
        actor_id=str(actor),
        change_id=ctx.change_id if ctx else None,
    )
    uow.session.add(row)
    uow.session.flush()
    uow.emit(
        "lead.routed",
        entity=lead,
        payload={
            "lead": lead.id,
            "owner": {"type": result.owner.type, "id": result.owner.id} if result.owner else None,
            "previous_owner": {"type": previous.type, "id": previous.id} if previous else None,
            "rule": result.rule,
            "why": result.why,
            "notify": result.notify,
            "sla_due": to_json(result.sla_due),
            "decision": row.id,
        },
        dedupe_key=f"lead.routed:{row.id}",
    )
    return row.id


def _assigns_earliest_mql(pb: Playbook, rule_id: str) -> bool:
    rule = next((r for r in pb.routing.rules if r.id == rule_id), None) if pb.routing else None
    return rule is not None and any(t.user_field == R3_OWNER_FIELD for t in rule.assign)


def _move_company_mqls(
    uow: UnitOfWork, pb: Playbook, lead: Lead, owner: Owner, rule: str, actor: Actor, now: dt.datetime
) -> list[str]:
    """R3: "assign both leads to the owner with the earliest MQL Date" - the company's other MQL leads follow."""
    mql = set(pb.routing.same_company.mql_statuses) if pb.routing else set()
    moved = []
    for other in same_company_leads(uow, pb, lead):
        if other.status not in mql or (other.owner_type, other.owner_id) == (owner.type, owner.id):
            continue
        record = uow.get(Lead, other.lead_id)
        why = (f"same company as lead {lead.id} (no matched account): the company's MQL leads go to "
               f"{owner.id}, owner of the earliest MQL (R3)")
        with uow.changing(actor=actor, now=now, rule=rule, why=why):
            previous = owner_of(record)
            set_owner(record, owner)
            result = RoutingResult(record.id, True, rule, Assignment("user", owner.id), owner, why,
                                   [TraceEntry(rule, True, why)], {"same_company_of": lead.id}, [owner.id])
            _store(uow, pb, record, result, actor, now, previous)
        moved.append(record.id)
    return moved


def _plain(value: Any) -> Any:
    """Decision inputs as JSON values (sets as sorted lists)."""
    if isinstance(value, frozenset | set):
        return sorted(str(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return to_json(value)
