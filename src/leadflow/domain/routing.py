"""Decides who owns a lead: the playbook's ordered routing flow (R1-R12), compiled once, with its trace.

`compile_flow(pb)` turns the playbook's `routing:` section into one Python function, once per
playbook. Every playbook value (rule ids, lists, patterns, pool ids) reaches that function as a
named constant, never as text pasted into its source; field names come from the fixed vocabulary
`ROUTING_FIELDS`, so the generated code can only read the record. `Flow.decide` checks the rules in
order: the first whose conditions hold and whose target yields an owner decides (R1).

The trace costs almost nothing while deciding: for each rule checked the decision keeps one small
integer (which test failed, or why its targets were empty). `Decision.trace` turns those into
sentences only when asked, from the same compiled tests and the same frozen record, so the
sentences are exactly what was seen.

Pools are not chosen here: a decision names the pool and its key (the region); the service asks
`round_robin.choose` under a row lock. `pool_has_member(pool_id, key)` tells the flow whether a pool
has any available member, so that an empty pool falls through or goes to the unroutable queue (R10).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

from leadflow.domain.records import Owner
from leadflow.errors import PlaybookError
from leadflow.playbook.countries import resolve_country
from leadflow.playbook.references import find_routing_issues
from leadflow.playbook.schema import (
    RECORD_REGION,
    ROUTING_FIELDS,
    AssignTargetDef,
    FieldTestDef,
    Playbook,
    PoolDef,
    RoutingField,
    RoutingRuleDef,
)

PoolCheck = Callable[[str, str | None], bool]  # (pool id, key) -> has an available member
UserCheck = Callable[[str], bool]  # user id -> may receive leads now (active, in office)

THRESHOLD_RULE = "routing-threshold"  # the "rule" of a lead below scoring.routing_threshold (S3)
UNROUTABLE_RULE = "unroutable"  # the "rule" when no rule of the flow assigned the lead (R10)


# --------------------------------------------------------------------------- what the flow reads


@dataclass(frozen=True, slots=True)
class AccountView:
    """The matched account (or its ultimate parent) as routing sees it (D3)."""

    id: str
    type: str | None = None
    named: bool = False
    public_sector: bool = False
    fortune_500: bool = False
    recognizable_brand: bool = False
    bdr_prospecting_status: str | None = None
    owner: str | None = None
    sdr_assigned: str | None = None
    bdr_assigned: str | None = None
    csm: str | None = None
    segment: str | None = None
    region: str | None = None
    industry: str | None = None
    country: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class SameCompanyLead:
    """Another lead of the same company (R3): its status, MQL date and owner."""

    status: str
    mql_date: dt.datetime | None = None
    owner_type: Literal["user", "queue"] = "user"
    owner_id: str | None = None
    lead_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingRecord:
    """Everything a routing rule may look at, gathered by the service before deciding.

    `segment`/`region` are the lead's (the matched account's win, S5/S8); `country` is the master-list
    name ("United States"); `ultimate_parent` is the top of the matched account's hierarchy, None when
    the account has no parent (the account is then its own global account); `same_company` lists the
    company's other leads, filled in only when there is no matched account (R3).
    """

    channel: str
    segment: str
    region: str | None
    score: int
    status: str
    country: str | None = None
    state: str | None = None
    industry: str | None = None
    title: str | None = None
    university: bool = False
    public_sector: bool = False
    active: bool = False
    activities: frozenset[str] = frozenset()
    account: AccountView | None = None
    ultimate_parent: AccountView | None = None
    same_company: tuple[SameCompanyLead, ...] = ()


# --------------------------------------------------------------------------- what the flow decides

AssignmentKind = Literal["user", "queue", "pool", "default_owner", "keep"]


class Assignment(NamedTuple):
    """Where a lead goes: a user id, a queue name, a pool id with its key (the region), the playbook's
    default owner role (Sales Admin, R10), or `keep` (below the threshold in a status without a queue)."""

    kind: AssignmentKind
    id: str
    key: str | None = None

    def owner(self) -> Owner | None:
        """The owner when it is known without a round-robin turn (a user or a queue)."""
        if self.kind == "user":
            return Owner.user(self.id)
        if self.kind == "queue":
            return Owner.queue(self.id)
        return None

    def __str__(self) -> str:
        return f"pool {self.id} ({self.key})" if self.kind == "pool" and self.key else f"{self.kind} {self.id}"


class TraceEntry(NamedTuple):
    """One rule checked: whether it decided, and why in words."""

    rule: str
    matched: bool
    why: str


class Decision(NamedTuple):
    """A routing decision (R1). `steps` holds, per rule checked, a code of what happened; `trace`
    renders it. `notify` lists the users the rule alerts besides the new owner (R13 adds the owner).

    An immutable tuple rather than a frozen dataclass: it is built a million times a second.
    """

    assign: Assignment
    rule: str
    notify: tuple[str, ...]
    sla_business_days: int | None
    routed: bool
    steps: tuple[int, ...]
    record: RoutingRecord
    flow: Flow

    @property
    def trace(self) -> tuple[TraceEntry, ...]:
        """Every rule checked, in order, with `matched` and a readable why (R1)."""
        return self.flow.explain(self)

    @property
    def inputs(self) -> dict[str, object]:
        """The record's values that the rules checked looked at, by field path."""
        return self.flow.inputs(self)

    def __repr__(self) -> str:
        return f"Decision({self.assign}, rule={self.rule!r}, routed={self.routed})"


class PoolUser(Protocol):
    """What a pool looks at in a user (D2)."""

    @property
    def id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def team(self) -> str | None: ...
    @property
    def segment(self) -> str | None: ...


def pool_admits(pool: PoolDef, user: PoolUser, key: str | None) -> bool:
    """Whether `user` belongs to `pool` for a lead whose pool key (its region) is `key`.

    Availability (active, out of office, capacity) is not checked here: `round_robin.choose` skips
    unavailable members, and `pool_has_member` must only count available ones.
    """
    if pool.members:
        return user.id in pool.members
    if pool.roles and user.role not in pool.roles:
        return False
    if pool.teams and user.team not in pool.teams:
        return False
    if pool.segments and user.segment not in pool.segments:
        return False
    if pool.per_region:
        return key is not None and user.region == key
    regions = pool.fixed_regions()
    return not regions or user.region in regions


# --------------------------------------------------------------------------- compiled tests

_SCOPES = {"account": "a", "ultimate_parent": "u"}
_OP_ORDER = ("eq", "in", "not_in", "exists", "gte", "lte", "matches")


def _show(value: object) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, frozenset):
        return ", ".join(sorted(str(v) for v in value)) or "none"
    return str(value)


def _one_of(values: Iterable[object]) -> str:
    items = [str(v) for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _scope_of(path: str) -> str | None:
    head = path.split(".", 1)[0]
    return head if head in _SCOPES else None


class _SameCompany:
    """R3's derived values over the company's other leads, for the statuses the playbook names."""

    def __init__(self, mql_statuses: Iterable[str], working_statuses: Iterable[str]) -> None:
        self.mql = frozenset(mql_statuses)
        self.working = frozenset(working_statuses)

    def mql_count(self, leads: tuple[SameCompanyLead, ...]) -> int:
        return sum(1 for lead in leads if lead.status in self.mql)

    def working_count(self, leads: tuple[SameCompanyLead, ...]) -> int:
        return sum(1 for lead in leads if lead.status in self.working)

    @staticmethod
    def _first_owner(leads: Iterable[SameCompanyLead]) -> str | None:
        # Earliest MQL date first (leads without one last), then the order the service listed them.
        users = [lead for lead in leads if lead.owner_type == "user" and lead.owner_id]
        if not users:
            return None
        dated = [lead for lead in users if lead.mql_date is not None]
        if dated:
            return min(dated, key=lambda lead: lead.mql_date or dt.datetime.max).owner_id
        return users[0].owner_id

    def earliest_mql_owner(self, leads: tuple[SameCompanyLead, ...]) -> str | None:
        return self._first_owner(lead for lead in leads if lead.status in self.mql)

    def working_owner(self, leads: tuple[SameCompanyLead, ...]) -> str | None:
        return self._first_owner(lead for lead in leads if lead.status in self.working)


class _Reader:
    """Reads one field path from a record, both as generated source and as a Python call."""

    def __init__(self, path: str, spec: RoutingField, same: _SameCompany) -> None:
        self.path = path
        self.spec = spec
        self.scope = _scope_of(path)
        self.attr = path.split(".", 1)[1] if "." in path else path
        self.default: object = False if spec.type == "flag" else None
        self.same_fn: Callable[[tuple[SameCompanyLead, ...]], object] | None = None
        if path.startswith("same_company."):
            self.same_fn = getattr(same, self.attr)
            self.default = 0 if spec.type == "number" else None

    def source(self, name_of: Callable[[object], str]) -> str:
        if self.scope is not None:
            var = _SCOPES[self.scope]
            return f"({var}.{self.attr} if {var} is not None else {self.default!r})"
        if self.same_fn is not None:
            return f"({name_of(self.same_fn)}(sc) if sc else {self.default!r})"
        return f"r.{self.path}"

    def account(self, r: RoutingRecord) -> AccountView | None:
        if self.scope == "account":
            return r.account
        return r.ultimate_parent if r.ultimate_parent is not None else r.account

    def __call__(self, r: RoutingRecord) -> object:
        if self.scope is not None:
            acc = self.account(r)
            return self.default if acc is None else getattr(acc, self.attr)
        if self.same_fn is not None:
            return self.same_fn(r.same_company) if r.same_company else self.default
        return getattr(r, self.path)

    def label(self, r: RoutingRecord, template: str | None = None) -> str:
        """The field's words (or `template`'s) with the account's id filled in."""
        acc = self.account(r) if self.scope is not None else None
        return (template or self.spec.label).format(account=acc.id if acc is not None else "")

    def missing_account(self, r: RoutingRecord) -> bool:
        return self.scope is not None and self.account(r) is None


class _Test:
    """One operator on one field: `holds` and `source` agree; `why` says it in words."""

    def __init__(self, reader: _Reader, op: str, value: Any, countries: Callable[[str], str]) -> None:
        self.reader = reader
        self.op = op
        self.is_set = reader.spec.type == "set"
        if op in ("in", "not_in"):
            items = [countries(v) for v in value] if reader.spec.vocabulary == "countries" else list(value)
            self.value: Any = frozenset(items)
            self.shown = _one_of(items)
        elif op == "matches":
            self.value = re.compile(value, re.IGNORECASE)
            self.shown = f"/{value}/"
        else:
            self.value = countries(value) if reader.spec.vocabulary == "countries" and op == "eq" else value
            self.shown = _show(self.value)

    def holds(self, r: RoutingRecord) -> bool:
        return self.check(self.reader(r))

    def check(self, v: Any) -> bool:
        """The test on a value, as the generated code does it."""
        op, k = self.op, self.value
        if op == "eq":
            return bool(v == k)
        if op == "in":
            return not v.isdisjoint(k) if self.is_set else v in k
        if op == "not_in":
            return bool(v.isdisjoint(k)) if self.is_set else v not in k
        if op == "exists":
            present = bool(v) if self.is_set else v is not None
            return present is k
        if op == "gte":
            return v is not None and v >= k
        if op == "lte":
            return v is not None and v <= k
        return v is not None and k.search(v) is not None

    def source(self, name_of: Callable[[object], str]) -> str:
        """The test as a Python expression over `r` (the record), `a`/`u` (accounts) and `sc`.

        A field of a missing account (or of no same-company leads) has a fixed default, so the test's
        answer for it is known now: the expression checks the account once and reads it only if present.
        """
        reader = self.reader
        if reader.attr == "id" and reader.scope is not None and self.op == "exists":
            return f"{_SCOPES[reader.scope]} is {'not ' if self.value else ''}None"
        if reader.scope is not None:
            var = _SCOPES[reader.scope]
            guard = f"{var} is None or" if self.check(reader.default) else f"{var} is not None and"
            return f"({guard} {self._inner(f'{var}.{reader.attr}', name_of)})"
        if reader.same_fn is not None:
            value = f"{name_of(reader.same_fn)}(sc)"
            guard = "not sc or" if self.check(reader.default) else "sc and"
            return f"({guard} {self._inner(value, name_of)})"
        return self._inner(f"r.{reader.path}", name_of)

    def _inner(self, v: str, name_of: Callable[[object], str]) -> str:
        op = self.op
        k = name_of(self.value)
        if self.reader.spec.type == "flag":
            return v if self.value else f"not {v}"
        if op == "eq":
            return f"{v} == {k}"
        if op == "in":
            return f"not {v}.isdisjoint({k})" if self.is_set else f"{v} in {k}"
        if op == "not_in":
            return f"{v}.isdisjoint({k})" if self.is_set else f"{v} not in {k}"
        if op == "exists":
            if self.is_set:
                return v if self.value else f"not {v}"
            return f"{v} is {'not ' if self.value else ''}None"
        if op in ("gte", "lte"):
            return f"{v} {'>=' if op == 'gte' else '<='} {k}"
        return f"({v} is not None and {k}.search({v}) is not None)"

    def why(self, r: RoutingRecord, held: bool) -> str:
        reader, op, spec = self.reader, self.op, self.reader.spec
        if reader.missing_account(r):
            return "no matched account"
        v: Any = reader(r)
        if spec.type == "flag":
            return reader.label(r, spec.yes if v else spec.no)
        shown = _show(v)
        if reader.attr == "id" and reader.scope is not None:
            stated = f"{'matched' if reader.scope == 'account' else 'global'} account {shown}"
        else:
            stated = f"{reader.label(r)} is {shown}"
        if op == "exists":
            if (not v) if self.is_set else v is None:
                return f"{reader.label(r)}: none" if self.is_set else f"{reader.label(r)} is empty"
            return stated if held else f"{stated}, rule wants none"
        if self.is_set:
            hits = _show(frozenset(v) & self.value)
            if op == "in":
                return (
                    f"{spec.label} include {hits}" if held else f"{spec.label}: {shown}; rule wants any of {self.shown}"
                )
            return (
                f"{spec.label} include none of {self.shown}"
                if held
                else f"{spec.label} include {hits}, rule excludes them"
            )
        if op == "matches":
            return f"{stated}, {'matching' if held else 'not matching'} {self.shown}"
        if held:
            return stated + (f", not {self.shown}" if op == "not_in" else "")
        wants = {"eq": "rule wants", "in": "rule wants", "not_in": "rule excludes"}
        wants |= {"gte": "rule wants at least", "lte": "rule wants at most"}
        return f"{stated}, {wants[op]} {self.shown}"


class _AnyOf:
    """`when_any`: one group of tests (all of them) must hold."""

    def __init__(self, groups: list[list[_Test]]) -> None:
        self.groups = groups

    def holds(self, r: RoutingRecord) -> bool:
        return any(all(t.holds(r) for t in group) for group in self.groups)

    def source(self, name_of: Callable[[object], str]) -> str:
        return " or ".join("(" + " and ".join(f"({t.source(name_of)})" for t in g) + ")" for g in self.groups)

    def why(self, r: RoutingRecord, held: bool) -> str:
        if held:
            group = next(g for g in self.groups if all(t.holds(r) for t in g))
            return "; ".join(t.why(r, True) for t in group)
        failed = [next(t for t in g if not t.holds(r)).why(r, False) for g in self.groups]
        return "none of the alternatives holds: " + " / ".join(failed)

    @property
    def tests(self) -> list[_Test]:
        return [t for g in self.groups for t in g]


_Condition = _Test | _AnyOf


@dataclass(frozen=True)
class _Target:
    """One `assign` entry, compiled."""

    kind: Literal["user", "pool", "queue", "default_owner"]
    name: str  # field path, pool id, queue name or default owner role
    reader: _Reader | None = None
    per_region: bool = False

    def describe(self, r: RoutingRecord, key: str | None = None) -> str:
        if self.kind == "user" and self.reader is not None:
            return f"{self.reader.label(r)} {self.reader(r)}"
        if self.kind == "pool":
            return f"pool {self.name} ({key})" if key else f"pool {self.name}"
        if self.kind == "queue":
            return f"queue {self.name}"
        return f"the default owner ({self.name})"

    def failure(self, r: RoutingRecord, reason: int) -> str:
        if self.kind == "user" and self.reader is not None:
            if self.reader.missing_account(r):
                return f"no matched account, so no {self.reader.spec.label.replace(' {account}', '')}"
            value = self.reader(r)
            return (
                f"{self.reader.label(r)} is empty"
                if reason == 1
                else f"{self.reader.label(r)} {value} is not available"
            )
        if reason == 3:
            return f"region unknown, so no pool {self.name} to choose from"
        return f"{self.describe(r, r.region if self.per_region else None)} has no available member"


@dataclass(frozen=True)
class _Rule:
    id: str
    conditions: tuple[_Condition, ...]
    targets: tuple[_Target, ...]
    notify: tuple[_Reader, ...]
    sla: int | None
    fallthrough: bool


def _failures(code: int, count: int) -> list[tuple[int, int]]:
    """(target index, reason) for every target that yielded nothing, from a rule's step code."""
    return [(t, (code >> (2 * t)) & 3) for t in range(count) if (code >> (2 * t)) & 3]


# --------------------------------------------------------------------------- the flow


class _Decide(Protocol):
    def __call__(self, r: RoutingRecord, has: PoolCheck, ua: UserCheck | None = None, /) -> Decision: ...


class Flow:
    """A playbook's routing section compiled to one function (R1). Build it with `compile_flow`.

    `flow.decide(record, pool_has_member, user_available=None) -> Decision` routes a record: below the
    threshold it stays with its status's queue (S3); otherwise the first rule whose conditions hold and
    whose target yields an owner decides (R1). `pool_has_member(pool_id, key)` says whether a pool has an
    available member; `user_available(user_id)`, when given, lets a rule skip an inactive or away user
    taken from a field. `decide` is the generated function itself: one call per lead, no wrapper.
    """

    decide: _Decide

    def __init__(self, pb: Playbook) -> None:
        self.playbook = pb.name
        self.threshold = pb.scoring.routing_threshold
        routing = pb.routing
        self.pools: dict[str, PoolDef] = {p.id: p for p in routing.pools} if routing else {}
        same = _SameCompany(
            routing.same_company.mql_statuses if routing else (),
            routing.same_company.working_statuses if routing else (),
        )
        aliases = pb.countries.aliases

        def country(text: str) -> str:
            found = resolve_country(text, aliases)
            return found.name if found is not None else text

        self._readers: dict[str, _Reader] = {}

        def reader(path: str) -> _Reader:
            if path not in self._readers:
                self._readers[path] = _Reader(path, ROUTING_FIELDS[path], same)
            return self._readers[path]

        def tests(when: dict[str, FieldTestDef]) -> list[_Test]:
            out: list[_Test] = []
            for path, test in when.items():
                ops = dict(test.ops())
                out += [_Test(reader(path), op, ops[op], country) for op in _OP_ORDER if op in ops]
            return out

        def target(t: AssignTargetDef) -> _Target:
            if t.user_field is not None:
                return _Target("user", t.user_field, reader(t.user_field))
            if t.pool is not None:
                return _Target("pool", t.pool, per_region=self.pools[t.pool].per_region)
            if t.queue is not None:
                return _Target("queue", t.queue)
            return _Target("default_owner", pb.default_owner_role)

        def rule(d: RoutingRuleDef) -> _Rule:
            conditions: list[_Condition] = list(tests(d.when))
            if d.when_any:
                conditions.append(_AnyOf([tests(group) for group in d.when_any]))
            return _Rule(
                id=d.id,
                conditions=tuple(conditions),
                targets=tuple(target(t) for t in d.assign),
                notify=tuple(reader(p) for p in d.notify),
                sla=d.sla.business_days if d.sla else None,
                fallthrough=d.fallthrough_when_empty,
            )

        self.rules: tuple[_Rule, ...] = tuple(rule(d) for d in routing.rules) if routing else ()
        self.channel_sla = {name: s.business_days for name, s in routing.channel_sla.items()} if routing else {}
        if routing and routing.unroutable_queue:
            self.unroutable = Assignment("queue", routing.unroutable_queue)
        else:
            self.unroutable = Assignment("default_owner", pb.default_owner_role)
        # S3/L2: below the threshold a record stays with its status's holding queue (or keeps its owner).
        self._holding = {
            s.name: Assignment("queue", s.queue) if s.queue else Assignment("keep", "") for s in pb.statuses
        }
        self._status = pb.status
        self.source, self.decide = self._generate()

    # ---- deciding

    def _below(self, r: RoutingRecord) -> Decision:
        assign = self._holding.get(r.status)
        if assign is None:
            status = self._status(r.status)  # a status spelled in another case
            assign = self._holding.get(status.name if status else "", Assignment("keep", ""))
        return Decision(assign, THRESHOLD_RULE, (), None, False, (), r, self)

    def _generate(self) -> tuple[str, _Decide]:
        consts: dict[str, object] = {}
        shared: dict[int, str] = {}
        counter = itertools.count()

        def const(value: object) -> str:
            name = f"_k{next(counter)}"
            consts[name] = value
            return name

        def name_of(value: object) -> str:  # one constant per object (lists, patterns, functions)
            if id(value) not in shared:
                shared[id(value)] = const(value)
            return shared[id(value)]

        lines = [
            "def decide(r, has, ua=None):",
            f"    if r.score < {const(self.threshold)}:",
            "        return _below(r)",
            "    a = r.account",
            "    u = r.ultimate_parent",
            "    if u is None:",
            "        u = a",
            "    sc = r.same_company",
            "    rg = r.region",
        ]
        sla_channel = f"{const(self.channel_sla)}.get(r.channel)" if self.channel_sla else "None"

        def ret(indent: str, assign: str, rule_id: str, r: _Rule | None, steps: list[str]) -> str:
            notify = "()"
            if r is not None and r.notify:
                notify = "_uniq((" + "".join(f"{n.source(name_of)}, " for n in r.notify) + "))"
            sla = const(r.sla) if r is not None and r.sla is not None else sla_channel
            step_tuple = "(" + "".join(f"{s}, " for s in steps) + ")"
            return f"{indent}return _new(_D, ({assign}, {const(rule_id)}, {notify}, {sla}, True, {step_tuple}, r, _F))"

        for k, r in enumerate(self.rules):
            prior = [f"c{j}" for j in range(k)]
            lines.append(f"    # rule {k}: {r.id!r}"[:100])
            indent = "    "
            for i, cond in enumerate(r.conditions):
                keyword = "if" if i == 0 else "elif"
                lines.append(f"    {keyword} not ({cond.source(name_of)}):")
                lines.append(f"        c{k} = {i + 1}")
            if r.conditions:
                lines.append("    else:")
                indent = "        "
            lines.append(f"{indent}f = 0")
            if any(t.per_region for t in r.targets):
                lines.append(f"{indent}x = False")
            always = False
            for t_index, t in enumerate(r.targets):
                step = 1 << (2 * t_index)
                if t.kind == "user" and t.reader is not None:
                    lines.append(f"{indent}v = {t.reader.source(name_of)}")
                    lines.append(f"{indent}if v is not None and (ua is None or ua(v)):")
                    lines.append(ret(indent + "    ", "_new(_A, ('user', v, None))", r.id, r, [*prior, "f"]))
                    lines.append(f"{indent}f += {step} if v is None else {2 * step}")
                elif t.kind == "pool" and t.per_region:
                    assign = f"_new(_A, ('pool', {const(t.name)}, rg))"
                    lines.append(f"{indent}if rg is None:")
                    lines.append(f"{indent}    f += {3 * step}")
                    lines.append(f"{indent}    x = True")
                    lines.append(f"{indent}elif has({const(t.name)}, rg):")
                    lines.append(ret(indent + "    ", assign, r.id, r, [*prior, "f"]))
                    lines.append(f"{indent}else:")
                    lines.append(f"{indent}    f += {2 * step}")
                elif t.kind == "pool":
                    lines.append(f"{indent}if has({const(t.name)}, None):")
                    lines.append(ret(indent + "    ", f"{const(Assignment('pool', t.name))}", r.id, r, [*prior, "f"]))
                    lines.append(f"{indent}f += {2 * step}")
                else:
                    kind: AssignmentKind = "queue" if t.kind == "queue" else "default_owner"
                    lines.append(ret(indent, const(Assignment(kind, t.name)), r.id, r, [*prior, "f"]))
                    always = True
                    break
            if always:
                continue
            if r.fallthrough:
                lines.append(f"{indent}c{k} = -1 - f")
            else:
                guard = "x" if any(t.per_region for t in r.targets) else "False"
                lines.append(f"{indent}if {guard}:")
                lines.append(f"{indent}    c{k} = -1 - f")
                lines.append(f"{indent}else:")
                lines.append(ret(indent + "    ", const(self.unroutable), r.id, r, [*prior, "f"]))
        all_steps = [f"c{j}" for j in range(len(self.rules))]
        lines.append(ret("    ", const(self.unroutable), UNROUTABLE_RULE, None, all_steps))
        source = "\n".join(lines) + "\n"

        def uniq(ids: tuple[str | None, ...]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(i for i in ids if i is not None))

        namespace: dict[str, Any] = {
            **consts,
            "_new": tuple.__new__,
            "_D": Decision,
            "_A": Assignment,
            "_F": self,
            "_below": self._below,
            "_uniq": uniq,
        }
        exec(compile(source, f"<routing flow of {self.playbook}>", "exec"), namespace)  # noqa: S102 - see module doc
        decide: _Decide = namespace["decide"]
        return source, decide

    # ---- explaining

    def explain(self, d: Decision) -> tuple[TraceEntry, ...]:
        """The trace of `d` in words: every rule checked, in order, matched or not and why (R1)."""
        r = d.record
        if d.rule == THRESHOLD_RULE:
            where = f"stays with {d.assign}" if d.assign.kind != "keep" else "keeps its owner"
            why = f"score {r.score} is below the routing threshold {self.threshold}: not routed, {where} (S3)"
            return (TraceEntry(THRESHOLD_RULE, True, why),)
        out: list[TraceEntry] = []
        last = len(d.steps) - 1
        for k, code in enumerate(d.steps):
            rule = self.rules[k]
            if k == last and d.rule == rule.id:
                out.append(TraceEntry(rule.id, True, self._why_decided(rule, r, code, d)))
            elif code > 0:
                out.append(TraceEntry(rule.id, False, rule.conditions[code - 1].why(r, False)))
            else:
                held = self._held(rule, r)
                failed = "; ".join(
                    rule.targets[t].failure(r, why) for t, why in _failures(-1 - code, len(rule.targets))
                )
                out.append(TraceEntry(rule.id, False, f"{held}, but {failed}: next rule"))
        if d.rule == UNROUTABLE_RULE:
            out.append(TraceEntry(UNROUTABLE_RULE, True, f"no rule assigned the lead: {d.assign} (R10)"))
        return tuple(out)

    @staticmethod
    def _held(rule: _Rule, r: RoutingRecord) -> str:
        return "; ".join(c.why(r, True) for c in rule.conditions) or "every lead"

    def _why_decided(self, rule: _Rule, r: RoutingRecord, code: int, d: Decision) -> str:
        held = self._held(rule, r)
        failures = _failures(code, len(rule.targets))
        failed = "; ".join(rule.targets[t].failure(r, why) for t, why in failures)
        if len(failures) == len(rule.targets):
            return f"{held}, but {failed}: unroutable, to {d.assign} (R10)"
        chosen = rule.targets[len(failures)].describe(r, d.assign.key)
        return f"{held}{'; ' + failed if failed else ''} → {chosen}"

    def inputs(self, d: Decision) -> dict[str, object]:
        """The record's values that the checked rules read, by field path (first use first)."""
        r = d.record
        seen: dict[str, object] = {"score": r.score}
        checked = self.rules[: len(d.steps)] if d.rule != THRESHOLD_RULE else ()
        for rule in checked:
            readers = [t.reader for c in rule.conditions for t in (c.tests if isinstance(c, _AnyOf) else [c])]
            readers += [t.reader for t in rule.targets if t.reader is not None]
            if any(t.per_region for t in rule.targets):
                seen.setdefault("region", r.region)
            for reader in readers:
                if reader is not None:
                    seen.setdefault(reader.path, reader(r))
        return seen


# --------------------------------------------------------------------------- compiling, once per playbook

_FLOWS: dict[int, tuple[Playbook, Flow]] = {}
_MAX_FLOWS = 16


def compile_flow(pb: Playbook) -> Flow:
    """The playbook's routing flow, compiled once per playbook object (R1); PlaybookError if it is invalid."""
    hit = _FLOWS.get(id(pb))
    if hit is not None and hit[0] is pb:
        return hit[1]
    issues = find_routing_issues(pb)
    if issues:
        raise PlaybookError(issues, pb.name)
    flow = Flow(pb)
    if len(_FLOWS) >= _MAX_FLOWS:
        _FLOWS.pop(next(iter(_FLOWS)))
    _FLOWS[id(pb)] = (pb, flow)  # the playbook is kept alive, so its id cannot be reused by another
    return flow


def pool_key(pool: PoolDef, record: RoutingRecord) -> str | None:
    """The key a pool is asked with for `record`: its region for a `$region` pool, else None."""
    return record.region if pool.region == RECORD_REGION else None
