"""`leadflow simulate` (CONTRACTS §1): what would happen to this lead, in this world, under this playbook?

`simulate(pb, world, lead, now)` loads WORLD into a fresh, throw-away SQLite store (a temporary file,
created from the models, which `test_migrations` proves identical to the migrated schema; the configured
database is never opened), derives the accounts' hierarchies (segment, region), then takes LEAD in
through the real intake (`services.intake.intake`, the code path of every channel) and reports the
outcome as the contract's JSON object.

Bad input is refused whole with an `InvalidInput` naming the field: `world.users[2].role`,
`world.accounts[0].parent`, `activities.0.at`, `channel`, `now` ...
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadflow.domain import lifecycle
from leadflow.domain.normalise import email_domain, is_free_mail, normalise_country, normalise_email, website_domain
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput, LeadflowError
from leadflow.playbook.load import cached_playbook
from leadflow.playbook.schema import USER_ROLES, Playbook
from leadflow.services import derive
from leadflow.services.intake import IntakeEnv, IntakeResult, intake
from leadflow.services.intake_models import LeadIn, parse_lead
from leadflow.store.db import Store
from leadflow.store.models import Account, Base, Contact, Lead, Opportunity, Queue, User
from leadflow.store.uow import UnitOfWork

SIMULATOR = Actor.system("simulate")
DEFAULT_OWNER_ID = "sales-admin"

Id = Field(min_length=1, max_length=64)


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("may not contain a NUL (0x00) character")
        return None if isinstance(value, str) and not value.strip() else value


class UserIn(_In):
    id: str = Id
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    role: str
    region: str | None = Field(default=None, max_length=80)
    segment: str | None = Field(default=None, max_length=40)
    team: str | None = Field(default=None, max_length=120)
    manager: str | None = Field(default=None, max_length=64)
    active: bool = True
    out_of_office: bool = False
    rr_weight: int = Field(default=1, ge=0, le=1000)
    rr_capacity_per_day: int | None = Field(default=None, ge=0)
    rr_capacity_per_week: int | None = Field(default=None, ge=0)


class EmployeesIn(_In):
    admin_override: int | None = Field(default=None, ge=0)
    datafox: int | None = Field(default=None, ge=0)
    zoominfo: int | None = Field(default=None, ge=0)
    linkedin: int | None = Field(default=None, ge=0)
    user_input: int | None = Field(default=None, ge=0)


class AddressIn(_In):
    street: str | None = Field(default=None, max_length=300)
    city: str | None = Field(default=None, max_length=120)
    zip: str | None = Field(default=None, max_length=20)
    state: str | None = Field(default=None, max_length=80)
    country: str | None = Field(default=None, max_length=80)


AddressSource = Literal["admin_override", "datafox", "zoominfo", "shipping", "billing"]


class AccountIn(_In):
    id: str = Id
    name: str = Field(min_length=1, max_length=300)
    website: str | None = Field(default=None, max_length=500)
    type: str = "Prospect"
    industry: str | None = Field(default=None, max_length=120)
    parent: str | None = Field(default=None, max_length=64)
    employees: EmployeesIn = EmployeesIn()
    address: AddressIn | None = None  # the account's address (stored as its billing address)
    addresses: dict[AddressSource, AddressIn] = {}  # or per source (S8 priority)
    owner: str | None = Field(default=None, max_length=64)
    sdr_assigned: str | None = Field(default=None, max_length=64)
    bdr_assigned: str | None = Field(default=None, max_length=64)
    bdr_prospecting_status: str | None = Field(default=None, max_length=60)
    named: bool = False
    public_sector: bool = False


class OwnerIn(_In):
    type: Literal["user", "queue"]
    id: str = Field(min_length=1, max_length=120)


class LeadRecordIn(_In):
    id: str = Id
    email: str | None = Field(default=None, max_length=320)
    first_name: str | None = Field(default=None, max_length=120)
    last_name: str | None = Field(default=None, max_length=120)
    company: str | None = Field(default=None, max_length=300)
    title: str | None = Field(default=None, max_length=200)
    website: str | None = Field(default=None, max_length=500)
    country: str | None = Field(default=None, max_length=80)
    state: str | None = Field(default=None, max_length=80)
    industry: str | None = Field(default=None, max_length=120)
    channel: str | None = Field(default=None, max_length=60)
    status: str | None = Field(default=None, max_length=60)
    status_reason: str | None = Field(default=None, max_length=120)
    mql_date: AwareDatetime | None = None
    score: int = Field(default=0, ge=-10_000, le=10_000)
    owner: OwnerIn | None = None
    matched_account: str | None = Field(default=None, max_length=64)


class ContactIn(_In):
    id: str = Id
    email: str | None = Field(default=None, max_length=320)
    first_name: str | None = Field(default=None, max_length=120)
    last_name: str | None = Field(default=None, max_length=120)
    title: str | None = Field(default=None, max_length=200)
    country: str | None = Field(default=None, max_length=80)
    account: str | None = Field(default=None, max_length=64)
    status: str | None = Field(default=None, max_length=60)
    owner: OwnerIn | str | None = None


class OpportunityIn(_In):
    id: str = Id
    name: str | None = Field(default=None, max_length=300)
    account: str = Field(min_length=1, max_length=64)
    type: str = "New Business"
    stage: str = "00-Pre Opportunity"
    owner: str | None = Field(default=None, max_length=64)
    sdr: str | None = Field(default=None, max_length=64)
    amount: float | None = None


class WorldIn(BaseModel):
    """WORLD.json: every list may be empty or absent."""

    model_config = ConfigDict(extra="ignore")

    users: list[UserIn] = []
    accounts: list[AccountIn] = []
    leads: list[LeadRecordIn] = []
    contacts: list[ContactIn] = []
    opportunities: list[OpportunityIn] = []

    @field_validator("*", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


# --------------------------------------------------------------------------- reading the inputs


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_world(data: Any) -> WorldIn:
    """WORLD.json validated; the first problem becomes an InvalidInput naming `world.<path>`."""
    if not isinstance(data, dict):
        raise InvalidInput("a world is a JSON object with users, accounts, leads, contacts, opportunities", "world")
    try:
        return WorldIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _loc(tuple(first["loc"]))
        raise InvalidInput(first["msg"], f"world.{where}" if where else "world") from None


def parse_now(value: str | None) -> dt.datetime:
    """`--now`: required, ISO 8601, with a time zone."""
    if not value:
        raise InvalidInput("--now is required (an ISO date-time with a time zone, e.g. 2026-03-02T15:00:00Z)", "now")
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"'{value}' is not an ISO date-time", "now") from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"'{value}' has no time zone (e.g. 2026-03-02T15:00:00Z)", "now")
    return parsed.astimezone(dt.UTC)


def read_json(text: str, field: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", field) from None


def parse_simulated_lead(data: Any) -> LeadIn:
    """LEAD.json as the intake validates it; `channel` is required."""
    if isinstance(data, dict) and not data.get("channel"):
        raise InvalidInput("a lead needs its intake channel", "channel")
    return parse_lead(data)


# --------------------------------------------------------------------------- the world


def _unique(items: list[Any], what: str) -> list[Any]:
    """Each id once; an identical repeat is dropped, a conflicting one refused."""
    seen: dict[str, Any] = {}
    out = []
    for i, item in enumerate(items):
        if item.id in seen:
            if seen[item.id] != item:
                raise InvalidInput(f"id '{item.id}' is listed twice with different values", f"world.{what}[{i}].id")
            continue
        seen[item.id] = item
        out.append(item)
    return out


class WorldCheck:
    """The references of a world checked against the playbook and each other, naming the bad field."""

    def __init__(self, pb: Playbook, world: WorldIn) -> None:
        self.pb = pb
        self.users = {u.id for u in world.users}
        self.accounts = {a.id for a in world.accounts}
        self.added: list[UserIn] = []
        self.notes: list[str] = []

    def user(self, user_id: str | None, field: str, role: str = "SDR") -> None:
        """A user named in an owner field but not listed is added (active, in office, no region) and noted,
        so a world that names its owners only where they own (as the contract's example does) still runs."""
        if user_id is None or user_id in self.users:
            return
        self.users.add(user_id)
        self.added.append(UserIn(id=user_id, role=role))
        self.notes.append(
            f"user '{user_id}' ({field}) is not in world.users: added as an active {role} "
            f"with no region, team or segment"
        )

    def account(self, account_id: str | None, field: str) -> None:
        if account_id is not None and account_id not in self.accounts:
            raise InvalidInput(f"no account '{account_id}' in the world", field)

    def owner(self, owner: OwnerIn | None, field: str) -> None:
        if owner is None:
            return
        if owner.type == "user":
            self.user(owner.id, field)
        elif owner.id not in self.pb.queue_names():
            raise InvalidInput(f"unknown queue '{owner.id}'; queues: {', '.join(self.pb.queue_names())}", f"{field}.id")

    def status(self, value: str | None, field: str) -> tuple[str, str | None]:
        if value is None:
            return self.pb.default_status.name, None
        try:
            return lifecycle.map_legacy_status(self.pb, value)
        except LeadflowError as exc:
            raise InvalidInput(exc.message, field) from None


def check_world(pb: Playbook, world: WorldIn) -> tuple[WorldIn, list[str]]:
    """Every value the playbook constrains, and every reference, or InvalidInput naming the field; with the
    notes of what was added (users named in owner fields but not listed)."""
    world = WorldIn(
        users=_unique(world.users, "users"),
        accounts=_unique(world.accounts, "accounts"),
        leads=_unique(world.leads, "leads"),
        contacts=_unique(world.contacts, "contacts"),
        opportunities=_unique(world.opportunities, "opportunities"),
    )
    check = WorldCheck(pb, world)
    # A world follows the contract (the default playbook's regions), so it can be replayed under another
    # playbook: a region of either is accepted; a user in a region the playbook lacks is in none of its pools.
    regions = list(dict.fromkeys([*pb.region_names(), *cached_playbook(None).region_names()]))
    segments = pb.segmentation.names()
    emails: dict[str, int] = {}
    for i, u in enumerate(world.users):
        where = f"world.users[{i}]"
        if u.role not in USER_ROLES:
            raise InvalidInput(f"unknown role '{u.role}'; roles: {', '.join(USER_ROLES)}", f"{where}.role")
        if u.region is not None and u.region not in regions:
            raise InvalidInput(f"unknown region '{u.region}'; regions: {', '.join(regions)}", f"{where}.region")
        if u.segment is not None and u.segment not in segments:
            raise InvalidInput(f"unknown segment '{u.segment}'; segments: {', '.join(segments)}", f"{where}.segment")
        check.user(u.manager, f"{where}.manager", "Team Lead")
        email = (u.email or f"{u.id}@simulate.invalid").lower()
        if email in emails:
            raise InvalidInput(f"email '{email}' is already user {world.users[emails[email]].id}'s", f"{where}.email")
        emails[email] = i
    for i, a in enumerate(world.accounts):
        where = f"world.accounts[{i}]"
        if a.type not in pb.account_types:
            raise InvalidInput(
                f"unknown account type '{a.type}'; types: {', '.join(pb.account_types)}", f"{where}.type"
            )
        check.account(a.parent, f"{where}.parent")
        for name, role in (("owner", "AE"), ("sdr_assigned", "SDR"), ("bdr_assigned", "BDR")):
            check.user(getattr(a, name), f"{where}.{name}", role)
    _parents_first(world.accounts)
    for i, lead in enumerate(world.leads):
        where = f"world.leads[{i}]"
        check.status(lead.status, f"{where}.status")
        check.owner(lead.owner, f"{where}.owner")
        check.account(lead.matched_account, f"{where}.matched_account")
        if lead.email and normalise_email(lead.email) is None:
            raise InvalidInput(f"'{lead.email}' is not a valid email address", f"{where}.email")
    for i, c in enumerate(world.contacts):
        where = f"world.contacts[{i}]"
        check.status(c.status, f"{where}.status")
        check.account(c.account, f"{where}.account")
        if isinstance(c.owner, str):
            check.user(c.owner, f"{where}.owner")
        else:
            check.owner(c.owner, f"{where}.owner")
    for i, o in enumerate(world.opportunities):
        where = f"world.opportunities[{i}]"
        check.account(o.account, f"{where}.account")
        check.user(o.owner, f"{where}.owner", "AE")
        check.user(o.sdr, f"{where}.sdr", "SDR")
    return world.model_copy(update={"users": [*world.users, *check.added]}), check.notes


def _parents_first(accounts: list[AccountIn]) -> list[AccountIn]:
    """Accounts ordered so that a parent comes before its children; a cycle is refused."""
    by_id = {a.id: a for a in accounts}
    index = {a.id: i for i, a in enumerate(accounts)}
    ordered: list[AccountIn] = []
    done: set[str] = set()
    for account in accounts:
        chain: list[AccountIn] = []
        current: AccountIn | None = account
        while current is not None and current.id not in done:
            if current in chain:
                where = f"world.accounts[{index[current.id]}].parent"
                raise InvalidInput(f"account '{current.id}' is its own ancestor", where)
            chain.append(current)
            current = by_id.get(current.parent) if current.parent else None
        for item in reversed(chain):
            ordered.append(item)
            done.add(item.id)
    return ordered


def load_world(uow: UnitOfWork, pb: Playbook, world: WorldIn, now: dt.datetime) -> None:
    """Write the (checked) world into an empty store through the one write path, then derive hierarchies."""
    aliases = pb.countries.aliases
    extra = pb.intake.free_mail_domains_extra

    def country(text: str | None) -> str | None:
        found = normalise_country(text, aliases) if text else None
        return found.name if found else text

    def address(a: AddressIn) -> dict[str, Any]:
        return {**a.model_dump(exclude_none=True), **({"country": country(a.country)} if a.country else {})}

    for queue in pb.queues:
        uow.session.add(Queue(id=queue.name, description=queue.description))
    with uow.changing(actor=SIMULATOR, now=now, rule="simulate-world", why="the world of a simulation"):
        users = list(world.users)
        if not any(u.role == pb.default_owner_role for u in users):  # R10: a world always has its default owner
            taken = {u.id for u in users}
            admin_id = next(
                i for i in (DEFAULT_OWNER_ID, *(f"{DEFAULT_OWNER_ID}-{n}" for n in range(2, 99))) if i not in taken
            )
            users.append(UserIn(id=admin_id, name=pb.default_owner_role, role=pb.default_owner_role))
        for u in users:
            uow.add(
                User(
                    id=u.id,
                    name=u.name or u.id,
                    email=(u.email or f"{u.id}@simulate.invalid").lower(),
                    role=u.role,
                    region=u.region,
                    segment=u.segment,
                    team=u.team,
                    active=u.active,
                    out_of_office=u.out_of_office,
                    rr_weight=u.rr_weight,
                    rr_capacity_per_day=u.rr_capacity_per_day,
                    rr_capacity_per_week=u.rr_capacity_per_week,
                )
            )
        uow.session.flush()
        for u in users:
            if u.manager:
                uow.get(User, u.id).manager_id = u.manager
        for a in _parents_first(world.accounts):
            addresses = {source: address(value) for source, value in a.addresses.items()}
            if a.address is not None:
                addresses.setdefault("billing", address(a.address))
            place = next((v for v in addresses.values() if v.get("country")), {})
            uow.add(
                Account(
                    id=a.id,
                    name=a.name,
                    website=a.website,
                    domain=website_domain(a.website, extra) if a.website else None,
                    country=place.get("country"),
                    type=a.type,
                    industry=a.industry,
                    parent_id=a.parent,
                    employees_admin_override=a.employees.admin_override,
                    employees_datafox=a.employees.datafox,
                    employees_zoominfo=a.employees.zoominfo,
                    employees_linkedin=a.employees.linkedin,
                    employees_user_input=a.employees.user_input,
                    addresses=addresses,
                    owner_id=a.owner,
                    sdr_assigned_id=a.sdr_assigned,
                    bdr_assigned_id=a.bdr_assigned,
                    bdr_prospecting_status=a.bdr_prospecting_status,
                    named=a.named,
                    public_sector=a.public_sector,
                )
            )
            uow.session.flush()
        for a in world.accounts:
            if a.parent is None:
                derive.refresh_hierarchy(uow, pb, uow.get(Account, a.id), now)
        check = WorldCheck(pb, world)
        for lead in world.leads:
            status, reason = check.status(lead.status, "status")
            email = normalise_email(lead.email) if lead.email else None
            mail_domain = email_domain(email) if email else None
            site = website_domain(lead.website, extra) if lead.website else None
            corporate = site or (mail_domain if mail_domain and not is_free_mail(mail_domain, extra) else None)
            holding = pb.status(status)
            owner = lead.owner or (OwnerIn(type="queue", id=holding.queue) if holding and holding.queue else None)
            uow.add(
                Lead(
                    id=lead.id,
                    email=email,
                    first_name=lead.first_name,
                    last_name=lead.last_name,
                    company=lead.company,
                    title=lead.title,
                    website=lead.website,
                    domain=corporate,
                    country=country(lead.country),
                    state=lead.state,
                    industry=lead.industry,
                    channel=lead.channel,
                    status=status,
                    status_reason=lead.status_reason or reason,
                    mql_date=lead.mql_date,
                    score=lead.score,
                    owner_type=owner.type if owner else None,
                    owner_id=owner.id if owner else None,
                    matched_account_id=lead.matched_account,
                    bad_data_reasons=[],
                    score_parts=[],
                )
            )
        for c in world.contacts:
            status, reason = check.status(c.status, "status")
            owner_type, owner_id = (
                ("user", c.owner)
                if isinstance(c.owner, str)
                else (c.owner.type, c.owner.id)
                if c.owner
                else (None, None)
            )
            uow.add(
                Contact(
                    id=c.id,
                    email=normalise_email(c.email) if c.email else None,
                    first_name=c.first_name,
                    last_name=c.last_name,
                    title=c.title,
                    country=country(c.country),
                    account_id=c.account,
                    status=status,
                    status_reason=reason,
                    owner_type=owner_type,
                    owner_id=owner_id,
                    bad_data_reasons=[],
                )
            )
        for o in world.opportunities:
            uow.add(
                Opportunity(
                    id=o.id,
                    name=o.name or o.id,
                    account_id=o.account,
                    type=o.type,
                    stage=o.stage,
                    owner_id=o.owner,
                    sdr_id=o.sdr,
                    amount=o.amount,
                )
            )
        uow.session.flush()


# --------------------------------------------------------------------------- running it


@contextmanager
def throwaway_store() -> Iterator[Store]:
    """A fresh SQLite store in a temporary directory, removed afterwards; never the configured database."""
    with tempfile.TemporaryDirectory(prefix="leadflow-simulate-") as folder:
        store = Store(f"sqlite:///{Path(folder) / 'world.db'}")
        try:
            Base.metadata.create_all(store.engine)
            yield store
        finally:
            store.dispose()


def simulate(pb: Playbook, world_data: Any, lead_data: Any, now: dt.datetime) -> dict[str, Any]:
    """The contract's output object for LEAD taken in by WORLD at `now` under `pb`."""
    world, notes = check_world(pb, parse_world(world_data))
    lead_in = parse_simulated_lead(lead_data)
    if pb.channel(lead_in.channel) is None:
        names = ", ".join(c.name for c in pb.channels)
        raise InvalidInput(f"unknown channel '{lead_in.channel}'; channels: {names}", "channel")
    with throwaway_store() as store:
        with store.uow() as uow:
            load_world(uow, pb, world, now)
            uow.commit()
        with store.uow() as uow:
            result = intake(uow, IntakeEnv(uow, pb, shared=False), lead_in, SIMULATOR, now)
            return {**report(uow, pb, result), "world_notes": notes}


def report(uow: UnitOfWork, pb: Playbook, result: IntakeResult) -> dict[str, Any]:
    """What the intake did, in the contract's fields (plus `outcome`, `subject`, `sla_why`, `inputs`)."""
    norm = result.normalised
    subject: Lead | Contact | Account | None = None
    if result.subject_type == "lead" and result.subject_id:
        subject = uow.session.get(Lead, result.subject_id)
    elif result.subject_type == "contact" and result.subject_id:
        subject = uow.session.get(Contact, result.subject_id)
    elif result.subject_type == "account" and result.subject_id:
        subject = uow.session.get(Account, result.subject_id)
    lead = subject if isinstance(subject, Lead) else None
    person = subject if isinstance(subject, Lead | Contact) else None
    derived = result.step("derive") or {}
    routing = result.routing
    out: dict[str, Any] = {
        "lead": {
            "email": person.email if person else (norm.email if norm else None),
            "country": person.country if person else (norm.country if norm else None),
            "phone": person.phone if person else (norm.phone if norm else None),
            "domain": lead.domain if lead else (norm.domain if norm else None),
        },
        "spam": result.spam,
        "duplicate_of": result.duplicate_of,
        "matched_account": result.matched_account(),
        "segment": lead.segment if lead else (subject.segment if isinstance(subject, Account) else None),
        "region": lead.region if lead else (subject.region if isinstance(subject, Account) else None),
        "score": {
            "total": person.score if person else None,
            "source": (person.score_source if person else None),
            "parts": list(person.score_parts or []) if person else [],
        },
        "status": person.status if person else None,
        "mql": bool(derived.get("mql")) or (person is not None and person.status == pb.scoring.mql_status),
        "active": bool(derived.get("active")),
        "routed": bool(routing and routing.routed),
        "owner": _owner(person, subject),
    }
    if lead is not None and lead.converted_contact_id:  # M4: the person is now a contact of the account
        contact = uow.session.get(Contact, lead.converted_contact_id)
        out["owner"] = _owner(contact, contact)
        out["converted_to"] = {"type": "contact", "id": lead.converted_contact_id, "account": lead.converted_account_id}
    out.update(_decision(pb, result, lead))
    out["outcome"] = result.outcome
    out["subject"] = {"type": result.subject_type, "id": result.subject_id} if result.subject_id else None
    return out


def _owner(person: Lead | Contact | None, subject: Any) -> dict[str, str] | None:
    if person is not None:
        return {"type": person.owner_type, "id": person.owner_id} if person.owner_type and person.owner_id else None
    if isinstance(subject, Account) and subject.owner_id:
        return {"type": "user", "id": subject.owner_id}
    return None


def _decision(pb: Playbook, result: IntakeResult, lead: Lead | None) -> dict[str, Any]:
    """rule, trace, notify, sla_due: the routing step's, or why there was none."""
    routing = result.routing
    if routing is not None:
        return {
            "rule": routing.rule,
            "trace": [{"rule": t.rule, "matched": t.matched, "why": t.why} for t in routing.trace],
            "notify": routing.notify,
            "sla_due": _iso(routing.sla_due),
            "sla_why": routing.sla_why,
            "inputs": routing.inputs,
            "moved": routing.moved,  # R3: the company's other MQL leads that followed it to the same owner
        }
    rule, why = _not_routed(pb, result, lead)
    return {
        "rule": rule,
        "trace": [{"rule": rule, "matched": True, "why": why}],
        "notify": [],
        "sla_due": None,
        "sla_why": None,
        "inputs": {},
        "moved": [],
    }


def _not_routed(pb: Playbook, result: IntakeResult, lead: Lead | None) -> tuple[str, str]:
    """The pseudo-rule and reason of an intake that routed nothing."""
    m4 = result.step("m4")
    if lead is None:
        step = result.steps[-1] if result.steps else {}
        return f"intake:{result.outcome}", str(step.get("why") or f"{result.outcome}: no lead to route")
    if lead.spam:
        return "spam", "flagged as spam (I6): a spam lead is never routed; it waits for the SPAM DELETION job"
    if m4 is not None and m4.get("action") != "none":
        return "m4", f"M4 {m4.get('action')}: {m4.get('why') or m4.get('reason')}; a lead M4 handles is not routed"
    owner = f"{lead.owner_type}:{lead.owner_id}" if lead.owner_id else "nobody"
    return "keep-owner", (
        f"lead {lead.id} is already worked by {owner} and its score did not newly reach the routing "
        f"threshold {pb.scoring.routing_threshold}: routing is not re-run (S3)"
    )


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None
