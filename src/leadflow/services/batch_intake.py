"""Batch intake for list imports (I3): a chunk of rows through the same intake rules, with chunk-level reads
and Core executemany writes.

The per-row intake (`services.intake.intake`) runs ~30 SQL statements and several ORM flushes per row. For
the rows of a `lead` channel this module instead reads what a chunk needs with a few IN queries (replays,
same-email people, duplicate candidates, matched accounts with their hierarchies and open opportunities,
users, round-robin credits), decides each row with the same pure functions (normalise, spam, duplicates,
derivation, M4's checks, the routing flow, SLA), keeps each new lead as a transient `Lead` with its own
history (a creation snapshot and one row per later change naming the rule that made it, exactly the rows
the unit of work would write) and writes every table with one executemany per chunk.

Whatever it cannot decide from those inputs goes through the per-row intake, in order: a same-email row
(an update), a matched account whose figures were never derived, an M4 conversion or recycle, a routing
rule that may move the company's other leads (R3). The pending batch is written first, so that row sees
every earlier row, and the chunk's in-memory state is read again after it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, String, bindparam, func, literal_column, select, text, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from leadflow.domain import lifecycle, round_robin, sla
from leadflow.domain.duplicates import (
    NameFilter,
    PersonRow,
    candidate_keys,
    duplicate_of,
    find_duplicates,
    last_name_filter,
    name_filter,
    person_row,
)
from leadflow.domain.matching import LeadRow, Match
from leadflow.domain.normalise import normalise_company
from leadflow.domain.records import Actor
from leadflow.domain.routing import UNROUTABLE_RULE, RoutingRecord, SameCompanyLead, TraceEntry, compile_flow
from leadflow.domain.territory import is_public_sector
from leadflow.errors import LeadflowError
from leadflow.playbook.schema import ChannelDef, Playbook
from leadflow.services import derive
from leadflow.services import intake as single
from leadflow.services import routing as routing_service
from leadflow.services.account_cache import shared_index
from leadflow.services.intake_models import LeadIn
from leadflow.services.lifecycle import owner_of, set_owner
from leadflow.store.bulk import insert_many
from leadflow.store.models import (
    Account,
    Activity,
    CampaignMember,
    Contact,
    FieldHistory,
    Intake,
    Lead,
    Opportunity,
    OutboxEvent,
    RoundRobinCredit,
    RoutingDecision,
    User,
    new_id,
)
from leadflow.store.names import name_filter_clause
from leadflow.store.uow import (
    CREATED,
    UnitOfWork,
    _apply_defaults,
    column_values,
    company_key,
    snapshot,
    to_json,
)

# Channel handlings the batch never takes: their rows go through the per-row intake (imports, group commit).
PER_ROW_HANDLINGS = frozenset({"forward", "subscription", "usage_ping", "purchase"})
_DUP_LIMIT = single.DUPLICATE_LIMIT  # as the per-row duplicate search: each key's oldest 200 candidates
_SHARED_LIMIT = 1000  # a broad value's read for several name filters at once (`Batch._read_shared`)


_BROAD = ("last_name", "domain")  # the kinds read through the person's name filter (`name_filter`)
_SEP = "\x1f"  # a broad key's value: "key" (no filter) or "key<SEP>first initials<SEP>last initials"


def _oldest_columns(model: Any, table: Any, initials: bool) -> list[Any]:
    """The columns a duplicate key's read returns, of `table` (the model's table or an alias of it)."""
    c = table.c
    columns = [c.id, c.created_at, c.email, c.first_name, c.last_name, c.phone, c.country,
               (c.company if model is Lead else c.email.label("company")), c.email_key, c.phone_key]
    if model is Lead:
        columns += [c.website, c.domain]
    if initials:
        columns += [c.first_initial, c.last_initial]
    return columns


def _oldest_select(kind: str, model: Any, key: Any, last: Any = None, initials: tuple[Any, Any] | None = None,
                   extra: tuple[Any, ...] = ()) -> Any:
    """One key's live people of a kind by (created_at, id), as the per-row search reads them: the key is
    `key` (for "domain_last" the domain, with the lower-case last name `last`), bound or a column; a broad
    kind's `initials` are its name filter's (first, last) initials, bound or columns."""
    columns = _oldest_columns(model, model.__table__, initials is not None)
    key_column = {"email": model.email, "phone": model.phone, "domain": Lead.domain,
                  "last_name": func.lower(model.last_name), "domain_last": Lead.domain}[kind]
    where = [key_column == key]
    if kind == "domain_last":
        where.append(func.lower(Lead.last_name) == last)
    if initials is not None:
        where.append(name_filter_clause(model, *initials))
    return (select(*columns, *extra).where(*where, model.merged_into_id.is_(None))
            .order_by(model.created_at, model.id))


_KEYS_PER_STATEMENT = 500  # keys of one kind per statement, bound as arrays (PostgreSQL) or JSON (SQLite)
_LATERAL: dict[tuple[str, str], Any] = {}


def _per_key_lateral(one: Callable[[Any, Any], Any], arrays: tuple[str, ...], order: Callable[[Any], list[Any]]) -> Any:
    """PostgreSQL's per-key read: the keys bound as arrays and unnested WITH ORDINALITY, each key's ordered,
    limited select joined LATERAL to it, so the statement has one plan whatever the number of keys (a
    UNION ALL of one select per key cost PostgreSQL 10-12 ms to plan on every execution, more than it
    ran). SQLite has no LATERAL: `_per_key_json`. `slot` is the key's 0-based position, and rows come
    ordered by slot, then as each key's select orders them."""
    keys = func.unnest(*(bindparam(a, type_=ARRAY(String)) for a in arrays)).table_valued(
        *arrays, with_ordinality="n").render_derived(name="k")
    inner = one(*(keys.c[a] for a in arrays)).limit(bindparam("limit")).lateral("p")
    return (select(*inner.c, (keys.c.n - 1).label("slot")).select_from(keys).join(inner, true())
            .order_by(keys.c.n, *order(inner)))


def _oldest_per_key_lateral(kind: str, model: Any) -> Any:
    """Each key's oldest `:limit` live people of a kind by (created_at, id), as the per-row search reads them,
    walking the key's ordered index (store/models.py: (key, created_at, id, initials)) and stopping at the
    limit however many namesakes or colleagues it has; bound keys only. PostgreSQL: bind `keys` (and, for
    "domain_last", `lasts`; for a broad kind, `firsts` and `lasts`, its filters' initials) and `limit`."""
    cache_key = (kind, model.__entity__)
    found = _LATERAL.get(cache_key)
    if found is None:
        if kind in _BROAD:
            found = _per_key_lateral(lambda key, first, last: _oldest_select(kind, model, key, None, (first, last)),
                                     ("keys", "firsts", "lasts"), lambda p: [p.c.created_at, p.c.id])
        else:
            arrays = ("keys", "lasts") if kind == "domain_last" else ("keys",)
            found = _per_key_lateral(lambda key, last=None: _oldest_select(kind, model, key, last), arrays,
                                     lambda p: [p.c.created_at, p.c.id])
        _LATERAL[cache_key] = found
    return found


def _same_company_per_key_lateral(kind: str) -> Any:
    """Each key's (domains "d", company keys "k") first `:limit` live leads in `:statuses` with no matched
    account, in `_stored_same_company`'s order. PostgreSQL: bind `keys`, `statuses` and `limit`."""
    found = _LATERAL.get(("same_company", kind))
    if found is None:
        column = Lead.domain if kind == "d" else Lead.company_key

        found = _LATERAL[("same_company", kind)] = _per_key_lateral(
            lambda key: _same_company_select(column == key), ("keys",),
            lambda p: [p.c.mql_date, p.c.created_at, p.c.id])
    return found


def _rowid(table: Any) -> Any:
    """SQLite's rowid of `table` (a table or an alias): our tables' text ids are a unique index beside it."""
    return literal_column(f"{table.name}.rowid")


# A MATERIALIZED common table expression (SQLite 3.35+) is computed once; a plain one is flattened into the query.
_MATERIALIZED = sqlite3.sqlite_version_info >= (3, 35, 0)


def _per_key_json(one: Callable[..., Any], model: Any, columns: Callable[[Any], list[Any]], width: int,
                  order: Callable[[Any], list[Any]]) -> Any:
    """SQLite's form of `_per_key_lateral`: the keys bound as one JSON array `rows` of `width` values each,
    read with json_each; each key's ordered, limited select (`one` of the row's values, by rowid)
    correlated to it in an IN, so SQLite walks the key's index, stops at the limit and reads each row by
    its rowid. One statement for any number of keys, built and compiled once: a UNION ALL of one select
    per key has to be built and compiled for each number of keys, ~1.3 s of a new process's first import.
    `slot` is the key's 0-based position, and rows come ordered by slot, then by `order`.

    Each key's values are taken out of its JSON once, in a materialized CTE: written in the correlated
    select, SQLite evaluates `json_extract` for every index entry it walks (a common last name's hundreds),
    and the ids it returns would each be looked up in the id index before the table. Both cost the read of
    400 common last names (12,752 rows at 60,000 leads) 0.17 s; this form 0.10 s."""
    each = func.json_each(bindparam("rows", type_=String)).table_valued("key", "value", name="j")
    keys = select(each.c.key, *(func.json_extract(each.c.value, f"$[{i}]").label(f"v{i}") for i in range(width)))
    keys = keys.cte("k").prefix_with("MATERIALIZED") if _MATERIALIZED else keys.cte("k")
    ids = one(*(keys.c[f"v{i}"] for i in range(width))).with_only_columns(_rowid(model.__table__))
    row = model.__table__.alias("c")
    return (select(*columns(row), keys.c.key.label("slot")).select_from(keys)
            .join(row, _rowid(row).in_(ids.limit(bindparam("limit")).correlate(keys)))
            .order_by(keys.c.key, *order(row)))


_JSON: dict[tuple[str, str], Any] = {}


def _oldest_per_key_json(kind: str, model: Any) -> Any:
    """`_oldest_per_key_lateral` for SQLite: bind `rows` (each key's [key], [domain, last name] for "domain_last",
    [key, first initials, last initials] for a broad kind) and `limit`."""
    found = _JSON.get((kind, model.__entity__))
    if found is None:
        initials = kind in _BROAD
        width = 3 if initials else 2 if kind == "domain_last" else 1

        def one(key: Any, second: Any = None, third: Any = None) -> Any:
            if initials:
                return _oldest_select(kind, model, key, None, (second, third))
            return _oldest_select(kind, model, key, second)

        found = _JSON[(kind, model.__entity__)] = _per_key_json(
            one, model, lambda t: _oldest_columns(model, t, initials), width, lambda t: [t.c.created_at, t.c.id])
    return found


def _same_company_per_key_json(kind: str) -> Any:
    """`_same_company_per_key_lateral` for SQLite: bind `rows` (each key's [key]), `statuses` and `limit`."""
    found = _JSON.get(("same_company", kind))
    if found is None:
        column = Lead.domain if kind == "d" else Lead.company_key
        found = _JSON[("same_company", kind)] = _per_key_json(
            lambda key: _same_company_select(column == key), Lead, _same_company_columns, 1,
            lambda t: [t.c.mql_date, t.c.created_at, t.c.id])
    return found


def _key_statement(dialect: str, kind: str, model: Any, group: list[str],
               limit: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The statement reading `group`'s keys of a kind (each key's oldest `limit`, `_DUP_LIMIT` unless
    given), and its bound values, in the store's form (`dialect`: "postgresql" or "sqlite")."""
    limit = _DUP_LIMIT if limit is None else limit
    if kind == "domain_last":  # each key is "domain|last name": two bound values
        pairs = [v.partition("|") for v in group]
        keys, seconds = [p[0] for p in pairs], [p[2] for p in pairs]
    elif kind in _BROAD:  # each key is its value and its name filter's two strings of initials
        split = [_split_broad(v) for v in group]
        keys = [base for base, _ in split]
        firsts = [f.first if f is not None else None for _, f in split]
        seconds = [f.last if f is not None else None for _, f in split]
    else:
        keys, seconds = group, []
    if dialect == "postgresql":
        params: dict[str, Any] = {"keys": keys, "limit": limit}
        if kind == "domain_last" or kind in _BROAD:
            params["lasts"] = seconds
        if kind in _BROAD:
            params["firsts"] = firsts
        return _oldest_per_key_lateral(kind, model), params
    if kind == "domain_last":
        rows: list[list[Any]] = [[k, last] for k, last in zip(keys, seconds, strict=True)]
    elif kind in _BROAD:
        rows = [[k, f, g] for k, f, g in zip(keys, firsts, seconds, strict=True)]
    else:
        rows = [[k] for k in keys]
    return _oldest_per_key_json(kind, model), {"rows": json.dumps(rows), "limit": limit}


def _broad_value(value: str, filt: NameFilter | None) -> str:
    """A broad key's value with its name filter (the batch's key: two people's filters read other rows)."""
    return value if filt is None else f"{value}{_SEP}{filt.first}{_SEP}{filt.last}"


def _split_broad(value: str) -> tuple[str, NameFilter | None]:
    if _SEP not in value:
        return value, None
    base, first, last = value.split(_SEP)
    return base, NameFilter(first=first, last=last)


def _same_company_columns(table: Any) -> list[Any]:
    c = table.c
    return [c.status, c.mql_date, c.owner_type, c.owner_id, c.id, c.created_at]


def _same_company_select(key_is: Any, *extra: Any) -> Any:
    return (select(*_same_company_columns(Lead.__table__), *extra)
            .where(key_is, Lead.status.in_(bindparam("statuses", expanding=True)),
                   Lead.matched_account_id.is_(None), Lead.merged_into_id.is_(None),
                   Lead.converted_at.is_(None), Lead.spam.is_(False))
            .order_by(Lead.mql_date, Lead.created_at, Lead.id))


class Fallback(Exception):
    """This row needs the per-row intake (it writes more than a new lead, or reads what a chunk cannot).
    `broad`: the per-row intake may change other people too (R3 moves the company's leads)."""

    def __init__(self, why: str, *, broad: bool = False) -> None:
        super().__init__(why)
        self.broad = broad


@dataclass
class Ctx:
    """A change context as the unit of work would open it: actor, time, rule, why, change id."""

    actor: Actor
    now: dt.datetime
    rule: str | None
    why: str | None
    change_id: str = field(default_factory=lambda: new_id("chg"))

    def nested(self, rule: str | None = None, why: str | None = None) -> Ctx:
        return Ctx(self.actor, self.now, rule if rule is not None else self.rule, why if why is not None else self.why)


class History:
    """The field history of one new lead, as the unit of work's flush listener would write it."""

    def __init__(self, record: Lead | Contact, out: list[dict[str, Any]], *, stored: bool = False) -> None:
        self.record = record
        self.out = out
        self.flushed: dict[str, Any] | None = None
        self.raw: dict[str, Any] = {}
        self.rules: dict[str, tuple[str, str]] = {}
        if stored:  # a record read from the store: history starts from what is stored
            self.flushed = snapshot(record)
            self.raw = {k: record.__dict__.get(k) for k in self.flushed}

    def copy(self, record: Lead | Contact, out: list[dict[str, Any]]) -> History:
        """The same history state for a copy of the record (an update is tried on a copy)."""
        other = History(record, out)
        other.flushed = dict(self.flushed) if self.flushed is not None else None
        other.raw = {k: record.__dict__.get(k) for k in self.raw}
        return other

    def set_field(self, record: Any, name: str, value: Any, rule: str, why: str) -> bool:
        if to_json(getattr(record, name)) == to_json(value):
            return False
        setattr(record, name, value)
        self.rules[name] = (rule, why)
        return True

    def _row(self, ctx: Ctx, name: str, old: Any, new: Any) -> dict[str, Any]:
        rule, why = self.rules.pop(name, (ctx.rule, ctx.why))
        return {"change_id": ctx.change_id, "entity_type": self.record.__entity__, "entity_id": self.record.id,
                "field": name, "old_value": old, "new_value": new, "changed_at": ctx.now, "actor_type": ctx.actor.type,
                "actor_id": ctx.actor.id, "rule": rule, "why": why}

    def flush(self, ctx: Ctx) -> None:
        record = self.record
        if self.flushed is None:
            _apply_defaults(record)
            record.id = record.id or new_id(record.__id_prefix__)
            record.created_at = record.created_at or ctx.now
            record.updated_at = ctx.now
            self.flushed = snapshot(record)
            self.raw = {k: record.__dict__.get(k) for k in self.flushed}
            self.out.append(self._row(ctx, CREATED, None, dict(self.flushed)))
            self.rules.clear()
            return
        changed = False
        values = record.__dict__  # a transient record's attribute values (no instrumented get per column)
        for name, before in self.raw.items():
            value = values.get(name)
            if value is before:  # not set since the last flush (the ORM's history sees only sets, too)
                continue
            self.raw[name] = value
            new = to_json(value)
            old = self.flushed[name]
            if old != new:
                self.flushed[name] = new
                self.out.append(self._row(ctx, name, old, new))
                changed = True
        if changed:
            record.updated_at = ctx.now
        self.rules.clear()


@dataclass
class RowResult:
    """What the batch did with one row (the fields `imports` counts)."""

    outcome: str
    subject_type: str | None
    subject_id: str | None
    replayed: bool = False


# --------------------------------------------------------------------------- routing pools in memory


class BatchPools(routing_service.Pools):
    """Pools for a chunk: users read once, capacity counts and round-robin credits kept in memory (read
    under lock once per pool and key, written back with the chunk)."""

    def __init__(self, uow: UnitOfWork, pb: Playbook, now: dt.datetime) -> None:
        super().__init__(uow, pb, now)
        self._decisions: dict[str, list[dt.datetime]] | None = None
        self._seen_decision = 0
        self.credits: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.dirty: set[tuple[str, str, str]] = set()

    def decisions(self) -> dict[str, list[dt.datetime]]:
        """Round-robin assignments of the last 8 days by owner (R9 capacity), read once, then kept current."""
        if self._decisions is None:
            self._decisions = {}
            self.read_decisions()
        return self._decisions

    def read_decisions(self) -> None:
        """Add the stored assignments this object has not seen yet (after a per-row intake routed)."""
        if self._decisions is None:
            return
        since = self.now - dt.timedelta(days=8)
        rows = self.uow.session.execute(
            select(RoutingDecision.id, RoutingDecision.owner_id, RoutingDecision.decided_at).where(
                RoutingDecision.assign_kind == "pool", RoutingDecision.owner_type == "user",
                RoutingDecision.decided_at >= since, RoutingDecision.id > self._seen_decision))
        for r in rows:
            self._decisions.setdefault(r.owner_id, []).append(r.decided_at)
            self._seen_decision = max(self._seen_decision, r.id)

    def _assigned_counts(self, users: list[User]) -> dict[str, tuple[int, int]]:
        limited = [u for u in users if u.rr_capacity_per_day is not None or u.rr_capacity_per_week is not None]
        if not limited:
            return {}
        by_owner = self.decisions()
        out: dict[str, tuple[int, int]] = {}
        for user in limited:
            week_start, day_start, day_end = routing_service.local_bounds(self.pb, user.region, self.now)
            at = [a for a in by_owner.get(user.id, ()) if week_start <= a < day_end]
            out[user.id] = (sum(1 for a in at if a >= day_start), len(at))
        return out

    def _credits(self, pool_id: str, key: str, users: list[User]) -> dict[str, dict[str, Any]]:
        found = self.credits.get((pool_id, key))
        if found is None:
            session = self.uow.session
            stmt = (select(RoundRobinCredit.user_id, RoundRobinCredit.credit, RoundRobinCredit.assigned_total,
                           RoundRobinCredit.last_assigned_at)
                    .where(RoundRobinCredit.pool_id == pool_id, RoundRobinCredit.pool_key == key)
                    .with_for_update())
            found = {r.user_id: {"credit": r.credit, "assigned_total": r.assigned_total,
                                 "last_assigned_at": r.last_assigned_at, "new": False}
                     for r in session.execute(stmt)}
            self.credits[(pool_id, key)] = found
        for u in users:
            if u.id not in found:
                found[u.id] = {"credit": 0, "assigned_total": 0, "last_assigned_at": None, "new": True}
                self.dirty.add((pool_id, key, u.id))
        return found

    def take_turn(self, pool_id: str, key: str | None) -> round_robin.Choice:
        users = self.admitted(pool_id, key)
        if not users:
            return round_robin.choose([])
        stored_key = key or ""
        credits = self._credits(pool_id, stored_key, users)
        rows = {u.id: _Credit(**{k: v for k, v in credits[u.id].items() if k != "new"}) for u in users}
        choice = round_robin.choose(self.members(pool_id, key, rows))  # type: ignore[arg-type]
        for member_id, credit in choice.credits:
            if credits[member_id]["credit"] != credit:
                credits[member_id]["credit"] = credit
                self.dirty.add((pool_id, stored_key, member_id))
        if choice.member_id is not None:
            chosen = credits[choice.member_id]
            chosen["assigned_total"] += 1
            chosen["last_assigned_at"] = self.now
            self.dirty.add((pool_id, stored_key, choice.member_id))
        self._members.pop((pool_id, key), None)
        return choice

    def record_assignment(self, owner_id: str) -> None:
        """This batch's assignment counts toward the owner's capacity from now on."""
        if self._decisions is not None:
            self._decisions.setdefault(owner_id, []).append(self.now)

    def after_single(self) -> None:
        """A per-row intake ran (after this batch's credits were written): read its turns again."""
        self.credits.clear()
        self._members.clear()
        self.read_decisions()

    def written(self, ids: list[int]) -> None:
        if ids:
            self._seen_decision = max(self._seen_decision, *ids)

    def write(self, session: Session) -> None:
        """Store the credits this chunk changed (new rows inserted, known rows updated)."""
        new, changed = [], []
        for pool_id, key, user_id in sorted(self.dirty):
            c = self.credits[(pool_id, key)][user_id]
            row = {"pool_id": pool_id, "pool_key": key, "user_id": user_id, "credit": c["credit"],
                   "assigned_total": c["assigned_total"], "last_assigned_at": c["last_assigned_at"]}
            (new if c["new"] else changed).append(row)
            c["new"] = False
        if new:
            dialect = session.get_bind().dialect.name
            ins = pg_insert if dialect == "postgresql" else sqlite_insert
            session.execute(ins(RoundRobinCredit).on_conflict_do_nothing(), new)
        if changed:
            table = RoundRobinCredit.__table__
            session.connection().execute(
                update(table).where(table.c.pool_id == bindparam("b_pool"), table.c.pool_key == bindparam("b_key"),
                                    table.c.user_id == bindparam("b_user"))
                .values(credit=bindparam("credit"), assigned_total=bindparam("assigned_total"),
                        last_assigned_at=bindparam("last_assigned_at")),
                [{"b_pool": r["pool_id"], "b_key": r["pool_key"], "b_user": r["user_id"], "credit": r["credit"],
                  "assigned_total": r["assigned_total"], "last_assigned_at": r["last_assigned_at"]}
                 for r in changed])
        self.dirty.clear()


@dataclass
class _Credit:
    credit: int
    assigned_total: int
    last_assigned_at: dt.datetime | None


# --------------------------------------------------------------------------- the chunk


class Batch:
    """One import transaction's batch state: what was read for the chunk and what waits to be written."""

    def __init__(self, uow: UnitOfWork, env: single.IntakeEnv, actor: Actor, now: dt.datetime,
                 campaign_id: str | None, row_cache: dict[tuple[Any, ...], PersonRow] | None = None) -> None:
        self.uow = uow
        self.row_cache: dict[tuple[Any, ...], PersonRow] = row_cache if row_cache is not None else {}
        self.env = env
        self.pb = env.pb
        self.actor = actor
        self.now = now
        self.campaign_id = campaign_id
        self.flow = compile_flow(self.pb)
        self.pools = BatchPools(uow, self.pb, now)
        self.pending: list[Lead | Contact] = []
        self.by_company: dict[str, list[Lead]] = {}  # pending leads by "d:domain" and "k:company key" (R3)
        self.same_company: dict[str, list[tuple[Any, ...]]] = {}  # stored ones, by the same keys
        self.dialect = uow.session.get_bind().dialect.name
        self.history: list[dict[str, Any]] = []
        self.activities: list[dict[str, Any]] = []
        self.members: list[dict[str, Any]] = []
        self.intakes: list[dict[str, Any]] = []
        self.decisions: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], Lead]] = []
        self.chunk_emails: set[str] = set()
        self.converted: list[dict[str, Any]] = []  # lead.converted events of the row being taken
        self.new_contacts: list[tuple[Contact, History]] = []  # contacts made by the row being taken (M4)
        self.events: list[dict[str, Any]] = []  # outbox rows waiting (besides lead.routed)
        self.people: dict[str, Lead | Contact | None] = {}  # by email: the person an update touches (I7)
        self.hist: dict[str, History] = {}  # by id: every person this batch holds
        self.acts_of: dict[str, list[tuple[str, dt.datetime]]] = {}  # by lead id: its activities (type, at)
        self.updated: dict[str, Lead | Contact] = {}  # stored people changed, by id (UPDATE at write)
        self.new_ids: set[str] = set()  # pending people not yet inserted
        self.joined: set[tuple[str, str]] = set()  # campaign members known (subject type, id)
        self.accounts: dict[str, Account] = {}
        self.children: dict[str, list[str]] = {}
        self.open_opps: dict[str, str] = {}
        self.dup_rows: dict[tuple[str, str], tuple[dt.datetime, str, str, PersonRow]] = {}
        self.dup_keys: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
        self.dup_oldest: dict[tuple[str, str, str], list[tuple[str, str]]] = {}  # a key's oldest 201, sorted
        # a broad key's values by its stored value: (kind, entity, value) -> [(key value, its name filter)]
        self.dup_broad: dict[tuple[str, str, str], list[tuple[str, NameFilter | None]]] = {}
        self.spam_campaign_id: str | None = None
        self.matches: dict[int, Match | None] = {}

    # ---- reads for a chunk

    def prefetch(self, rows: list[tuple[int, LeadIn, single.Normalised | None]]) -> None:
        """Everything the chunk's rows read, with a few IN queries."""
        session = self.uow.session
        norms = [(n, d, norm) for n, d, norm in rows if norm is not None]
        self.chunk_emails = {norm.email for _, _, norm in norms if norm.email}
        self._load_people(self.chunk_emails)
        # account matching against the shared index, once for the chunk
        engine = session.get_bind()
        if self.env._shared and isinstance(engine, Engine):
            with shared_index(engine, self.pb).current() as index:
                for number, data, norm in norms:
                    self.matches[number] = index.match(_lead_row(data, norm))
        else:
            for number, data, norm in norms:
                self.matches[number] = self.env.match(_lead_row(data, norm))
        self._load_accounts({m.account_id for m in self.matches.values() if m is not None})
        self._load_duplicates(norms)
        self._load_same_company([(n, d, norm) for n, d, norm in norms if self.matches.get(n) is None])

    def _load_same_company(self, norms: list[tuple[int, LeadIn, single.Normalised]]) -> None:
        """R3's stored same-company leads of the rows no account matched (only those look at them), per
        domain and company key, with a statement per kind for up to `_KEYS_PER_STATEMENT` keys: what
        `_stored_same_company` would read one key at a time."""
        statuses = self._same_company_statuses()
        if not statuses:
            return
        wanted: dict[str, set[str]] = {"d": set(), "k": set()}
        for _, data, norm in norms:
            if norm.domain:
                wanted["d"].add(norm.domain)
            name = normalise_company(data.company)
            if name.key:
                wanted["k"].add(name.key)
        for kind, values in wanted.items():
            todo = sorted(v for v in values if f"{kind}:{v}" not in self.same_company)
            for start in range(0, len(todo), _KEYS_PER_STATEMENT):
                group = todo[start:start + _KEYS_PER_STATEMENT]
                for key, entries in zip(group, self._read_same_company(kind, group, statuses), strict=True):
                    self.same_company[f"{kind}:{key}"] = entries

    def _same_company_statuses(self) -> list[str]:
        routing = self.pb.routing
        return sorted({*routing.same_company.mql_statuses, *routing.same_company.working_statuses}) \
            if routing else []

    def _read_same_company(self, kind: str, group: list[str], statuses: list[str]) -> list[list[tuple[Any, ...]]]:
        """Each key's stored same-company leads (`_same_company_per_key_lateral`, `_json`), in `group`'s order."""
        limit = routing_service._SAME_COMPANY_LIMIT + 1  # + 1: the lead itself is left out afterwards
        if self.dialect == "postgresql":
            stmt = _same_company_per_key_lateral(kind)
            params: dict[str, Any] = {"keys": group, "limit": limit, "statuses": statuses}
        else:
            stmt = _same_company_per_key_json(kind)
            params = {"rows": json.dumps([[k] for k in group]), "limit": limit, "statuses": statuses}
        found: list[list[tuple[Any, ...]]] = [[] for _ in group]
        for r in self.uow.session.execute(stmt, params):
            found[r.slot].append(_same_company_entry(r.mql_date, r.created_at, r.id, r.status, r.owner_type,
                                                     r.owner_id))
        return found

    def _load_people(self, emails: set[str]) -> None:
        """I7: for each email, the live contact, else the oldest live lead (as transient copies)."""
        session = self.uow.session
        wanted = sorted(e for e in emails if e not in self.people)
        found: dict[str, Lead | Contact] = {}
        for model in (Lead, Contact):  # contacts last: they win
            columns = list(model.__table__.columns)
            for chunk in _slices(wanted):
                stmt = (select(*columns).where(model.email.in_(chunk), model.merged_into_id.is_(None))
                        .order_by(model.created_at.desc(), model.id.desc()))
                for r in session.execute(stmt):
                    values = dict(r._mapping)
                    record = model(**values)
                    if model is Lead:
                        record.company_key = values["company_key"]
                    found[values["email"]] = record  # the oldest comes last
        for email in wanted:
            self.people[email] = found.get(email)
        stored = [p for p in found.values() if p.id not in self.hist]
        lead_ids = sorted(p.id for p in stored if isinstance(p, Lead))
        for lead_id in lead_ids:
            self.acts_of[lead_id] = []
        for chunk in _slices(lead_ids):
            for r in session.execute(select(Activity.subject_id, Activity.type, Activity.at)
                                     .where(Activity.subject_type == "lead", Activity.subject_id.in_(chunk))):
                self.acts_of[r.subject_id].append((r.type, r.at))
        if self.campaign_id is not None:
            ids = sorted(p.id for p in stored)
            for chunk in _slices(ids):
                for r in session.execute(select(CampaignMember.subject_type, CampaignMember.subject_id).where(
                        CampaignMember.campaign_id == self.campaign_id, CampaignMember.subject_id.in_(chunk))):
                    self.joined.add((r.subject_type, r.subject_id))

    def _account(self, account_id: str | None) -> Account | None:
        if account_id is None:
            return None
        if account_id not in self.accounts:
            self._load_accounts({account_id})
        return self.accounts.get(account_id)

    def _load_accounts(self, ids: set[str]) -> None:
        session = self.uow.session
        wanted = ids - set(self.accounts)
        while wanted:
            found = list(session.scalars(select(Account).where(Account.id.in_(wanted))))
            for a in found:
                self.accounts[a.id] = a
            wanted = {a.parent_id for a in found if a.parent_id} - set(self.accounts)
        # children of every loaded account, level by level
        frontier = [a for a in self.accounts if a not in self.children]
        while frontier:
            for a in frontier:
                self.children.setdefault(a, [])
            kids = list(session.scalars(select(Account).where(Account.parent_id.in_(frontier))))
            nxt = []
            for k in kids:
                if k.id not in self.children[k.parent_id or ""]:
                    self.children[k.parent_id or ""].append(k.id)
                if k.id not in self.accounts:
                    self.accounts[k.id] = k
                if k.id not in self.children:
                    nxt.append(k.id)
            frontier = nxt
        missing = [a for a in self.accounts if a not in self.open_opps]
        closed = self.pb.intake.closed_stages
        for chunk in _slices(missing):
            for r in session.execute(select(Opportunity.account_id, func.min(Opportunity.id))
                                     .where(Opportunity.account_id.in_(chunk), Opportunity.stage.not_in(closed))
                                     .group_by(Opportunity.account_id)):
                self.open_opps[r[0]] = r[1]
        for a in missing:
            self.open_opps.setdefault(a, "")

    def family(self, account: Account) -> list[Account]:
        """As services.lifecycle.hierarchy: the ultimate parent first, then its children level by level."""
        top, seen = account, {account.id}
        while top.parent_id and top.parent_id not in seen and top.parent_id in self.accounts:
            top = self.accounts[top.parent_id]
            seen.add(top.id)
        family, frontier, ids = [top], [top.id], {top.id}
        while frontier:
            nxt = []
            for parent in frontier:
                for kid in self.children.get(parent, []):
                    if kid not in ids:
                        ids.add(kid)
                        family.append(self.accounts[kid])
                        nxt.append(kid)
            frontier = nxt
        return family

    def _load_duplicates(self, norms: list[tuple[int, LeadIn, single.Normalised]]) -> None:
        """Each key's oldest 200 live leads and contacts (phone, last name, domain), as the per-row search."""
        self.dup_oldest.clear()  # the keys get the rows read now
        wanted: dict[tuple[str, str], set[str]] = {}
        for _, data, norm in norms:
            me = self._person_row("lead", "new", data.first_name, data.last_name, data.company, norm.phone,
                                  data.website or norm.domain, norm.country, norm.email)
            for kind, entity, value in self._keys_of(me, data.last_name):
                wanted.setdefault((kind, entity), set()).add(value)
        self._read_keys(wanted)

    def _keys_of(self, me: PersonRow, last_name: str | None) -> list[tuple[str, str, str]]:
        """The duplicate keys the per-row search reads for `me` (kind, entity, value), broad ones with its
        name filter; `last_name` as stored (its lower case is the last-name key, beside the folded form)."""
        keys = candidate_keys(me)
        rules = self.pb.duplicates
        filt = name_filter(me, rules) if rules is not None else None
        namesakes = last_name_filter(me, rules) if rules is not None else None
        last_names = {last_name.lower(), keys.get("last_name_folded", "")} - {""} if last_name else set()
        out: list[tuple[str, str, str]] = []
        for entity in ("lead", "contact"):
            if "email" in keys:
                out.append(("email", entity, keys["email"]))
            if "phone" in keys:
                out.append(("phone", entity, keys["phone"]))
            if "domain" in keys and entity == "lead":
                out += [("domain_last", "lead", f"{keys['domain']}|{name}") for name in sorted(last_names)]
            out += [("last_name", entity, _broad_value(name, namesakes)) for name in sorted(last_names)]
            if "domain" in keys and entity == "lead":
                out.append(("domain", "lead", _broad_value(keys["domain"], filt)))
        return out

    def _read_keys(self, wanted: dict[tuple[str, str], set[str]]) -> None:
        """Read the keys not read yet: each key's oldest `_DUP_LIMIT` live people, a few keys per statement."""
        session = self.uow.session
        models = {"lead": Lead, "contact": Contact}
        for (kind, entity), values in sorted(wanted.items()):
            model = models[entity]
            todo = sorted(v for v in values if (kind, entity, v) not in self.dup_keys)
            for v in todo:
                self.dup_keys[(kind, entity, v)] = []
                if kind in _BROAD:
                    base, filt = _split_broad(v)
                    self.dup_broad.setdefault((kind, entity, base), []).append((v, filt))
            if kind in _BROAD:
                todo = self._read_shared(kind, entity, model, todo)
            for start in range(0, len(todo), _KEYS_PER_STATEMENT):
                group = todo[start:start + _KEYS_PER_STATEMENT]
                for r in session.execute(*_key_statement(self.dialect, kind, model, group)):
                    self._keep_row(entity, model, r)
                    refs = self.dup_keys.get((kind, entity, group[r.slot]))
                    if refs is not None:
                        refs.append((entity, r.id))

    def _keep_row(self, entity: str, model: Any, r: Any) -> None:
        if (entity, r.id) not in self.dup_rows:
            site = (r.website or r.domain) if model is Lead else None
            company = r.company if model is Lead else None
            self.dup_rows[(entity, r.id)] = (
                r.created_at, entity, r.id,
                self._person_row(entity, r.id, r.first_name, r.last_name, company, r.phone, site, r.country,
                                 r.email, r.email_key, r.phone_key))

    def _read_shared(self, kind: str, entity: str, model: Any, todo: list[str]) -> list[str]:
        """Read a broad value that several of the chunk's people ask for, each through their own name filter,
        once: its oldest `_SHARED_LIMIT` people through the union of the filters, from which each filter takes
        its first 200 in (created_at, id) order. That is each filter's own read whenever the union's read is
        complete (fewer rows than the limit) or the filter found its 200 in it; the filters it is not for
        (a rare initial at a big company) are returned, to be read on their own. A big company's colleagues
        are read once a chunk, not once for each of its people's filters."""
        by_base: dict[str, list[tuple[str, NameFilter | None]]] = {}
        for v in todo:
            base, filt = _split_broad(v)
            by_base.setdefault(base, []).append((v, filt))
        unions: dict[str, list[tuple[str, NameFilter | None]]] = {}
        rest: list[str] = []
        for base, items in by_base.items():
            if len(items) == 1:
                rest.append(items[0][0])
                continue
            filters = [f for _, f in items]
            union = None if any(f is None for f in filters) else NameFilter(
                first="".join(sorted({c for f in filters if f is not None for c in f.first})),
                last="".join(sorted({c for f in filters if f is not None for c in f.last})))
            unions[_broad_value(base, union)] = items
        if not unions:
            return todo
        values = sorted(unions)
        for start in range(0, len(values), _KEYS_PER_STATEMENT):
            group = values[start:start + _KEYS_PER_STATEMENT]
            by_slot: dict[int, list[Any]] = {}
            for r in self.uow.session.execute(
                    *_key_statement(self.dialect, kind, model, group, limit=_SHARED_LIMIT)):
                self._keep_row(entity, model, r)
                by_slot.setdefault(r.slot, []).append(r)
            for slot, value in enumerate(group):
                rows = sorted(by_slot.get(slot, ()), key=lambda r: (_utc(r.created_at), r.id))
                complete = len(rows) < _SHARED_LIMIT
                initials = [(r.id, r.first_initial, r.last_initial) for r in rows]  # read once, not per filter
                for v, filt in unions[value]:
                    ids = [i for i, _, _ in initials] if filt is None else filt.admitted(initials)
                    if complete or len(ids) >= _DUP_LIMIT:
                        self.dup_keys[(kind, entity, v)].extend((entity, i) for i in ids[:_DUP_LIMIT])
                    else:
                        rest.append(v)
        return sorted(rest)

    def _person_row(self, entity: str, id_: str, first: str | None, last: str | None, company: str | None,
                    phone: str | None, site: str | None, country: str | None, email: str | None,
                    email_key: str | None = None, phone_key: str | None = None) -> PersonRow:
        """A PersonRow, kept for the import (a big company's oldest leads are candidates in every chunk). A
        stored person's `email_key` and `phone_key` are what normalising its address and number gives, so
        the cache holds the row by its raw values alone."""
        key = (entity, id_, first, last, company, phone, site, country, email)
        found = self.row_cache.get(key)
        if found is None:
            if len(self.row_cache) > 200_000:
                self.row_cache.clear()
            found = self.row_cache[key] = person_row(
                entity, id_, email=email, first_name=first, last_name=last,  # type: ignore[arg-type]
                company=company, phone=phone, website=site, country=country,
                free_mail_extra=self.pb.intake.free_mail_domains_extra, country_aliases=self.pb.countries.aliases,
                email_key=email_key, phone_key=phone_key)
        return found

    def _remember(self, person: Lead | Contact) -> None:
        """A person this batch holds is a candidate for the rows after it, under the stored values the
        per-row search compares (phone, lower(last name), domain), in the broad keys whose name filter
        admits its stored initials."""
        entity = person.__entity__
        row = self._dup_row(person)
        self.dup_rows[(entity, person.id)] = (person.created_at or self.now, entity, person.id, row)
        domain = person.domain if isinstance(person, Lead) else None
        last = self._sql_lower(person.last_name)
        initials = (person.first_initial, person.last_initial)  # kept with the names by the unit of work
        for kind, value in (("email", person.email), ("phone", person.phone), ("last_name", last),
                            ("domain", domain), ("domain_last", f"{domain}|{last}" if domain and last else None)):
            if not value:
                continue
            if kind in _BROAD:
                full = [v for v, filt in self.dup_broad.get((kind, entity, value), ())
                        if filt is None or filt.admits(*initials)]
            else:
                full = [value]
            for v in full:
                refs = self.dup_keys.get((kind, entity, v))
                if refs is not None and (entity, person.id) not in refs:
                    refs.append((entity, person.id))
                    self.dup_oldest.pop((kind, entity, v), None)

    def _sql_lower(self, text_: str | None) -> str | None:
        """lower() as the store computes it: SQLite folds ASCII letters only."""
        if not text_:
            return None
        if self.dialect == "sqlite":
            return "".join(c.lower() if c.isascii() else c for c in text_)
        return text_.lower()

    def _dup_row(self, person: Lead | Contact) -> PersonRow:
        site = (person.website or person.domain) if isinstance(person, Lead) else None
        company = person.company if isinstance(person, Lead) else None
        return self._person_row(person.__entity__, person.id, person.first_name, person.last_name, company,
                                person.phone, site, person.country, person.email, person.email_key,
                                person.phone_key)

    # ---- one row

    def duplicates(self, lead: Lead | Contact) -> dict[str, Any]:
        """The per-row duplicate step (M1) over the chunk's candidates."""
        rules = self.pb.duplicates
        if rules is None:
            return {"step": "duplicates", "candidates": [], "duplicate_of": None, "why": "no duplicate rules"}
        me = self._dup_row(lead)
        wanted = self._keys_of(me, lead.last_name)
        missing: dict[tuple[str, str], set[str]] = {}
        for kind, entity, value in wanted:  # a key the chunk's read did not ask for (a person's stored names)
            if (kind, entity, value) not in self.dup_keys:
                missing.setdefault((kind, entity), set()).add(value)
        if missing:
            self._read_keys(missing)
        seen: set[tuple[str, str]] = set()
        candidates: list[PersonRow] = []

        def take(keys: list[tuple[str, str, str]]) -> None:
            """The oldest 200 of the keys' people but this lead, as the per-row search's query per key. A key's
            oldest 201 hold its oldest 200 without this lead, so only those are merged and sorted."""
            if not keys:
                return
            if len(keys) == 1:  # one key's oldest are sorted already (a last name, a domain: the long lists)
                rows = [self.dup_rows[r] for r in self._oldest(keys[0]) if r[1] != lead.id][:_DUP_LIMIT]
            else:
                refs = {r for key in keys for r in self._oldest(key) if r[1] != lead.id}
                rows = sorted((self.dup_rows[r] for r in refs), key=lambda t: (_utc(t[0]), t[2]))[:_DUP_LIMIT]
            for _, entity, id_, row in rows:
                if (entity, id_) not in seen:
                    seen.add((entity, id_))
                    candidates.append(row)

        for entity in ("lead", "contact"):  # as the per-row search: the exact keys, the last names, the domain
            mine = [k for k in wanted if k[1] == entity]
            take([k for k in mine if k[0] in ("email", "phone", "domain_last")])
            take([k for k in mine if k[0] == "last_name"])
            take([k for k in mine if k[0] == "domain"])
        found = find_duplicates(me, candidates, rules)
        best = duplicate_of(found, rules)
        return {
            "step": "duplicates",
            "candidates": [{"type": c.type, "id": c.id, "score": round(c.score, 3), "rule": c.rule,
                            "evidence": list(c.evidence)} for c in found[:5]],
            "duplicate_of": {"type": best.type, "id": best.id} if best else None,
        }

    def _oldest(self, key: tuple[str, str, str]) -> list[tuple[str, str]]:
        """A duplicate key's oldest 201 people (by created, id), kept until the key gets another."""
        found = self.dup_oldest.get(key)
        if found is None:
            refs = set(self.dup_keys.get(key, ()))
            found = sorted(refs, key=lambda r: (_utc(self.dup_rows[r][0]), r[1]))[:_DUP_LIMIT + 1]
            self.dup_oldest[key] = found
        return found

    def person(self, email: str) -> Lead | Contact | None:
        """The person an email belongs to (I7), from the chunk's read or this batch's own people."""
        if email not in self.people:  # every email of the chunk not read yet (after a per-row intake)
            self._load_people({email, *(e for e in self.chunk_emails if e not in self.people)})
        return self.people[email]

    def take(self, number: int, channel: ChannelDef, data: LeadIn, norm: single.Normalised,
             key: str | None) -> RowResult:
        """services.intake._person for one row; raises Fallback (nothing kept) when the per-row intake must
        do it, or Refused (nothing kept)."""
        pb, now, actor = self.pb, self.now, self.actor
        self.converted, self.new_contacts = [], []
        steps: list[dict[str, Any]] = [{"step": "normalise", "email": norm.email, "phone": norm.phone,
                                        "country": norm.country, "domain": norm.domain,
                                        "free_mail": norm.free_mail, "notes": norm.notes}]
        blocked = norm.email_domain and single._blocked_domain(
            norm.email_domain, self.env.blocked | single._playbook_blocked(pb))
        if blocked:
            raise single.Refused(f"leads from {blocked} are blocked (domain block list, I6)", "email")
        verdict = single.check_spam_step(pb, data, norm)
        steps.append(verdict)
        existing = self.person(norm.email) if norm.email else None
        if existing is None:
            single.check_required(pb, data, norm)
        steps.append({"step": "same_email", "found": f"{existing.__entity__}:{existing.id}" if existing else None})
        match = self.matches[number] if number in self.matches else self.env.match(_lead_row(data, norm))
        steps.append({"step": "match", "account": match.account_id if match else None,
                      "confidence": match.confidence if match else None,
                      "evidence": match.evidence if match else "no account matched"})
        touched_at = max([a.at for a in data.activities], default=now)
        history: list[dict[str, Any]] = []
        person: Lead | Contact
        if existing is not None:  # an update is tried on a copy: a refusal or fallback leaves the batch as it was
            person = _clone(existing)
            known = self.hist.get(existing.id) or History(existing, [], stored=True)
            hist = known.copy(person, history)
            single._touch(person, data, norm, channel, touched_at)
            outcome = "updated"
        else:
            person = single._new_lead(pb, channel, data, norm, touched_at)
            person.company_key = company_key(person.company)
            hist = History(person, history)
            outcome = "created"
        lead = person if isinstance(person, Lead) else None
        if lead is not None:
            single._apply_match(lead, match, now)
        flag = bool(verdict["spam"]) and existing is None
        if verdict["spam"] and existing is not None:
            verdict["why"] = f"not applied: {existing.__entity__} {existing.id} is already known"
        if flag:
            person.spam = True
            person.spam_reasons = [r["why"] for r in verdict["reasons"] if r["severity"] == "spam"]
        ctx = Ctx(actor, now, f"intake:{channel.name}", f"received on {channel.label}")
        hist.flush(ctx)
        members: list[dict[str, Any]] = []
        if flag:
            members.append({"id": new_id("cm"), "campaign_id": self._spam_campaign(), "subject_type": "lead",
                            "subject_id": person.id, "added_at": now, "status": "Flagged by spam rules"})
        dups = self.duplicates(person)
        steps.append(dups)
        if lead is not None:
            lead.duplicate_candidates = dups["candidates"]
        activities = self._activities(person, channel, data)
        acts = [*self.acts_of.get(person.id, []), *((a["type"], a["at"]) for a in activities)]
        if channel.trial_days and lead is not None:
            steps.append(single._trial(pb, lead, channel, data, touched_at))
        if outcome == "created" and lead is not None:
            steps.append(single._enter_status(pb, channel, lead, data))
        decision_row = None
        if lead is not None:
            hist.flush(ctx)
            account = self._account(lead.matched_account_id)
            if lead.matched_account_id is not None and account is None:
                raise Fallback("the matched account is not readable")
            # derive (S1-S5, S10), in its own change as services.derive does
            dctx = ctx.nested()
            if account is not None and derive.needs_hierarchy_refresh(account):
                # as the per-row derivation: the account's hierarchy first (ORM, once per account), same rule, why
                with self.uow.changing(actor=actor, now=now, rule=ctx.rule, why=ctx.why):
                    derive.refresh_hierarchy(self.uow, pb, account, now)
            family = self.family(account) if account is not None else []
            figures = derive.apply_lead_figures(
                pb, lead, account, acts, now, external_score=data.score, keep_stored_external=True,
                set_=hist.set_field, facts=lambda: _facts(lead, account, family))
            hist.flush(dctx)
            steps.append({"step": "derive", "segment": figures.segment, "region": figures.region,
                          "score": figures.score.total, "score_source": figures.score.source,
                          "mql": figures.mql.mql, "routing_requested": figures.routing.triggered,
                          "active": figures.active.active, "active_until": figures.active.until,
                          "not_to_engage": figures.not_to_engage.flag})
            m4 = None
            if lead.converted_at is None and lead.status in pb.intake.m4_statuses and account is not None:
                m4 = self._m4(lead, account, family, hist, ctx, history)
                if m4:
                    steps.append(m4)
            if (m4 is None or m4["action"] == "none") and routing_service.wants_routing(pb, lead):
                step, decision_row = self._route(lead, account, frozenset(t for t, _ in acts), hist, ctx)
                steps.append(step)
        hist.flush(ctx)
        # accepted: keep it
        self._keep(person, hist, existing)
        for contact, contact_hist in self.new_contacts:  # M4's contact: the person of its email from now on
            self._keep(contact, contact_hist, None)
        self.events += self.converted
        if lead is not None:
            self.acts_of[lead.id] = acts
        self.history += history
        self.activities += activities
        self.members += members
        intake_row = {"id": new_id("in"), "channel": channel.name, "received_at": now, "dedupe_key": key,
                      "actor_id": str(actor), "outcome": outcome, "subject_type": person.__entity__,
                      "subject_id": person.id, "steps": steps,
                      "payload": json.loads(data.model_dump_json(exclude_none=True))}
        if decision_row is not None:
            self.decisions.append((decision_row, intake_row, steps[-1], person))
        self.intakes.append(intake_row)
        subject = (person.__entity__, person.id)
        if self.campaign_id is not None and subject not in self.joined:
            self.joined.add(subject)
            self.members.append({"id": new_id("cm"), "campaign_id": self.campaign_id, "subject_type": subject[0],
                                 "subject_id": subject[1], "added_at": now, "status": "Member"})
        return RowResult(outcome, person.__entity__, person.id)

    def _keep(self, person: Lead | Contact, hist: History, existing: Lead | Contact | None) -> None:
        """The row is accepted: its person replaces the one this batch held, and waits to be written."""
        self.hist[person.id] = hist
        held = self.people.get(person.email) if person.email else None
        if person.email and not (isinstance(held, Contact) and isinstance(person, Lead) and held.id != person.id):
            self.people[person.email] = person  # I7: a live contact comes before a lead of the same email
        if existing is None or person.id in self.new_ids:
            if existing is not None:
                self.pending = [p if p.id != person.id else person for p in self.pending]  # type: ignore[misc]
            else:
                self.pending.append(person)  # type: ignore[arg-type]
            self.new_ids.add(person.id)
        else:
            self.updated[person.id] = person
        if isinstance(person, Lead):
            for k in (f"d:{person.domain}" if person.domain else "",
                      f"k:{person.company_key}" if person.company_key else ""):
                if k:
                    self.by_company.setdefault(k, []).append(person)
        self._remember(person)

    def _spam_campaign(self) -> str:
        if self.spam_campaign_id is None:
            self.spam_campaign_id = single.spam_campaign(self.uow, self.pb, self.now).id
        return self.spam_campaign_id

    def _activities(self, lead: Lead | Contact, channel: ChannelDef, data: LeadIn) -> list[dict[str, Any]]:
        acts = data.activities or []
        out = [{"id": new_id("act"), "subject_type": lead.__entity__, "subject_id": lead.id, "type": a.type,
                "at": a.at, "details": {"channel": channel.name}, "actor_id": None} for a in acts]
        if not acts:
            out.append({"id": new_id("act"), "subject_type": lead.__entity__, "subject_id": lead.id,
                        "type": channel.name, "at": self.now, "details": {"channel": channel.name}, "actor_id": None})
        latest = max(acts, key=lambda a: a.at) if acts else None
        lead.last_interesting_moment = f"{channel.label}" + (f": {latest.type}" if latest else "")
        lead.last_interesting_moment_at = latest.at if latest else self.now
        return out

    def _m4(self, lead: Lead, account: Account, family: list[Account], hist: History, ctx: Ctx,
            history: list[dict[str, Any]]) -> dict[str, Any] | None:
        """M4 (services.intake._apply_m4) on prefetched data: the conversion into a customer account here, an
        open opportunity's recycle through the per-row intake."""
        pb = self.pb
        segment = single.account_segment(pb, account)
        if segment not in pb.intake.customer_convert_segments:
            return None
        if account.type in pb.intake.customer_convert_types:
            contact = self._convert_into(lead, account, hist, ctx, history)
            return {"step": "m4", "action": "converted", "contact": contact.id, "account": account.id,
                    "why": f"{segment} lead of {account.type} account {account.name} (M4)"}
        if any(a.type in pb.intake.customer_convert_types for a in family):
            return None
        target = pb.intake.open_opportunity_status
        open_opp = self.open_opps.get(account.id) or None
        if open_opp is None or target is None:
            return None
        try:
            lifecycle.plan_transition(pb, current=lead.status, to=target, reason=pb.intake.open_opportunity_reason,
                                      rule="m4-open-opportunity")
        except LeadflowError as refused:
            return {"step": "m4", "action": "none", "why": f"open opportunity {open_opp}, but {refused.message}"}
        raise Fallback("M4 recycles the lead")

    def _convert_into(self, lead: Lead, account: Account, hist: History, ctx: Ctx,
                      history: list[dict[str, Any]]) -> Contact:
        """services.intake._convert_into: the lead becomes a contact of the customer account (M4)."""
        contact = Contact(
            first_name=lead.first_name, last_name=lead.last_name, email=lead.email, phone=lead.phone,
            title=lead.title, country=lead.country, state=lead.state, initial_source=lead.initial_source,
            initial_source_at=lead.initial_source_at, status=lead.status, status_reason=lead.status_reason,
            account_id=account.id, owner_type="user" if account.owner_id else lead.owner_type,
            owner_id=account.owner_id or lead.owner_id, bad_data_reasons=list(lead.bad_data_reasons or []),
        )
        cctx = ctx.nested(rule="m4-customer-convert", why=f"converted into customer account {account.name} (M4)")
        contact_hist = History(contact, history)
        contact_hist.flush(cctx)
        lead.converted_contact_id = contact.id
        lead.converted_account_id = account.id
        lead.converted_at = self.now
        if account.owner_id:
            self.converted.append({
                "event_type": "lead.converted", "entity_type": "lead", "entity_id": lead.id,
                "payload": to_json({"contact": contact.id, "account": account.id, "notify": [account.owner_id]}),
                "dedupe_key": f"lead.converted:{cctx.change_id}:{uuid.uuid4().hex[:8]}",
                "change_id": cctx.change_id, "created_at": self.now, "available_at": self.now, "attempts": 0})
        hist.flush(cctx)
        self.new_contacts.append((contact, contact_hist))
        return contact

    def _route(self, lead: Lead, account: Account | None, activity_types: frozenset[str], hist: History,
               ctx: Ctx) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """services.routing.route_lead on the chunk's data; the decision row is written with the chunk."""
        pb, now, flow, pools = self.pb, self.now, self.flow, self.pools
        if (lead.score or 0) < flow.threshold:
            record = RoutingRecord(channel=lead.channel or "", segment=lead.segment or pb.segmentation.unknown,
                                   region=lead.region, score=lead.score or 0, status=lead.status)
        else:
            record = self._record(lead, account, activity_types)
        decision = flow.decide(record, pools.has_member, pools.user_available)
        trace = list(decision.trace)
        inputs = routing_service._plain(decision.inputs)
        if not decision.routed:
            result = routing_service.RoutingResult(lead.id, False, decision.rule, decision.assign, owner_of(lead),
                                                   trace[-1].why, trace, inputs, [])
            return result.step(), None
        if routing_service._assigns_earliest_mql(pb, decision.rule):
            raise Fallback("R3 may move the company's other leads", broad=True)
        rctx = ctx.nested(rule=decision.rule, why="routing")
        assign, rule = decision.assign, decision.rule
        owner, rr = routing_service._resolve(pools, pb, flow, assign)
        if owner is None:
            lost = f"{assign} could not give a turn ({rr.get('why', 'no default owner user')})"
            assign, rule = flow.unroutable, UNROUTABLE_RULE
            owner, _ = routing_service._resolve(pools, pb, flow, assign)
            trace.append(TraceEntry(UNROUTABLE_RULE, True, f"{lost}: unroutable, to {assign} (R10)"))
        if owner is None:
            owner = owner_of(lead)
        if rr.get("chosen"):
            last = trace[-1]
            trace[-1] = TraceEntry(last.rule, last.matched, f"{last.why}: {rr['why']}")
        why = trace[-1].why
        notify = list(dict.fromkeys([*([owner.id] if owner and owner.type == "user" else []), *decision.notify]))
        days = decision.sla_business_days
        due = sla.due_explained(now, days, routing_service._calendar(pools, pb, lead, owner)) \
            if days is not None else None
        result = routing_service.RoutingResult(lead.id, True, rule, assign, owner, why, trace, inputs, notify, days,
                                               due.at if due else None, due.why if due else None, rr)
        actx = rctx.nested(rule=rule, why=why)
        previous = owner_of(lead)
        if owner is not None:
            set_owner(lead, owner)
        lead.route_requested_at = None
        if due is not None:
            lead.sla_due_at = due.at
            lead.sla_first_response_at = None
            lead.sla_breached_at = None
        hist.flush(actx)
        if result.assignment.kind == "pool" and owner is not None and owner.type == "user":
            pools.record_assignment(owner.id)
        row = {"lead_id": lead.id, "decided_at": now, "playbook": pb.name, "rule": result.rule,
               "routed": result.routed, "assign_kind": result.assignment.kind,
               "pool_id": result.assignment.id if result.assignment.kind == "pool" else None,
               "pool_key": result.assignment.key, "owner_type": result.owner.type if result.owner else None,
               "owner_id": result.owner.id if result.owner else None, "why": result.why,
               "trace": [{"rule": t.rule, "matched": t.matched, "why": t.why} for t in result.trace],
               "inputs": result.inputs, "notify": result.notify, "round_robin": to_json(result.round_robin),
               "sla_business_days": result.sla_business_days, "sla_due_at": result.sla_due,
               "sla_why": result.sla_why, "actor_id": str(self.actor), "change_id": actx.change_id}
        event = {"event_type": "lead.routed", "entity_type": "lead", "entity_id": lead.id,
                 "payload": {"lead": lead.id,
                             "owner": {"type": result.owner.type, "id": result.owner.id} if result.owner else None,
                             "previous_owner": {"type": previous.type, "id": previous.id} if previous else None,
                             "rule": result.rule, "why": result.why, "notify": result.notify,
                             "sla_due": to_json(result.sla_due), "decision": None},
                 "change_id": actx.change_id, "created_at": now, "available_at": now, "attempts": 0}
        row["_event"] = event
        return result.step(), row

    def _record(self, lead: Lead, account: Account | None, activity_types: frozenset[str]) -> RoutingRecord:
        pb, now = self.pb, self.now
        top = None
        if account is not None and account.parent_id:
            top = account
            seen = {account.id}
            while top.parent_id and top.parent_id not in seen and top.parent_id in self.accounts:
                top = self.accounts[top.parent_id]
                seen.add(top.id)
            top = top if top is not account else None
        email_domain = lead.email.rsplit("@", 1)[-1] if lead.email and "@" in lead.email else None
        return RoutingRecord(
            channel=lead.channel or "", segment=lead.segment or pb.segmentation.unknown, region=lead.region,
            score=lead.score or 0, status=lead.status, country=lead.country, state=lead.state,
            industry=lead.industry, title=lead.title,
            university=routing_service.is_university(pb, lead.company, (lead.domain, email_domain)),
            public_sector=is_public_sector(pb, industry=lead.industry, country=lead.country).public_sector,
            active=lead.active_until is not None and lead.active_until > now,
            activities=activity_types,
            account=routing_service.account_view(pb, account) if account is not None else None,
            ultimate_parent=routing_service.account_view(pb, top) if top is not None else None,
            same_company=self._same_company(lead) if account is None else (),
        )

    def _same_company(self, lead: Lead) -> tuple[SameCompanyLead, ...]:
        """R3's other leads of the company (routing.same_company_leads): the stored ones, read once per domain
        and company key for the chunk, and this batch's pending ones, in the store's order."""
        routing = self.pb.routing
        statuses = {*routing.same_company.mql_statuses, *routing.same_company.working_statuses} if routing else set()
        name = normalise_company(lead.company)
        if not statuses or (not lead.domain and not name):
            return ()
        keys = [k for k in (f"d:{lead.domain}" if lead.domain else "", f"k:{name.key}" if name.key else "") if k]
        found: dict[str, tuple[Any, ...]] = {}
        for key in keys:
            for entry in self._stored_same_company(key, statuses):
                found[entry[2]] = entry
        for key in keys:  # this batch's people, as they are now (a later version of a lead replaces it)
            for other in self.by_company.get(key, ()):
                if _counts_for_r3(other, statuses):
                    found[other.id] = _same_company_entry(other.mql_date, other.created_at, other.id, other.status,
                                                          other.owner_type, other.owner_id)
                else:
                    found.pop(other.id, None)
        found.pop(lead.id, None)
        nulls_first = self.dialect == "sqlite"
        ordered = sorted(found.values(), key=lambda t: ((t[0] is None) != nulls_first, t[0] or _MIN, t[1] or _MIN,
                                                        t[2]))
        return tuple(t[3] for t in ordered[:routing_service._SAME_COMPANY_LIMIT])

    def _stored_same_company(self, key: str, statuses: set[str]) -> list[tuple[Any, ...]]:
        found = self.same_company.get(key)
        if found is None:
            found = self.same_company[key] = self._read_same_company(key[0], [key[2:]], sorted(statuses))[0]
        return found

    # ---- writes

    def write(self) -> None:
        """Write the pending rows: one executemany per table."""
        session = self.uow.session
        conn = session.connection()
        for model in (Contact, Lead):
            new = [p for p in self.pending if isinstance(p, model)]
            if new:
                session.info["wrote"] = True
                cols = [c.key for c in model.__table__.columns]
                insert_many(conn, model.__table__, [column_values(r, cols) for r in new])
        if self.events:
            insert_many(conn, OutboxEvent.__table__, self.events)
            self.events = []
        for model in (Lead, Contact):
            changed = [p for p in self.updated.values() if isinstance(p, model)]
            if changed:
                session.info["wrote"] = True
                table = model.__table__
                columns = [c.key for c in table.columns if c.key != "id"]
                conn.execute(update(table).where(table.c.id == bindparam("b_id"))
                             .values({c: bindparam(c) for c in columns}),
                             [{"b_id": p.id, **column_values(p, columns)} for p in changed])
        self.updated = {}
        self.new_ids = set()
        if self.decisions:
            ids = self._decision_ids(conn, len(self.decisions))
            rows = [{**{k: v for k, v in d.items() if k != "_event"}, "id": i}
                    for i, (d, _, _, _) in zip(ids, self.decisions, strict=True)]
            insert_many(conn, RoutingDecision.__table__, rows)
            self.pools.written(list(ids))
            events = []
            for decision_id, (row, _intake_row, step, _lead) in zip(ids, self.decisions, strict=True):
                step["decision"] = decision_id
                event = row["_event"]
                event["payload"]["decision"] = decision_id
                event["dedupe_key"] = f"lead.routed:{decision_id}"
                events.append(event)
            insert_many(conn, OutboxEvent.__table__, events)
        if self.history:
            insert_many(conn, FieldHistory.__table__, self.history)
        if self.activities:
            insert_many(conn, Activity.__table__, self.activities)
        if self.members:
            insert_many(conn, CampaignMember.__table__, self.members)
        if self.intakes:
            for row in self.intakes:
                row["steps"] = json.loads(json.dumps(row["steps"], default=str))
            insert_many(conn, Intake.__table__, self.intakes)
        self.pools.write(session)
        for key in self.by_company:  # read again from the store when next needed
            self.same_company.pop(key, None)
        self.by_company = {}
        self.pending, self.history, self.activities, self.members, self.intakes, self.decisions = \
            [], [], [], [], [], []

    def _decision_ids(self, conn: Any, n: int) -> list[int]:
        """Ids for n routing decisions, known before the insert (the steps and events name them): from the
        sequence on PostgreSQL; on SQLite, after the highest one, under the write lock this transaction holds
        (it has written already), so one executemany replaces n INSERT ... RETURNING."""
        if self.dialect == "postgresql":
            return [int(i) for i in conn.execute(
                text("SELECT nextval(pg_get_serial_sequence('routing_decisions', 'id')) "
                     "FROM generate_series(1, :n)"), {"n": n}).scalars()]
        top = int(conn.execute(select(func.coalesce(func.max(RoutingDecision.id), 0))).scalar_one())
        return list(range(top + 1, top + n + 1))

    def after_single(self, subject_type: str | None, subject_id: str | None, email: str | None,
                     broad: bool) -> None:
        """A per-row intake ran (after this batch was written): what it may have changed is read again when
        next needed - its person (or, when it may have moved others, every person), round-robin turns, R3's
        leads - and its person is a duplicate candidate for the rows after it."""
        self.pools.after_single()
        self.same_company.clear()
        if broad:
            self.people.clear()
            self.hist.clear()
            self.acts_of.clear()
        else:
            if email:
                self.people.pop(email, None)
            if subject_id:
                self.hist.pop(subject_id, None)
                self.acts_of.pop(subject_id, None)
        model = {"lead": Lead, "contact": Contact}.get(subject_type or "")
        if model is None or subject_id is None:
            return
        person = self.uow.session.get(model, subject_id)
        if person is not None:
            self._remember(person)


def _facts(lead: Lead, account: Account | None, family: list[Account]) -> lifecycle.ClassificationFacts:
    if account is None:
        return lifecycle.ClassificationFacts(matching_done=lead.matched_at is not None, matched=None,
                                             product_user=lead.product_user, partner_managed=lead.partner_managed)

    def facts(a: Account) -> lifecycle.AccountFacts:
        return lifecycle.AccountFacts(id=a.id, type=a.type, partner_managed=a.partner_managed)

    return lifecycle.ClassificationFacts(matching_done=True, matched=facts(account),
                                         hierarchy=[facts(a) for a in family], product_user=lead.product_user,
                                         partner_managed=lead.partner_managed)


_MIN = dt.datetime.min.replace(tzinfo=dt.UTC)


def _counts_for_r3(lead: Lead, statuses: set[str]) -> bool:
    return (lead.status in statuses and lead.matched_account_id is None and not lead.merged_into_id
            and lead.converted_at is None and not lead.spam)


def _same_company_entry(mql_date: dt.datetime | None, created_at: dt.datetime | None, lead_id: str, status: str,
                        owner_type: str | None, owner_id: str | None) -> tuple[Any, ...]:
    return (_utc(mql_date) if mql_date else None, _utc(created_at) if created_at else None, lead_id,
            SameCompanyLead(status=status, mql_date=mql_date, owner_type="queue" if owner_type == "queue" else "user",
                            owner_id=owner_id, lead_id=lead_id))


def single_in_savepoint(uow: UnitOfWork, env: single.IntakeEnv, data: LeadIn, actor: Actor,
                        now: dt.datetime) -> single.IntakeResult:
    """A row the batch does not take, through the per-row intake in its own savepoint: a refusal (raised)
    leaves the batch's transaction as it was."""
    savepoint = uow.session.begin_nested()
    try:
        result = single.intake(uow, env, data, actor, now)
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        raise
    return result


def _clone(record: Lead | Contact) -> Lead | Contact:
    """A transient copy of a person with every column."""
    model = type(record)
    copy = model(**{c.key: getattr(record, c.key) for c in model.__table__.columns})
    if isinstance(record, Lead):
        copy.company_key = record.company_key  # type: ignore[union-attr]
    return copy


def _lead_row(data: LeadIn, norm: single.Normalised) -> LeadRow:
    return LeadRow(id="new", email=norm.email, company=data.company, website=norm.website, country=norm.country)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _slices(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


__all__ = ["PER_ROW_HANDLINGS", "Batch", "Fallback", "RowResult", "single_in_savepoint"]
