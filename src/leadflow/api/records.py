"""The records of D1 over HTTP: list (filters, search, cursor pages, sorting), count, export, get, create, update.

One table (`SPECS`) says, per resource, its filters, sort keys, searchable and writable fields; the routes
and their Pydantic models are generated from it and from the SQLAlchemy columns, so the OpenAPI schema is
exact (types, lengths, required fields). Every read goes through `services.visibility.visible` (P4, P5),
so a list, a count, a search, an export and a get agree. An update needs `If-Match` with the ETag of the
version read; a stale one is refused (409), never lost.
"""

# No `from __future__ import annotations`: routes are built at run time with generated models.

import base64
import binascii
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import PlainTextResponse
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, create_model
from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Numeric, String, and_, func, inspect, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from leadflow.api.deps import Ctx, ctx
from leadflow.api.errors import ERROR_RESPONSES, JSON_ERROR_RESPONSES
from leadflow.domain.normalise import normalise_email, website_domain
from leadflow.errors import Conflict, InvalidInput, LeadflowError, NotFound
from leadflow.playbook.schema import USER_ROLES
from leadflow.services.csvsafe import SafeWriter
from leadflow.services.visibility import visible
from leadflow.store.models import (
    Account,
    Activity,
    Base,
    Contact,
    Lead,
    Opportunity,
    Queue,
    Task,
    User,
    UTCDateTime,
)
from leadflow.store.uow import to_json

INT32 = 2**31 - 1


class PreconditionRequired(LeadflowError):
    """An update without If-Match: the API cannot tell whether it would overwrite someone else's change."""

    status_code = 428


def _no_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL (0x00): refuse it at the edge, naming the field."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("may not contain a NUL (0x00) character")
    return value


def _python_type(column: Any, *, for_input: bool) -> tuple[Any, dict[str, Any]]:
    """The Python type and Field constraints of a column (inputs bounded so the database never refuses)."""
    t = column.type
    if isinstance(t, JSON):
        return Any, {}
    if isinstance(t, Boolean):
        return bool, {}
    if isinstance(t, UTCDateTime | DateTime):
        return (AwareDatetime if for_input else dt.datetime), {}
    if isinstance(t, Date):
        return dt.date, {}
    if isinstance(t, Integer):
        # every integer a client may write is a count (employees, licenses, weights, capacities)
        return int, ({"ge": 0, "le": INT32} if for_input else {})
    if isinstance(t, Numeric):
        return float, ({"ge": -1e11, "le": 1e11, "allow_inf_nan": False} if for_input else {})  # amounts
    if isinstance(t, String):
        if not for_input:
            return str, {}
        limits = {"max_length": t.length} if t.length else {}
        return Annotated[str, AfterValidator(_no_nul)], limits
    return Any, {}


def _columns(model: type[Any]) -> dict[str, Any]:
    return {c.key: c for c in inspect(model).columns}


def read_model(model: type[Any], name: str) -> type[BaseModel]:
    """Every column of the record, as stored."""
    fields: dict[str, Any] = {}
    for key, column in _columns(model).items():
        py, _ = _python_type(column, for_input=False)
        fields[key] = ((py | None) if column.nullable and py is not Any else py, None if column.nullable else ...)
    return create_model(name, __config__=ConfigDict(from_attributes=True), **fields)


def input_model(model: type[Any], name: str, names: tuple[str, ...], required: tuple[str, ...] = (),
                overrides: dict[str, tuple[Any, Any]] | None = None) -> type[BaseModel]:
    """A create or update body: only `names`, typed and bounded like their columns; unknown keys refused."""
    columns = _columns(model)
    fields: dict[str, Any] = {}
    for key in names:
        if overrides and key in overrides:
            fields[key] = overrides[key]
            continue
        py, limits = _python_type(columns[key], for_input=True)
        if key in required:
            fields[key] = (py, Field(**limits))
        else:
            nullable = columns[key].nullable and py is not Any
            fields[key] = ((py | None) if nullable else py, Field(default=None, **limits))
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def etag(record: Any) -> str:
    """A strong validator of the stored version: a hash of every column (updated_at included)."""
    values = {a.key: to_json(getattr(record, a.key)) for a in inspect(type(record)).column_attrs}
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return f'"{digest[:32]}"'


# --------------------------------------------------------------------------- the resources


@dataclass
class Spec:
    """One resource of D1 over HTTP."""

    path: str
    model: type[Any]
    title: str
    filters: tuple[str, ...]
    sorts: tuple[str, ...]
    search: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    create_fields: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    overrides: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # custom create (the default: a plain record with the body's fields) and checks/derivations after a write
    create: Callable[[Ctx, dict[str, Any]], Any] | None = None
    check: Callable[[Ctx, Any, dict[str, Any]], None] | None = None
    after_write: Callable[[Ctx, Any, set[str]], None] | None = None
    create_route: bool = True

    @property
    def perm(self) -> str:
        return self.path

    @property
    def entity(self) -> str:
        return str(getattr(self.model, "__entity__", self.title.lower()))


_BY_TABLE: dict[str, type[Any]] = {m.class_.__table__.name: m.class_ for m in Base.registry.mappers}
VISIBLE_TARGETS = (Lead, Contact, Account, Opportunity)


def fetch(c: Ctx, model: type[Any], record_id: str, *, field_name: str = "id", for_update: bool = False) -> Any:
    """The record if it exists and the principal may see it; 404 otherwise (never reveals a hidden record)."""
    stmt = visible(select(model).where(model.id == record_id), model, c.principal, c.pb)
    if for_update:
        stmt = stmt.with_for_update()
    found = c.uow.session.scalars(stmt).first()
    if found is None:
        name = getattr(model, "__entity__", model.__name__.lower())
        raise NotFound(f"no {name} with id '{record_id}'", field_name)
    return found


def check_references(c: Ctx, model: type[Any], values: dict[str, Any], record_id: str | None = None) -> None:
    """Every foreign key given names a record that exists (and that the principal may see); no cycles."""
    columns = _columns(model)
    for key, value in values.items():
        column = columns.get(key)
        if column is None or value is None or not column.foreign_keys:
            continue
        target = _BY_TABLE[next(iter(column.foreign_keys)).column.table.name]
        if target in VISIBLE_TARGETS:
            found = c.uow.session.scalars(
                visible(select(target).where(target.id == value), target, c.principal, c.pb)
            ).first()
        else:
            found = c.uow.session.get(target, value)
        if found is None:
            raise InvalidInput(f"no {getattr(target, '__entity__', target.__name__.lower())} with id '{value}'", key)
        if target is model and record_id is not None:
            seen = {record_id}
            probe = found
            while probe is not None:
                if probe.id in seen:
                    raise InvalidInput(f"'{value}' would make a cycle ({key})", key)
                seen.add(probe.id)
                parent = getattr(probe, key)
                probe = c.uow.session.get(model, parent) if parent else None


# ---- per-resource rules


def _check_user(c: Ctx, record: Any, values: dict[str, Any]) -> None:
    if "role" in values and values["role"] not in USER_ROLES:
        raise InvalidInput(f"unknown role '{values['role']}'; roles: {', '.join(USER_ROLES)}", "role")
    if "email" in values and values["email"] is not None:
        email = normalise_email(values["email"])
        if email is None:
            raise InvalidInput(f"'{values['email']}' is not a valid email address", "email")
        values["email"] = email


def _check_account(c: Ctx, record: Any, values: dict[str, Any]) -> None:
    if "type" in values and values["type"] not in c.pb.account_types:
        raise InvalidInput(f"unknown account type '{values['type']}'; types: {', '.join(c.pb.account_types)}", "type")
    if "name" in values and not (values["name"] or "").strip():
        raise InvalidInput("an account needs a name (I7)", "name")
    licenses = values.get("number_of_licenses", getattr(record, "number_of_licenses", None))
    override = values.get("potential_ee_users_override", getattr(record, "potential_ee_users_override", None))
    if override is not None and licenses is not None and override <= licenses:
        raise InvalidInput(f"Potential EE Users override ({override}) must be more than Number of Licenses "
                           f"({licenses}) (S6)", "potential_ee_users_override")
    if "website" in values:
        values["domain"] = website_domain(values["website"], c.pb.intake.free_mail_domains_extra)


def _after_account(c: Ctx, account: Any, changed: set[str]) -> None:
    from leadflow.services.derive import refresh_hierarchy
    from leadflow.services.ownership import derive_contact_owner

    c.uow.session.flush()
    refresh_hierarchy(c.uow, c.pb, account, c.now)
    if changed & {"type", "sdr_assigned_id", "bdr_assigned_id", "owner_id", "employees_datafox",
                  "employees_zoominfo", "parent_id"}:
        for contact in c.uow.session.scalars(select(Contact).where(Contact.account_id == account.id)):
            derive_contact_owner(c.uow, c.pb, contact)


def _after_lead(c: Ctx, lead: Any, changed: set[str]) -> None:
    from leadflow.services.derive import refresh_lead

    c.uow.session.flush()
    refresh_lead(c.uow, c.pb, lead, c.now)


def _check_contact(c: Ctx, record: Any, values: dict[str, Any]) -> None:
    if "email" in values and values["email"] is not None:
        email = normalise_email(values["email"])
        if email is None:
            raise InvalidInput(f"'{values['email']}' is not a valid email address", "email")
        values["email"] = email
    if "last_name" in values and not (values["last_name"] or "").strip():
        raise InvalidInput("a contact needs a last name (I7)", "last_name")


def _after_contact(c: Ctx, contact: Any, changed: set[str]) -> None:
    from leadflow.services.ownership import derive_contact_owner

    if changed & {"account_id"} or contact.owner_id is None:
        c.uow.session.flush()
        derive_contact_owner(c.uow, c.pb, contact)


def _create_contact(c: Ctx, values: dict[str, Any]) -> Any:
    """I7: last name, account and an Initial Source other than Unknown; the same email is searched first."""
    from leadflow.services.intake import find_by_email

    if (values.get("initial_source") or "").strip().casefold() in ("", "unknown"):
        raise InvalidInput("a contact needs an Initial Source other than Unknown (I7)", "initial_source")
    email = values.get("email")
    if email:
        existing = find_by_email(c.uow, email)
        if existing is not None:
            raise Conflict(f"{existing.__entity__} {existing.id} already has the email {email} (I7)", "email")
    return Contact(status=c.pb.default_status.name, initial_source_at=c.now, **values)


OPPORTUNITY_START_STAGE = "00-Pre Opportunity"  # O2: every opportunity starts here


def _create_opportunity(c: Ctx, values: dict[str, Any]) -> Any:
    """O2, O5: starts at 00-Pre Opportunity; close date 9 months ahead; owner the account's; SDR is not the owner."""
    account = fetch(c, Account, values["account_id"], field_name="account_id")
    values.setdefault("owner_id", None)
    values["owner_id"] = values["owner_id"] or account.owner_id
    if values.get("close_date") is None:
        month = c.now.month - 1 + 9
        values["close_date"] = dt.date(c.now.year + month // 12, month % 12 + 1, min(c.now.day, 28))
    _check_opportunity(c, None, values)
    return Opportunity(stage=OPPORTUNITY_START_STAGE, **values)


def _check_opportunity(c: Ctx, record: Any, values: dict[str, Any]) -> None:
    owner = values.get("owner_id", getattr(record, "owner_id", None))
    sdr = values.get("sdr_id", getattr(record, "sdr_id", None))
    if sdr is not None and sdr == owner:
        raise InvalidInput("the SDR/BDR may not be the opportunity owner (O5)", "sdr_id")


def _check_subject(c: Ctx, record: Any, values: dict[str, Any]) -> None:
    if "subject_id" in values:
        model = Lead if values.get("subject_type", getattr(record, "subject_type", None)) == "lead" else Contact
        fetch(c, model, values["subject_id"], field_name="subject_id")


PERSON_FIELDS = ("first_name", "last_name", "phone", "title", "country", "state")
ACCOUNT_FIELDS = (
    "name", "website", "industry", "country", "type", "parent_id", "employees_datafox", "employees_zoominfo",
    "employees_linkedin", "employees_user_input", "employees_user_input_source_url", "how_many_developers",
    "it_tedd_employees", "number_of_licenses", "potential_ee_users_override", "sdr_assigned_id", "bdr_assigned_id",
    "bdr_prospecting_status", "named", "public_sector", "restricted", "executive_sponsor", "using_ce",
    "active_ce_users", "ce_instances", "account_source",
)
USER_FIELDS = ("name", "email", "role", "region", "segment", "team", "manager_id", "out_of_office", "rr_weight",
               "rr_capacity_per_day", "rr_capacity_per_week")
Subject = Literal["lead", "contact"]

SPECS: list[Spec] = [
    Spec("leads", Lead, "Lead",
         filters=("status", "owner_type", "owner_id", "region", "segment", "channel", "matched_account_id", "email",
                  "initial_source", "high_priority", "spam"),
         sorts=("id", "created_at", "updated_at", "score", "mql_date", "last_name", "status"),
         search=("first_name", "last_name", "email", "company"),
         writable=(*PERSON_FIELDS, "company", "website", "industry", "developers_bucket", "how_many_developers",
                   "employees", "opt_out", "opt_out_until", "inactive"),
         after_write=_after_lead, create_route=False),  # leads are created by the intake (POST /leads)
    Spec("contacts", Contact, "Contact",
         filters=("status", "owner_type", "owner_id", "account_id", "email", "initial_source"),
         sorts=("id", "created_at", "updated_at", "score", "last_name", "status"),
         search=("first_name", "last_name", "email"),
         writable=(*PERSON_FIELDS, "email", "account_id", "opt_out", "opt_out_until", "inactive"),
         create_fields=(*PERSON_FIELDS, "email", "account_id", "initial_source"),
         required=("last_name", "account_id", "initial_source"),
         create=_create_contact, check=_check_contact, after_write=_after_contact),
    Spec("accounts", Account, "Account",
         filters=("type", "owner_id", "parent_id", "segment", "region", "domain", "named", "public_sector",
                  "bdr_prospecting_status"),
         sorts=("id", "created_at", "updated_at", "name"),
         search=("name", "domain", "website"),
         writable=ACCOUNT_FIELDS, create_fields=(*ACCOUNT_FIELDS, "owner_id"), required=("name", "type"),
         check=_check_account, after_write=_after_account),
    Spec("opportunities", Opportunity, "Opportunity",
         filters=("account_id", "owner_id", "stage", "type", "sales_qualified"),
         sorts=("id", "created_at", "updated_at", "name", "close_date", "amount"),
         search=("name",),
         writable=("name", "amount", "close_date", "sdr_id"),
         create_fields=("name", "account_id", "type", "amount", "close_date", "owner_id", "sdr_id",
                        "parent_opportunity_id"),
         required=("name", "account_id", "type"),
         create=_create_opportunity, check=_check_opportunity),
    Spec("users", User, "User",
         filters=("role", "region", "segment", "team", "active", "manager_id"),
         sorts=("id", "created_at", "updated_at", "name", "email"),
         search=("name", "email"),
         writable=USER_FIELDS, create_fields=("id", *USER_FIELDS), required=("name", "email", "role"),
         check=_check_user),
    Spec("queues", Queue, "Queue", filters=(), sorts=("id",), search=("id", "description"),
         writable=("description",), create_fields=("id", "description"), required=("id",)),
    Spec("activities", Activity, "Activity", filters=("subject_type", "subject_id", "type"),
         sorts=("id", "at"), create_fields=("subject_type", "subject_id", "type", "at", "details"),
         required=("subject_type", "subject_id", "type", "at"),
         overrides={"subject_type": (Subject, ...), "details": (dict[str, Any], Field(default_factory=dict))},
         check=_check_subject),
    Spec("tasks", Task, "Task", filters=("subject_type", "subject_id", "owner_id", "status", "kind"),
         sorts=("id", "due_at"), search=("subject",),
         writable=("subject", "due_at", "status", "owner_id"),
         create_fields=("subject_type", "subject_id", "owner_id", "kind", "subject", "due_at"),
         required=("subject_type", "subject_id", "subject"),
         overrides={"subject_type": (Subject, ...), "kind": (Literal["task", "meeting"], "task"),
                    "status": (Literal["open", "done"] | None, None)},
         check=_check_subject),
]


# --------------------------------------------------------------------------- listing


_SENTINEL: dict[type, Any] = {str: "", int: -(2**62), float: -1e18, bool: False,
                              dt.datetime: dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.date: dt.date(1970, 1, 1)}


def _sort_key(column: InstrumentedAttribute[Any]) -> tuple[Any, Any]:
    """The column with NULLs as a sentinel, so that a keyset cursor can compare every row."""
    py, _ = _python_type(column.property.columns[0], for_input=False)
    sentinel = _SENTINEL.get(py, "")
    if column.property.columns[0].nullable:
        return func.coalesce(column, sentinel), sentinel
    return column, sentinel


def _encode_cursor(sort: str, value: Any, record_id: str) -> str:
    raw = json.dumps([sort, to_json(value), record_id]).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str, sort: str, py: Any) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, record_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput("not a cursor this API gave", "cursor") from None
    if cursor_sort != sort or not isinstance(record_id, str):
        raise InvalidInput("the cursor belongs to another sort order; start again without it", "cursor")
    try:
        if py is dt.datetime and value is not None:
            value = dt.datetime.fromisoformat(value)
        elif py is dt.date and value is not None:
            value = dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput("not a cursor this API gave", "cursor") from None
    return value, record_id


def _filter_model(spec: Spec) -> type[BaseModel]:
    columns = _columns(spec.model)
    options = [s for name in spec.sorts for s in (name, f"-{name}")]
    sort_type = Literal[tuple(options)]  # type: ignore[valid-type]
    fields: dict[str, Any] = {
        "limit": (int, Field(50, ge=1, le=500, description="Records per page.")),
        "cursor": (str | None, Field(None, max_length=2000, description="`next_cursor` of the previous page.")),
        "sort": (sort_type, Field(spec.sorts[0], description="Sort key; a leading '-' sorts descending.")),
    }
    if spec.search:
        fields["q"] = (Annotated[str, AfterValidator(_no_nul)] | None,
                       Field(None, max_length=200, description=f"Search in {', '.join(spec.search)}."))
    for name in spec.filters:
        py, limits = _python_type(columns[name], for_input=True)
        fields[name] = (py | None, Field(None, **limits))
    return create_model(f"{spec.title}Query", __config__=ConfigDict(extra="forbid"), **fields)


def _where(c: Ctx, spec: Spec, params: BaseModel) -> Any:
    model = spec.model
    stmt = visible(select(model), model, c.principal, c.pb)
    for name in spec.filters:
        value = getattr(params, name)
        if value is not None:
            stmt = stmt.where(getattr(model, name) == value)
    q = getattr(params, "q", None)
    if q:
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(*(func.lower(getattr(model, f)).like(pattern, escape="\\") for f in spec.search)))
    return stmt


def _page(c: Ctx, spec: Spec, params: BaseModel) -> tuple[list[Any], str | None]:
    model = spec.model
    sort: str = params.sort  # type: ignore[attr-defined]
    descending = sort.startswith("-")
    column = getattr(model, sort.lstrip("-"))
    key, _ = _sort_key(column)
    stmt = _where(c, spec, params)
    cursor: str | None = params.cursor  # type: ignore[attr-defined]
    if cursor:
        py, _ = _python_type(column.property.columns[0], for_input=False)
        value, last_id = _decode_cursor(cursor, sort, py)
        if value is None:
            value = _SENTINEL.get(py, "")
        if descending:
            stmt = stmt.where(or_(key < value, and_(key == value, model.id < last_id)))
        else:
            stmt = stmt.where(or_(key > value, and_(key == value, model.id > last_id)))
    order = (key.desc(), model.id.desc()) if descending else (key.asc(), model.id.asc())
    limit: int = params.limit  # type: ignore[attr-defined]
    rows = list(c.uow.session.scalars(stmt.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = _encode_cursor(sort, getattr(last, sort.lstrip("-")), last.id)
    return rows, next_cursor


class CountOut(BaseModel):
    count: int


def _apply(record: Any, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(record, key, value)


def build_router(spec: Spec) -> APIRouter:
    """The routes of one resource."""
    router = APIRouter(prefix=f"/{spec.path}", tags=[spec.path], responses=ERROR_RESPONSES)
    out = read_model(spec.model, f"{spec.title}Out")
    page = create_model(f"{spec.title}Page", items=(list[out], ...), next_cursor=(str | None, None))  # type: ignore[valid-type]
    query = _filter_model(spec)
    read, write = ctx(f"{spec.perm}.read"), ctx(f"{spec.perm}.write")
    model = spec.model

    @router.get("", response_model=page, summary=f"List {spec.path}")
    def list_records(params: Annotated[query, Query()], c: Annotated[Ctx, Depends(read)]) -> Any:  # type: ignore[valid-type]
        """A page of the records you may see, filtered, searched (`q`) and sorted; follow `next_cursor`."""
        rows, next_cursor = _page(c, spec, params)
        return {"items": [out.model_validate(r) for r in rows], "next_cursor": next_cursor}

    @router.get("/count", response_model=CountOut, summary=f"Count {spec.path}")
    def count_records(params: Annotated[query, Query()], c: Annotated[Ctx, Depends(read)]) -> Any:  # type: ignore[valid-type]
        """How many records you may see match the filters (the same records a list shows)."""
        stmt = select(func.count()).select_from(_where(c, spec, params).subquery())
        return {"count": c.uow.session.scalar(stmt) or 0}

    @router.get("/export", response_class=PlainTextResponse, summary=f"Export {spec.path} as CSV",
                responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **JSON_ERROR_RESPONSES})
    def export_records(params: Annotated[query, Query()], c: Annotated[Ctx, Depends(read)]) -> Response:  # type: ignore[valid-type]
        """Every record you may see that matches the filters, as CSV (cells safe from formula injection)."""
        names = list(_columns(model))
        buffer = io.StringIO()
        writer = SafeWriter(buffer)
        writer.writerow(names)
        stmt = _where(c, spec, params).order_by(model.id)
        for record in c.uow.session.scalars(stmt):
            writer.writerow(json.dumps(v) if isinstance(v, dict | list) else v
                            for v in (to_json(getattr(record, n)) for n in names))
        return Response(buffer.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{spec.path}.csv"'})

    @router.get("/{record_id}", response_model=out, summary=f"Get one {spec.entity}")
    def get_record(record_id: str, response: Response, c: Annotated[Ctx, Depends(read)]) -> Any:
        """The record (404 when it does not exist or you may not see it); its ETag for a later update."""
        record = fetch(c, model, record_id)
        response.headers["ETag"] = etag(record)
        return out.model_validate(record)

    if spec.writable:
        update_body = input_model(model, f"{spec.title}Update", spec.writable, overrides=spec.overrides)

        @router.patch("/{record_id}", response_model=out, summary=f"Update one {spec.entity}",
                      responses={428: {"model": ERROR_RESPONSES[409]["model"], "description": "If-Match missing"}})
        def update_record(
            record_id: str,
            body: update_body,  # type: ignore[valid-type]
            response: Response,
            c: Annotated[Ctx, Depends(write)],
            if_match: Annotated[str | None, Header(max_length=200, description="The ETag of the version read.")] = None,
        ) -> Any:
            """Change the given fields if the record is still the version you read (If-Match), else 409."""
            if not if_match:
                raise PreconditionRequired("send If-Match with the ETag of the version you read", "If-Match")
            record = fetch(c, model, record_id, for_update=True)
            current = etag(record)
            if if_match.strip() != current:
                raise Conflict(f"the {spec.entity} changed since you read it (ETag now {current}); read it again",
                               "If-Match")
            values = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
            for key, value in values.items():
                if value is None and not _columns(model)[key].nullable:
                    raise InvalidInput("may not be null", key)
            check_references(c, model, values, record_id)
            if spec.check:
                spec.check(c, record, values)
            with c.uow.changing(actor=c.actor, now=c.now, rule=f"api:{spec.path}.update",
                                why=f"PATCH /{spec.path}/{record_id}"):
                _apply(record, values)
                if spec.after_write:
                    spec.after_write(c, record, set(values))
            c.uow.commit()
            response.headers["ETag"] = etag(record)
            return out.model_validate(record)

    if spec.create_fields and spec.create_route:
        create_body = input_model(model, f"{spec.title}Create", spec.create_fields, spec.required, spec.overrides)

        @router.post("", response_model=out, status_code=201, summary=f"Create a {spec.entity}")
        def create_record(body: create_body, response: Response, c: Annotated[Ctx, Depends(write)]) -> Any:  # type: ignore[valid-type]
            """Create the record; refused whole (nothing stored) when a rule says no."""
            values = {k: v for k, v in body.model_dump().items() if v is not None}  # type: ignore[attr-defined]
            check_references(c, model, values)
            if spec.check:
                spec.check(c, None, values)
            with c.uow.changing(actor=c.actor, now=c.now, rule=f"api:{spec.path}.create",
                                why=f"POST /{spec.path}"):
                record = spec.create(c, values) if spec.create else model(**values)
                if "id" in values and c.uow.session.get(model, values["id"]) is not None:
                    raise Conflict(f"a {spec.entity} with id '{values['id']}' exists", "id")
                c.uow.add(record)
                c.uow.session.flush()
                if spec.after_write:
                    spec.after_write(c, record, set(values))
            c.uow.commit()
            response.headers["ETag"] = etag(record)
            return out.model_validate(record)

    return router


def routers() -> list[APIRouter]:
    return [build_router(spec) for spec in SPECS]
