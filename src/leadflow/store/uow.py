"""The one write path: a unit of work that records field history and outbox events.

Services open `with uow.changing(actor=..., now=..., rule=..., why=...)` around every write.
At flush, a listener turns each changed attribute of a tracked record (D5) into a
`field_history` row naming that actor and rule; a flush of a tracked record outside such a
block is refused (`UnrecordedChange`), so no write can escape history. Leaving the
`with UnitOfWork(...)` block without `commit()` rolls everything back.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import instance_state

from leadflow.domain.duplicates import name_initial
from leadflow.domain.normalise import email_key, normalise_company, record_phone_key
from leadflow.domain.records import Actor
from leadflow.errors import InitialSourceLocked, NotFound, UnrecordedChange
from leadflow.store.models import Account, AccountChange, Contact, FieldHistory, Lead, OutboxEvent, Tracked, new_id

T = TypeVar("T")
CREATED = "(created)"


@dataclass(frozen=True)
class ChangeContext:
    """Who or what is changing records, when, under which playbook rule, and why."""

    actor: Actor
    now: dt.datetime
    rule: str | None = None
    why: str | None = None
    change_id: str = ""


_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    """A column value as JSON for history: datetimes as ISO text, decimals as floats."""
    if type(value) in _SCALARS:  # most values: returned as they are, before any isinstance
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


@cache
def _tracked_keys(kind: type) -> tuple[str, ...]:
    """The column attributes of a model that history tracks, in mapper order (computed once per model)."""
    exclude = getattr(kind, "__history_exclude__", frozenset())
    return tuple(a.key for a in inspect(kind).column_attrs if a.key not in exclude)


def column_values(record: Any, keys: Iterable[str]) -> dict[str, Any]:
    """A record's values of `keys`: a loaded value from the instance's dict (what the instrumented attribute
    returns, without its descriptor call), any other (unset, expired) through the attribute."""
    loaded = record.__dict__
    return {key: loaded[key] if key in loaded else getattr(record, key) for key in keys}


def snapshot(record: Tracked) -> dict[str, Any]:
    """Every tracked column of a record as JSON values."""
    return {key: to_json(value) for key, value in column_values(record, _tracked_keys(type(record))).items()}


class UnitOfWork:
    """A transaction over the store; commit or everything is rolled back."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._contexts: list[ChangeContext] = []
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        self.session.info["uow"] = self
        return self

    def __exit__(self, *exc: object) -> None:
        # Uncommitted writes are rolled back (and their objects expired); after a commit or
        # a read-only block the loaded records stay readable once the session is closed.
        if self.session.info.get("wrote"):
            self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()
        self.session.info["wrote"] = False

    def rollback(self) -> None:
        self.session.rollback()
        self.session.info["wrote"] = False

    @property
    def context(self) -> ChangeContext | None:
        return self._contexts[-1] if self._contexts else None

    @contextmanager
    def changing(
        self,
        *,
        actor: Actor | None = None,
        now: dt.datetime | None = None,
        rule: str | None = None,
        why: str | None = None,
    ) -> Iterator[ChangeContext]:
        """Every write inside is recorded with this actor, time, rule and reason."""
        outer = self.context
        if outer is not None:
            # Changes made so far belong to the outer context: record them before ours.
            self.session.flush()
        if outer is None and (actor is None or now is None):
            raise UnrecordedChange("the outermost change needs an actor and a now", "actor")
        if now is not None and now.tzinfo is None:
            raise UnrecordedChange("now must be timezone-aware", "now")
        if outer is None:
            ctx = ChangeContext(actor=actor, now=now, rule=rule, why=why, change_id=new_id("chg"))  # type: ignore[arg-type]
        else:
            ctx = replace(
                outer,
                actor=actor or outer.actor,
                now=now or outer.now,
                rule=rule if rule is not None else outer.rule,
                why=why if why is not None else outer.why,
                change_id=new_id("chg"),
            )
        self._contexts.append(ctx)
        try:
            yield ctx
            self.session.flush()
        finally:
            self._contexts.pop()

    # ---- reading

    def get(self, model: type[T], record_id: str, field: str = "id") -> T:
        """The record or NotFound naming `field`."""
        found = self.session.get(model, record_id)
        if found is None:
            name = getattr(model, "__entity__", model.__name__.lower())
            raise NotFound(f"no {name} with id '{record_id}'", field)
        return found

    def history(self, entity_type: str, entity_id: str) -> list[FieldHistory]:
        stmt = (
            select(FieldHistory)
            .where(FieldHistory.entity_type == entity_type, FieldHistory.entity_id == entity_id)
            .order_by(FieldHistory.id)
        )
        return list(self.session.scalars(stmt))

    # ---- writing

    def set_field(self, record: Tracked, field: str, value: Any, *, rule: str, why: str) -> bool:
        """Change one field under its own rule and reason, without a flush of its own.

        Many fields changed by different rules are then written in one flush, each history row
        still naming its own rule. Returns False (and writes nothing) when the value is unchanged.
        """
        if to_json(getattr(record, field)) == to_json(value):
            return False
        if self.context is None:
            raise UnrecordedChange("set_field needs a change context", "actor")
        setattr(record, field, value)
        self.session.info.setdefault("field_rules", {})[(id(record), field)] = (rule, why)
        return True

    def add(self, record: T) -> T:
        """Add a new record (inside `changing`)."""
        self.session.add(record)
        return record

    def emit(
        self,
        event_type: str,
        *,
        entity: Tracked | None = None,
        payload: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
    ) -> OutboxEvent:
        """Queue a notification in the same transaction as the change that caused it."""
        ctx = self.context
        if ctx is None:
            raise UnrecordedChange("an outbox event needs a change context", "actor")
        row = OutboxEvent(
            event_type=event_type,
            entity_type=entity.__entity__ if entity is not None else None,
            entity_id=entity.id if entity is not None else None,
            payload=to_json(payload or {}),
            dedupe_key=dedupe_key or f"{event_type}:{ctx.change_id}:{uuid.uuid4().hex[:8]}",
            change_id=ctx.change_id,
            created_at=ctx.now,
            available_at=ctx.now,
        )
        self.session.add(row)
        return row


def _history_rows(
    record: Tracked, ctx: ChangeContext, created: bool, field_rules: dict[tuple[int, str], tuple[str, str]]
) -> list[dict[str, Any]]:
    """The `field_history` rows (as insert parameters) of one record's changes in this flush."""

    def row(field: str, old: Any, new: Any) -> dict[str, Any]:
        rule, why = field_rules.pop((id(record), field), (ctx.rule, ctx.why))
        return {
            "change_id": ctx.change_id, "entity_type": record.__entity__, "entity_id": record.id, "field": field,
            "old_value": old, "new_value": new, "changed_at": ctx.now, "actor_type": ctx.actor.type,
            "actor_id": ctx.actor.id, "rule": rule, "why": why,
        }  # fmt: skip

    if created:
        return [row(CREATED, None, snapshot(record))]
    state = inspect(record)
    rows: list[dict[str, Any]] = []
    # Only the attributes changed since load (`committed_state`), in column order: a lead has ~70
    # columns and a flush usually changes a few, so asking each column for its history is waste.
    order = _column_order(state.mapper)
    changed = sorted((k for k in state.committed_state if k in order), key=order.__getitem__)
    for key in changed:
        if key in record.__history_exclude__:
            continue
        hist = state.attrs[key].history
        if not hist.has_changes():
            continue
        old = to_json(hist.deleted[0]) if hist.deleted else None
        new = to_json(getattr(record, key))
        if old == new:
            continue
        if key == "initial_source":
            _guard_initial_source(record, state, old)
        rows.append(row(key, old, new))
    return rows


_ORDERS: dict[Any, dict[str, int]] = {}


def _column_order(mapper: Any) -> dict[str, int]:
    """Each column attribute's position in the mapper (history rows keep the table's column order)."""
    found = _ORDERS.get(mapper)
    if found is None:
        found = _ORDERS[mapper] = {attr.key: i for i, attr in enumerate(mapper.column_attrs)}
    return found


@cache
def _defaults(kind: type) -> tuple[tuple[str, Any], ...]:
    """A model's columns with a Python-side default, and that default (computed once per model)."""
    return tuple((c.key, c.default) for c in inspect(kind).columns if c.default is not None)


def _apply_defaults(record: Tracked) -> None:
    """Fill Python-side column defaults now, so the creation snapshot is the stored row."""
    for key, default in _defaults(type(record)):
        if getattr(record, key, None) is not None:
            continue
        if getattr(default, "is_scalar", False):
            setattr(record, key, default.arg)
        elif getattr(default, "is_callable", False):
            setattr(record, key, default.arg(None))


def _guard_initial_source(record: Tracked, state: Any, old: Any) -> None:
    """D6: Initial Source is set once; only an older first touch (a merge) may replace it."""
    if old is None:
        return
    at_hist = state.attrs["initial_source_at"].history
    new_at = getattr(record, "initial_source_at", None)
    old_at = at_hist.deleted[0] if at_hist.deleted else new_at
    if old_at is not None and new_at is not None and new_at < old_at:
        return
    raise InitialSourceLocked(
        f"Initial Source is '{old}' and is never overwritten (only an older first touch may replace it)",
        "initial_source",
    )


@event.listens_for(Session, "before_flush")
def _record_history(session: Session, flush_context: Any, instances: Any) -> None:
    """Turn every change of a tracked record into field history, or refuse the flush."""
    uow: UnitOfWork | None = session.info.get("uow")
    changed = [o for o in session.new if isinstance(o, Tracked)]
    changed += [o for o in session.dirty if isinstance(o, Tracked) and session.is_modified(o)]
    deleted = [o for o in session.deleted if isinstance(o, Tracked)]
    if session.new or session.dirty or session.deleted:
        session.info["wrote"] = True
    if not (changed or deleted):
        return
    ctx = uow.context if uow is not None else None
    if ctx is None:
        raise UnrecordedChange(
            "a tracked record was written outside a unit of work's change context", "actor"
        )
    rows: list[dict[str, Any]] = []
    field_rules: dict[tuple[int, str], tuple[str, str]] = session.info.setdefault("field_rules", {})
    for record in changed:
        created = record in session.new
        if created:
            _apply_defaults(record)
            if not record.id:
                record.id = new_id(record.__id_prefix__)
            record.created_at = record.created_at or ctx.now
        record.updated_at = ctx.now
        rows += _history_rows(record, ctx, created, field_rules)
    for record in deleted:
        rows.append({
            "change_id": ctx.change_id, "entity_type": record.__entity__, "entity_id": record.id,
            "field": "(deleted)", "old_value": None, "new_value": None, "changed_at": ctx.now,
            "actor_type": ctx.actor.type, "actor_id": ctx.actor.id, "rule": ctx.rule, "why": ctx.why,
        })  # fmt: skip
    field_rules.clear()
    accounts = [{"account_id": r.id, "changed_at": ctx.now} for r in (*changed, *deleted) if isinstance(r, Account)]
    if accounts:
        session.info.setdefault("account_changes", []).extend(accounts)
    # Written with one Core executemany after the flush: history rows are never read back as
    # objects in the same transaction, and one statement per flush is what keeps intake fast.
    session.info.setdefault("history_rows", []).extend(rows)


@event.listens_for(Session, "after_flush")
def _write_history(session: Session, flush_context: Any) -> None:
    rows = session.info.pop("history_rows", None)
    if rows:
        session.connection().execute(FieldHistory.__table__.insert(), rows)
    accounts = session.info.pop("account_changes", None)
    if accounts:
        session.connection().execute(AccountChange.__table__.insert(), accounts)


def company_key(company: str | None) -> str | None:
    """The same-company lookup key of a company name (R3): its normalised words, sorted."""
    return normalise_company(company).key or None


@event.listens_for(Lead.company, "set")
def _keep_company_key(target: Lead, value: str | None, old: Any, initiator: Any) -> None:
    target.company_key = company_key(value)


@event.listens_for(Lead.first_name, "set")
@event.listens_for(Contact.first_name, "set")
def _keep_first_initial(target: Lead | Contact, value: str | None, old: Any, initiator: Any) -> None:
    target.first_initial = name_initial(value)


@event.listens_for(Lead.last_name, "set")
@event.listens_for(Contact.last_name, "set")
def _keep_last_initial(target: Lead | Contact, value: str | None, old: Any, initiator: Any) -> None:
    target.last_initial = name_initial(value)


@event.listens_for(Lead.email, "set")
@event.listens_for(Contact.email, "set")
def _keep_email_key(target: Lead | Contact, value: str | None, old: Any, initiator: Any) -> None:
    target.email_key = email_key(value)


def _loaded(target: Lead | Contact, name: str) -> tuple[bool, Any]:
    """A person's value of `name` without loading it: (False, None) when a stored person's is not loaded."""
    values = target.__dict__
    if name in values:
        return True, values[name]
    return instance_state(target).key is None, None  # a new person's unset value is None


@event.listens_for(Lead.phone, "set")
@event.listens_for(Contact.phone, "set")
def _keep_phone_key(target: Lead | Contact, value: str | None, old: Any, initiator: Any) -> None:
    known, country = _loaded(target, "country")
    target.phone_key = record_phone_key(value, country) if known else None  # None: normalised when read


@event.listens_for(Lead.country, "set")
@event.listens_for(Contact.country, "set")
def _keep_phone_key_of_country(target: Lead | Contact, value: str | None, old: Any, initiator: Any) -> None:
    known, phone = _loaded(target, "phone")
    target.phone_key = record_phone_key(phone, value) if known else None


def replay(rows: list[FieldHistory]) -> dict[str, Any]:
    """Rebuild a record's tracked fields from its history alone (creation snapshot + changes)."""
    state: dict[str, Any] = {}
    for h in rows:
        if h.field == CREATED:
            state = dict(h.new_value or {})
        elif h.field == "(deleted)":
            state = {}
        else:
            state[h.field] = h.new_value
    return state
