"""Rescoring and re-segmenting every stored lead in bulk: the nightly `rescore` job (S1-S5, S10, L6).

`rescore_all` gives each lead exactly what `derive.refresh_lead(uow, pb, lead, now)` gives it
(segment, region, score, MQL, routing request, active window, not-to-engage, lifecycle
classifications and their `derivations`, and a never-derived matched account's hierarchy), with
the same pure `domain/` rules and the same rule names in history, but per chunk of leads in id
order instead of per lead: one unit of work, one query for the leads' stored fields, one `IN`
query for their activities, one per hierarchy level for their matched accounts (L6 needs each
account's whole hierarchy), and one flush.

Only the leads with a field whose value differs are loaded as records (one `IN` query, locked on
PostgreSQL; one changed since it was read is derived again from the record) and written with
`uow.set_field`, so history rows appear only where a figure changed and a second run writes none.
A lead whose fields all stand but whose explanation (`derivations`, never history) reads
differently gets it with one executemany per chunk, as the flush would write it (`derivations`
and `updated_at`, no history row). Lookups that depend only on the playbook and a few fields
(lead segment, region, classifications, the S10 rules, the behaviour rules a set of activity types
can fire) are worked out once per distinct input. Leads merged into another record
(`merged_into_id`) are left as they are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import load_only

from leadflow.domain import activity as activity_rules
from leadflow.domain import lifecycle, scoring
from leadflow.domain.records import Actor
from leadflow.domain.segments import LeadSegment, lead_segment
from leadflow.playbook.schema import Playbook, ScoringDef
from leadflow.services import derive
from leadflow.services.jobs import job
from leadflow.store.db import Store
from leadflow.store.models import Account, Activity, FieldHistory, JobRun, Lead
from leadflow.store.uow import UnitOfWork, to_json

ACTOR = Actor.system("rescore")
RESCORE_JOB = "rescore"
CLASSIFICATION_RULE = "lifecycle-classifications"
CLASSIFICATION_WHY = "derived from matched account and user data"
LEADS: Table = Lead.__table__  # type: ignore[assignment]
ACCOUNTS: Table = Account.__table__  # type: ignore[assignment]
MEMO_SIZE = 50_000  # distinct inputs remembered per lookup before it starts afresh


@dataclass(frozen=True)
class RescoreReport:
    """What one `rescore_all` did: leads seen, leads with a changed field, history rows, wall time."""

    leads: int
    changed_leads: int
    history_rows: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


# --------------------------------------------------------------------------- per-run lookups


@dataclass
class _Lookups:
    """Playbook-only rules worked out once per run, with memos keyed by each rule's whole input."""

    pb: Playbook
    activity: activity_rules.ActivityRules
    lc_columns: dict[str, str]  # classification key -> lead column (the ones a lead has)
    scorings: dict[frozenset[str], ScoringDef] = field(default_factory=dict)
    segments: dict[tuple[Any, ...], LeadSegment] = field(default_factory=dict)
    regions: dict[tuple[Any, ...], tuple[str | None, str]] = field(default_factory=dict)
    classes: dict[tuple[Any, ...], dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, pb: Playbook) -> _Lookups:
        columns = {c.key: f"lc_{c.key}" for c in pb.classifications if hasattr(Lead, f"lc_{c.key}")}
        return cls(pb=pb, activity=activity_rules.ActivityRules.from_playbook(pb), lc_columns=columns)

    def scoring_for(self, kinds: frozenset[str]) -> ScoringDef:
        """The playbook's scoring with only the behaviour rules that one of `kinds` can fire (in order).

        A behaviour rule sees only activities of its own types: for a person with none of them it adds
        no part and no note, so `compute_score` gives the same score and explanation without it.
        """
        found = self.scorings.get(kinds)
        if found is None:
            sc = self.pb.scoring
            rules = [r for r in sc.behaviour if not kinds.isdisjoint(r.activity_types)]
            found = self.scorings[kinds] = sc if len(rules) == len(sc.behaviour) else \
                sc.model_copy(update={"behaviour": rules})
        return found

    def segment(self, lead: Any, account: _AccountView | None) -> LeadSegment:
        account_segment = account.segment if account else None
        key = (lead.developers_bucket, lead.how_many_developers, lead.employees, account_segment)
        found = self.segments.get(key)
        if found is None:
            if len(self.segments) >= MEMO_SIZE:
                self.segments.clear()
            found = self.segments[key] = lead_segment(
                self.pb, developers_bucket=lead.developers_bucket, how_many_developers=lead.how_many_developers,
                employees=lead.employees, matched_account_segment=account_segment)
        return found

    def region(self, lead: Any, account: _AccountView | None) -> tuple[str | None, str]:
        # derive._lead_region reads the account's region and name, or else the lead's industry, country, state
        if account is not None and account.region:
            key: tuple[Any, ...] = ("account", account.region, account.name)
        else:
            key = ("lead", lead.industry, lead.country, lead.state)
        found = self.regions.get(key)
        if found is None:
            if len(self.regions) >= MEMO_SIZE:
                self.regions.clear()
            found = self.regions[key] = derive._lead_region(self.pb, lead, account)  # type: ignore[arg-type]
        return found

    def classifications(
        self, lead: Any, matched: _AccountView | None, family: Sequence[_AccountView]
    ) -> dict[str, str]:
        """L6 as `services.lifecycle.classification_facts` gathers it, from the prefetched hierarchy."""
        def facts(a: _AccountView) -> lifecycle.AccountFacts:
            return lifecycle.AccountFacts(id=a.id, type=a.type, partner_managed=a.partner_managed)

        if matched is None:
            key: tuple[Any, ...] = (None, lead.matched_at is not None, lead.product_user, lead.partner_managed)
            if key not in self.classes:
                self.classes[key] = self._classify(lifecycle.ClassificationFacts(
                    matching_done=lead.matched_at is not None, matched=None,
                    product_user=lead.product_user, partner_managed=lead.partner_managed))
            return self.classes[key]
        # classify reads the matched account's type and partner flag and the hierarchy's types
        key = (matched.type, matched.partner_managed, frozenset(a.type for a in family), lead.product_user,
               lead.partner_managed)
        if key not in self.classes:
            self.classes[key] = self._classify(lifecycle.ClassificationFacts(
                matching_done=True, matched=facts(matched), hierarchy=[facts(a) for a in family],
                product_user=lead.product_user, partner_managed=lead.partner_managed))
        return self.classes[key]

    def _classify(self, facts: lifecycle.ClassificationFacts) -> dict[str, str]:
        values = lifecycle.classify(self.pb, facts)
        return {self.lc_columns[k]: v.value for k, v in values.items() if k in self.lc_columns}


# --------------------------------------------------------------------------- prefetching

# What the derivation reads of a lead (and compares before writing): read with Core, not as objects.
_LEAD_COLUMNS = [LEADS.c[name] for name in (
    "id", "developers_bucket", "how_many_developers", "employees", "matched_account_id", "matched_at",
    "industry", "country", "state", "title", "company", "email", "initial_source", "trial_started_at",
    "trial_ends_at", "product_user", "partner_managed", "segment", "region", "score", "score_parts",
    "score_source", "route_requested_at", "mql_date", "status", "status_reason", "owner_type", "owner_id",
    "active_until", "not_to_engage", "lc_unknown", "lc_user", "lc_prospect_hierarchy",
    "lc_customer_hierarchy_account", "lc_former_customer_account", "lc_partner_managed", "derivations",
    "updated_at",  # not read by the rules: tells whether the lead changed since it was read
)]
# loading changed leads as records: only these (the flush writes only changed columns)
_LEAD_ATTRIBUTES = [getattr(Lead, c.key) for c in _LEAD_COLUMNS]
_ACCOUNT_COLUMNS = [ACCOUNTS.c[name] for name in (
    "id", "name", "parent_id", "type", "partner_managed", "segment", "region", "derivations")]


@dataclass
class _AccountView:
    """What a lead's derivation reads of an account: S5/S8 (segment, region, name) and L6 (type, partner)."""

    id: str
    name: str
    parent_id: str | None
    type: str | None
    partner_managed: bool | None
    segment: str | None
    region: str | None
    derived: bool  # whether its segment was ever derived (else refresh_lead re-derives its hierarchy)

    def update(self, account: Account) -> None:
        self.name, self.segment, self.region = account.name, account.segment, account.region
        self.derived = bool((account.derivations or {}).get("segment"))


def _activities(uow: UnitOfWork, lead_ids: Sequence[str]) -> dict[str, list[tuple[str, dt.datetime]]]:
    """Every activity of the chunk's leads, with one IN query, as derive.lead_activities gives them."""
    found: dict[str, list[tuple[str, dt.datetime]]] = defaultdict(list)
    rows = uow.session.execute(
        select(Activity.subject_id, Activity.type, Activity.at)
        .where(Activity.subject_type == "lead", Activity.subject_id.in_(lead_ids))
        .order_by(Activity.subject_id, Activity.at)
    ).all()
    for subject_id, kind, at in rows:
        found[subject_id].append((kind, at))
    return found


def _hierarchies(uow: UnitOfWork, account_ids: Iterable[str]) -> tuple[dict[str, _AccountView], dict[str, list[str]]]:
    """Each matched account's whole hierarchy (every account under its ultimate parent) as
    `services.lifecycle.hierarchy` finds it: one query per level up, one per level down."""
    session = uow.session
    loaded: dict[str, _AccountView] = {}

    def load(rows: Iterable[Any]) -> list[_AccountView]:
        views = [_AccountView(r.id, r.name, r.parent_id, r.type, r.partner_managed, r.segment, r.region,
                              bool((r.derivations or {}).get("segment"))) for r in rows]
        loaded.update((v.id, v) for v in views)
        return views

    matched = set(account_ids)
    wanted = set(matched)
    while wanted:  # the matched accounts, then their parents, up to the ultimate parents
        views = load(session.execute(select(*_ACCOUNT_COLUMNS).where(ACCOUNTS.c.id.in_(wanted))).all())
        wanted = {v.parent_id for v in views if v.parent_id and v.parent_id not in loaded}

    def top_of(account: _AccountView) -> str:
        top, seen = account, {account.id}
        while top.parent_id and top.parent_id not in seen and top.parent_id in loaded:
            top = loaded[top.parent_id]
            seen.add(top.id)
        return top.id

    tops = {a_id: top_of(loaded[a_id]) for a_id in matched if a_id in loaded}
    children: dict[str, list[str]] = defaultdict(list)
    done = set(tops.values())
    frontier = sorted(done)
    while frontier:  # down from the ultimate parents, level by level
        rows = session.execute(select(*_ACCOUNT_COLUMNS).where(ACCOUNTS.c.parent_id.in_(frontier))).all()
        frontier = []
        for row in rows:
            if row.id in done:
                continue
            if row.id not in loaded:
                load([row])
            done.add(row.id)
            children[row.parent_id].append(row.id)
            frontier.append(row.id)

    families: dict[str, list[str]] = {}
    for top_id in set(tops.values()):
        family, level = [top_id], [top_id]
        while level:
            level = [c for p in level for c in children.get(p, ())]
            family += level
        families[top_id] = family
    return loaded, {a_id: families[top_id] for a_id, top_id in tops.items()}


# --------------------------------------------------------------------------- one lead


Write = tuple[str, Any, str, str]  # field, value, rule, why


def _derive_lead(
    look: _Lookups,
    lead: Any,
    acts: list[tuple[str, dt.datetime]],
    account: _AccountView | None,
    family: Sequence[_AccountView],
    now: dt.datetime,
) -> tuple[list[Write], dict[str, Any] | None]:
    """derive._refresh_lead on prefetched inputs, without writing: the fields whose value differs
    (with derive's rule and reason, in derive's order) and the new `derivations` (None: unchanged).

    `lead` is the stored row as read before any write; derive reads nothing it writes before it
    writes it, so the row gives the same inputs as the record derive changes as it goes.
    """
    pb = look.pb
    writes: list[Write] = []

    def put(name: str, value: Any, rule: str, why: str) -> None:
        current = getattr(lead, name)
        if type(current) is type(value) and current == value:
            return  # equal values of one type are equal as JSON too: no need to convert
        if to_json(current) != to_json(value):  # uow.set_field's own test
            writes.append((name, value, rule, why))

    seg = look.segment(lead, account)
    region, region_why = look.region(lead, account)
    put("segment", seg.segment, "lead-segment", seg.why)
    put("region", region, "territory", region_why)

    if lead.score_source == "external":
        score = scoring.Score(total=lead.score, parts=(), source="external", notes=())
    else:
        inputs = scoring.ScoreInput(activities=acts, title=lead.title, segment=seg.segment, country=lead.country,
                                    region=region, industry=lead.industry, company=lead.company, email=lead.email)
        score = scoring.compute_score(look.scoring_for(frozenset(kind for kind, _ in acts)), inputs, now)
    old_score = lead.score
    put("score_parts", [p.as_json() for p in score.parts], "score", f"{len(score.parts)} part(s)")
    put("score_source", score.source, "score", f"score from {score.source}")
    put("score", score.total, "score", derive._score_why(score))
    routing = scoring.routing_check(pb, old_score, score.total)
    if routing.triggered:
        put("route_requested_at", now, "routing-threshold", routing.why)
    mql = scoring.mql_decision(pb, current_status=lead.status, mql_date=lead.mql_date, old_score=old_score,
                               new_score=score.total)
    if mql.set_mql_date:
        put("mql_date", now, "mql-threshold", mql.why)
    if mql.set_status and mql.set_status != lead.status:
        plan = lifecycle.plan_transition(pb, current=lead.status, to=mql.set_status, rule="mql-threshold")
        put("status", plan.to_status, plan.rule, mql.why)
        put("status_reason", plan.reason, plan.rule, mql.why)
        if plan.hand_to is not None:
            put("owner_type", plan.hand_to.type, plan.rule, mql.why)
            put("owner_id", plan.hand_to.id, plan.rule, mql.why)

    trials = [(lead.trial_started_at, lead.trial_ends_at)] if lead.trial_started_at and lead.trial_ends_at else []
    active = activity_rules.active_until(look.activity, acts, trials, now)
    put("active_until", active.until, "active-window", active.why)
    engage = activity_rules.not_to_engage(look.activity, lead.initial_source, acts, active.active, now=now)
    put("not_to_engage", engage.flag, "not-to-engage", engage.why)
    for column, value in look.classifications(lead, account, family).items():
        put(column, value, CLASSIFICATION_RULE, CLASSIFICATION_WHY)
    derivations = derive.explanations(lead, seg, region, region_why, score, mql, routing, active, engage)
    return writes, (None if derivations == lead.derivations else derivations)


# --------------------------------------------------------------------------- chunks


def _chunks(chunk: int, lead_ids: Sequence[str] | None) -> Iterator[Sequence[str] | None]:
    """Explicit id lists in id order, or None for "the next `chunk` leads after the last one"."""
    if lead_ids is None:
        while True:
            yield None
    else:
        ordered = sorted(set(lead_ids))
        for i in range(0, len(ordered), chunk):
            yield ordered[i:i + chunk]


def _lead_rows(uow: UnitOfWork, ids: Sequence[str] | None, after: str | None, chunk: int) -> list[Any]:
    stmt = select(*_LEAD_COLUMNS).where(LEADS.c.merged_into_id.is_(None))
    if ids is not None:
        stmt = stmt.where(LEADS.c.id.in_(ids))
    elif after is not None:
        stmt = stmt.where(LEADS.c.id > after)
    return list(uow.session.execute(stmt.order_by(LEADS.c.id).limit(chunk)).all())


# only where the lead is as it was read: a lead changed meanwhile keeps its own explanation
_SET_DERIVATIONS = (
    update(LEADS)
    .where(LEADS.c.id == bindparam("lead_id"), LEADS.c.updated_at.is_not_distinct_from(bindparam("read_at")))
    .values(derivations=bindparam("new_derivations"), updated_at=bindparam("changed_at"))
)


def rescore_chunk(uow: UnitOfWork, pb: Playbook, rows: Sequence[Any], now: dt.datetime,
                  look: _Lookups | None = None) -> tuple[int, int, int]:
    """Re-derive the leads of `rows` (stored rows, `_LEAD_COLUMNS`) inside the caller's change context.

    Returns (leads with a changed field, changed lead fields, accounts whose hierarchy was re-derived).
    Leads with a changed field are loaded as records (one IN query) and written with `uow.set_field`,
    so the flush writes their history; the `derivations` of a lead whose fields all stand (an
    explanation, never history) are written with one executemany, as the flush would write them
    (`derivations` and `updated_at`, no history row).
    """
    look = look or _Lookups.of(pb)
    session = uow.session
    acts = _activities(uow, [r.id for r in rows])
    matched_ids = {r.matched_account_id for r in rows if r.matched_account_id}
    accounts, families = _hierarchies(uow, matched_ids) if matched_ids else ({}, {})
    refreshed = 0
    for account_id in sorted(matched_ids):
        view = accounts[account_id]
        if view.segment is None or not view.derived:
            # as refresh_lead does, in this lead change: the whole hierarchy, once
            for account in derive._refresh_hierarchy(uow, pb, uow.get(Account, account_id), now):
                refreshed += 1
                if account.id in accounts:
                    accounts[account.id].update(account)

    def derive_one(lead: Any) -> tuple[list[Write], dict[str, Any] | None]:
        account_id = lead.matched_account_id
        account = accounts[account_id] if account_id else None
        family = [accounts[i] for i in families[account_id]] if account_id else []
        return _derive_lead(look, lead, acts.get(lead.id, []), account, family, now)

    planned: dict[str, tuple[Any, list[Write], dict[str, Any] | None]] = {}
    derivations_only: list[dict[str, Any]] = []
    for row in rows:
        writes, derivations = derive_one(row)
        if writes:
            planned[row.id] = (row, writes, derivations)
        elif derivations is not None:
            derivations_only.append({"lead_id": row.id, "read_at": row.updated_at, "new_derivations": derivations,
                                     "changed_at": now})

    changed_fields = 0
    if planned:
        # locked (PostgreSQL) from here to the commit; one changed since it was read is derived again
        stmt = (select(Lead).options(load_only(*_LEAD_ATTRIBUTES)).where(Lead.id.in_(list(planned)))
                .order_by(Lead.id).with_for_update())
        for lead in session.scalars(stmt):
            row, writes, derivations = planned[lead.id]
            if any(getattr(lead, key) != value for key, value in row._mapping.items()):
                writes, derivations = derive_one(lead)
            for name, value, rule, why in writes:
                changed_fields += uow.set_field(lead, name, value, rule=rule, why=why)
            if derivations is not None:
                lead.derivations = derivations
    if derivations_only:
        session.execute(_SET_DERIVATIONS, derivations_only)
    return len(planned), changed_fields, refreshed


def rescore_all(
    store: Store,
    pb: Playbook,
    now: dt.datetime,
    *,
    chunk: int = 2000,
    lead_ids: Sequence[str] | None = None,
) -> RescoreReport:
    """Re-derive every lead (or `lead_ids`) in id order, one unit of work and one flush per chunk."""
    start = time.perf_counter()
    look = _Lookups.of(pb)
    leads_seen = changed_leads = history_rows = 0
    after: str | None = None
    for ids in _chunks(chunk, lead_ids):
        with store.uow() as uow:
            rows = _lead_rows(uow, ids, after, chunk)
            if not rows:
                if ids is None:
                    break
                continue
            after = rows[-1].id
            with uow.changing(actor=ACTOR, now=now, rule="rescore", why="nightly rescore of every lead") as ctx:
                changed, _, refreshed = rescore_chunk(uow, pb, rows, now, look)
            # every history row of this chunk (leads and re-derived accounts) carries its change id
            if changed or refreshed:
                history_rows += int(uow.session.scalar(
                    select(func.count()).select_from(FieldHistory).where(FieldHistory.change_id == ctx.change_id))
                    or 0)
            uow.commit()
        leads_seen += len(rows)
        changed_leads += changed
    return RescoreReport(leads=leads_seen, changed_leads=changed_leads, history_rows=history_rows,
                         seconds=time.perf_counter() - start)


# --------------------------------------------------------------------------- the nightly job: only what changed


def playbook_fingerprint(pb: Playbook) -> str:
    """Which rules a run used: a different playbook since the previous run means every lead again."""
    return hashlib.sha256(pb.model_dump_json().encode()).hexdigest()[:16]


def previous_rescore(uow: UnitOfWork, now: dt.datetime, run_id: int | None) -> JobRun | None:
    """The latest rescore run that finished, started before `now` (not `run_id`)."""
    stmt = select(JobRun).where(JobRun.job == RESCORE_JOB, JobRun.finished_at.is_not(None), JobRun.started_at < now)
    if run_id is not None:
        stmt = stmt.where(JobRun.id != run_id)
    return uow.session.scalars(stmt.order_by(JobRun.started_at.desc()).limit(1)).first()


def leads_to_rescore(uow: UnitOfWork, pb: Playbook, since: dt.datetime, now: dt.datetime) -> set[str]:
    """The leads whose derived figures can differ at `now` from what a run at `since` left, by indexed queries.

    A lead's figures depend on its own fields, its activities, its matched account's hierarchy, the
    playbook and the time. So: leads changed after `since` (`updated_at`; the previous run stamped its
    own changes with `since`); leads with an activity dated since
    (new, or a future one that has now happened: a score note names `now` while one is pending);
    leads with an activity whose points fade (`decay_after_days`) between the two runs; leads whose
    Active window ended, or trial started or ended, between them; and the leads matched into the
    hierarchy of an account changed since. A changed playbook is the caller's business (all leads).
    """
    session = uow.session
    found: set[str] = set()
    # `>`: the previous run itself stamped the leads it changed with `since`, and they are up to date
    found.update(session.scalars(select(Lead.id).where(or_(Lead.updated_at > since, Lead.updated_at.is_(None)))))
    found.update(session.scalars(select(Lead.id).where(Lead.active_until >= since, Lead.active_until <= now)))
    found.update(session.scalars(select(Lead.id).where(or_(
        and_(Lead.trial_started_at >= since, Lead.trial_started_at <= now),
        and_(Lead.trial_ends_at >= since, Lead.trial_ends_at <= now)))))
    lead_acts = select(Activity.subject_id).where(Activity.subject_type == "lead")
    found.update(session.scalars(lead_acts.where(Activity.at >= since)))
    fading: dict[int, set[str]] = defaultdict(set)
    for rule in pb.scoring.behaviour:
        if rule.decay_after_days:
            fading[rule.decay_after_days].update(rule.activity_types)
    for days, kinds in sorted(fading.items()):
        age = dt.timedelta(days=days)
        found.update(session.scalars(lead_acts.where(
            Activity.at >= since - age, Activity.at <= now - age, Activity.type.in_(sorted(kinds)))))
    changed_accounts = set(session.scalars(select(Account.id).where(Account.updated_at > since)))
    if changed_accounts:
        family = set(changed_accounts)
        frontier = set(changed_accounts)
        while frontier:  # up to the ultimate parents, whose hierarchy (every account below) a lead sees
            frontier = {p for p in session.scalars(select(Account.parent_id).where(
                Account.id.in_(sorted(frontier)), Account.parent_id.is_not(None))) if p is not None} - family
            family |= frontier
        frontier = set(family)
        while frontier:  # and down again: every account of those hierarchies
            frontier = set(session.scalars(select(Account.id).where(Account.parent_id.in_(sorted(frontier))))) - family
            family |= frontier
        ordered = sorted(family)
        for i in range(0, len(ordered), 500):
            found.update(session.scalars(select(Lead.id).where(Lead.matched_account_id.in_(ordered[i:i + 500]))))
    return found


@job(RESCORE_JOB)
def rescore_job(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
    """The nightly rescore (W8): every lead's derived figures brought up to date with `now`.

    After a finished run with the same playbook, only the leads `leads_to_rescore` finds are derived
    (the others would come out the same); the first run, or the first after a playbook change, derives
    every lead. The summary says which it was and since when.
    """
    fingerprint = playbook_fingerprint(pb)
    with store.uow() as uow:
        previous = previous_rescore(uow, now, run_id)
        since = previous.started_at if previous is not None else None
        same_rules = previous is not None and (previous.result or {}).get("playbook") == fingerprint
        ids = leads_to_rescore(uow, pb, since, now) if since is not None and same_rules else None
    report = rescore_all(store, pb, now, lead_ids=sorted(ids) if ids is not None else None)
    mode = "incremental" if ids is not None else ("all: playbook changed" if previous is not None else "all")
    return {**report.as_json(), "mode": mode, "since": to_json(since), "playbook": fingerprint}
