"""The records of D1-D6 as SQLAlchemy 2 tables; history and outbox are written by the UoW."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which has no zones) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def new_id(prefix: str) -> str:
    """A short, readable, unique id such as `ld_4f1c2a9b0e7d`."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime, dict[str, Any]: JSON}


class Tracked:
    """A record whose every change is kept as field history (D5)."""

    __entity__: ClassVar[str]
    __id_prefix__: ClassVar[str]
    __history_exclude__: ClassVar[frozenset[str]] = frozenset({"updated_at", "created_at", "derivations"})
    # Columns the unit of work derives from others (store/uow.py): never history, never chosen by a merge.
    __derived__: ClassVar[frozenset[str]] = frozenset()

    if TYPE_CHECKING:
        id: Mapped[str]

    created_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]


# --------------------------------------------------------------------------- people and queues


class User(Tracked, Base):
    """A member of the go-to-market team (D2)."""

    __tablename__ = "users"
    __entity__ = "user"
    __id_prefix__ = "usr"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(40))
    region: Mapped[str | None] = mapped_column(String(80))
    segment: Mapped[str | None] = mapped_column(String(40))
    team: Mapped[str | None] = mapped_column(String(120))
    manager_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    out_of_office: Mapped[bool] = mapped_column(Boolean, default=False)
    rr_weight: Mapped[int] = mapped_column(Integer, default=1)
    rr_capacity_per_day: Mapped[int | None] = mapped_column(Integer)
    rr_capacity_per_week: Mapped[int | None] = mapped_column(Integer)
    manager: Mapped[User | None] = relationship(remote_side="User.id", foreign_keys=[manager_id])


class Queue(Base):
    """A queue that owns records nobody works (L2, R10); its id is its name."""

    __tablename__ = "queues"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------- accounts


class Account(Tracked, Base):
    """A company (D3), with per-source employee counts and addresses."""

    __tablename__ = "accounts"
    __entity__ = "account"
    __id_prefix__ = "acc"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    website: Mapped[str | None] = mapped_column(String(500))
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    country: Mapped[str | None] = mapped_column(String(80))
    type: Mapped[str] = mapped_column(String(60))
    industry: Mapped[str | None] = mapped_column(String(120))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    employees_admin_override: Mapped[int | None] = mapped_column(Integer)
    # S9: set with the override by the segment review's Q1 apply job; from this day the override counts
    employees_admin_override_from: Mapped[dt.date | None] = mapped_column(Date)
    employees_datafox: Mapped[int | None] = mapped_column(Integer)
    employees_zoominfo: Mapped[int | None] = mapped_column(Integer)
    employees_linkedin: Mapped[int | None] = mapped_column(Integer)
    employees_user_input: Mapped[int | None] = mapped_column(Integer)
    employees_user_input_source_url: Mapped[str | None] = mapped_column(String(1000))
    how_many_developers: Mapped[int | None] = mapped_column(Integer)
    it_tedd_employees: Mapped[int | None] = mapped_column(Integer)
    number_of_licenses: Mapped[int | None] = mapped_column(Integer)
    potential_ee_users_override: Mapped[int | None] = mapped_column(Integer)
    # {"admin_override": {"country": ..., "state": ..., "city": ...}, "datafox": {...}, ...}
    addresses: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    sdr_assigned_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    bdr_assigned_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    bdr_prospecting_status: Mapped[str | None] = mapped_column(String(60))
    named: Mapped[bool] = mapped_column(Boolean, default=False)
    public_sector: Mapped[bool] = mapped_column(Boolean, default=False)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    compliance_status: Mapped[str | None] = mapped_column(String(20))
    executive_sponsor: Mapped[str | None] = mapped_column(String(200))
    using_ce: Mapped[bool] = mapped_column(Boolean, default=False)
    active_ce_users: Mapped[int | None] = mapped_column(Integer)
    ce_instances: Mapped[int | None] = mapped_column(Integer)
    account_source: Mapped[str | None] = mapped_column(String(80))
    partner_managed: Mapped[bool | None] = mapped_column(Boolean)
    segment: Mapped[str | None] = mapped_column(String(40))
    parent_segment: Mapped[str | None] = mapped_column(String(40))
    region: Mapped[str | None] = mapped_column(String(80))
    derivations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    parent: Mapped[Account | None] = relationship(remote_side="Account.id", foreign_keys=[parent_id])
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    sdr_assigned: Mapped[User | None] = relationship(foreign_keys=[sdr_assigned_id])
    bdr_assigned: Mapped[User | None] = relationship(foreign_keys=[bdr_assigned_id])


# --------------------------------------------------------------------------- people records


PERSON_DERIVED = frozenset({"first_initial", "last_initial", "email_key", "phone_key"})  # see PersonFields


class PersonFields:
    """Fields a lead and a contact share (D4)."""

    first_name: Mapped[str | None] = mapped_column(String(120))
    last_name: Mapped[str | None] = mapped_column(String(120))
    # The first letter of each name, folded (`domain.duplicates.name_initial`): the duplicate search reads
    # a common last name or a big company's domain through them (M1). Set by the unit of work whenever a
    # name is written; not history (derived).
    first_initial: Mapped[str | None] = mapped_column(String(8))
    last_initial: Mapped[str | None] = mapped_column(String(8))
    email: Mapped[str | None] = mapped_column(String(320))  # indexed below, with created_at (I7, M1)
    phone: Mapped[str | None] = mapped_column(String(40))  # a duplicate key (M1), indexed as email
    # The address and the number as the duplicate search compares them (`domain.normalise.email_key`,
    # `phone_key`: normalised, with the country the number was read in), so a stored candidate is not
    # checked again by email-validator and phonenumbers each time a search reads it (M1). Set by the unit
    # of work whenever the address, the number or the country is written; not history (derived).
    email_key: Mapped[str | None] = mapped_column(String(320))
    phone_key: Mapped[str | None] = mapped_column(String(48))
    title: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(80))
    state: Mapped[str | None] = mapped_column(String(80))
    initial_source: Mapped[str | None] = mapped_column(String(120))
    initial_source_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(60), index=True)
    status_reason: Mapped[str | None] = mapped_column(String(120))
    bad_data_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    score: Mapped[int] = mapped_column(Integer, default=0)
    score_parts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    score_source: Mapped[str | None] = mapped_column(String(20))
    mql_date: Mapped[dt.datetime | None]
    owner_type: Mapped[str | None] = mapped_column(String(10))
    owner_id: Mapped[str | None] = mapped_column(String(120), index=True)
    lc_unknown: Mapped[str] = mapped_column(String(5), default="-")
    lc_user: Mapped[str] = mapped_column(String(5), default="-")
    lc_prospect_hierarchy: Mapped[str] = mapped_column(String(5), default="-")
    lc_customer_hierarchy_account: Mapped[str] = mapped_column(String(5), default="-")
    lc_former_customer_account: Mapped[str] = mapped_column(String(5), default="-")
    lc_partner_managed: Mapped[str] = mapped_column(String(5), default="-")
    product_user: Mapped[bool | None] = mapped_column(Boolean)
    partner_managed: Mapped[bool | None] = mapped_column(Boolean)
    last_interesting_moment: Mapped[str | None] = mapped_column(String(300))
    last_interesting_moment_at: Mapped[dt.datetime | None]
    active_until: Mapped[dt.datetime | None]
    high_priority: Mapped[bool] = mapped_column(Boolean, default=False)
    opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opt_out_until: Mapped[dt.datetime | None]
    inactive: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_due_at: Mapped[dt.datetime | None]
    sla_first_response_at: Mapped[dt.datetime | None]
    sla_breached_at: Mapped[dt.datetime | None]
    merged_into_id: Mapped[str | None] = mapped_column(String(64))
    merged_into_type: Mapped[str | None] = mapped_column(String(10))
    spam: Mapped[bool] = mapped_column(Boolean, default=False)
    spam_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    duplicate_candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    trial_started_at: Mapped[dt.datetime | None]
    trial_ends_at: Mapped[dt.datetime | None]
    not_to_engage: Mapped[bool] = mapped_column(Boolean, default=False)
    route_requested_at: Mapped[dt.datetime | None]
    # Soft-BANT answers (S11): {"budget": true|false|null, "authority": ..., "need": ..., "timeline": ...}
    bant: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ready_to_pass: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why each derived figure is what it is (segment, region, active, ...): shown by `explain`.
    derivations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Lead(PersonFields, Tracked, Base):
    """A person not yet converted (D4)."""

    __tablename__ = "leads"
    __derived__ = PERSON_DERIVED | {"company_key"}
    __history_exclude__ = Tracked.__history_exclude__ | __derived__
    __entity__ = "lead"
    __id_prefix__ = "ld"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    company: Mapped[str | None] = mapped_column(String(300))
    # The company name normalised (legal forms, accents, "&"/"and" folded): the same-company lookup's
    # key (R3). Set by the unit of work whenever `company` is written; not history (it is derived).
    company_key: Mapped[str | None] = mapped_column(String(300))  # indexed below, in R3's order
    website: Mapped[str | None] = mapped_column(String(500))
    domain: Mapped[str | None] = mapped_column(String(255))  # indexed below, with created_at (M1)
    industry: Mapped[str | None] = mapped_column(String(120))
    channel: Mapped[str | None] = mapped_column(String(60))
    developers_bucket: Mapped[str | None] = mapped_column(String(20))
    how_many_developers: Mapped[int | None] = mapped_column(Integer)
    employees: Mapped[int | None] = mapped_column(Integer)
    segment: Mapped[str | None] = mapped_column(String(40))
    region: Mapped[str | None] = mapped_column(String(80))
    matched_account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    match_confidence: Mapped[float | None] = mapped_column(Numeric(4, 3, asdecimal=False))
    match_evidence: Mapped[str | None] = mapped_column(Text)
    matched_at: Mapped[dt.datetime | None]
    converted_contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"))
    converted_account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"))
    converted_opportunity_id: Mapped[str | None] = mapped_column(ForeignKey("opportunities.id"))
    converted_at: Mapped[dt.datetime | None]
    matched_account: Mapped[Account | None] = relationship(foreign_keys=[matched_account_id])
    converted_contact: Mapped[Contact | None] = relationship(foreign_keys=[converted_contact_id])
    converted_account: Mapped[Account | None] = relationship(foreign_keys=[converted_account_id])
    converted_opportunity: Mapped[Opportunity | None] = relationship(foreign_keys=[converted_opportunity_id])


class Contact(PersonFields, Tracked, Base):
    """A person on an account (D4)."""

    __tablename__ = "contacts"
    __derived__ = PERSON_DERIVED
    __history_exclude__ = Tracked.__history_exclude__ | __derived__
    __entity__ = "contact"
    __id_prefix__ = "ct"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    account: Mapped[Account | None] = relationship(foreign_keys=[account_id])


# --------------------------------------------------------------------------- opportunities


class Opportunity(Tracked, Base):
    """A deal on an account (O1-O10)."""

    __tablename__ = "opportunities"
    __entity__ = "opportunity"
    __id_prefix__ = "opp"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    type: Mapped[str] = mapped_column(String(40))
    stage: Mapped[str] = mapped_column(String(40))
    amount: Mapped[float | None] = mapped_column(Numeric(14, 2, asdecimal=False))
    iacv: Mapped[float | None] = mapped_column(Numeric(14, 2, asdecimal=False))
    initial_iacv: Mapped[float | None] = mapped_column(Numeric(14, 2, asdecimal=False))
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    sdr_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    close_date: Mapped[dt.date | None] = mapped_column(Date)
    sales_accepted_date: Mapped[dt.datetime | None]
    sales_qualified: Mapped[bool] = mapped_column(Boolean, default=False)
    sales_qualified_date: Mapped[dt.datetime | None]
    sales_qualified_source: Mapped[str | None] = mapped_column(String(40))
    parent_opportunity_id: Mapped[str | None] = mapped_column(ForeignKey("opportunities.id"))
    primary_contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"))
    closed_at: Mapped[dt.datetime | None]
    account: Mapped[Account] = relationship(foreign_keys=[account_id])
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    sdr: Mapped[User | None] = relationship(foreign_keys=[sdr_id])
    parent_opportunity: Mapped[Opportunity | None] = relationship(
        remote_side="Opportunity.id", foreign_keys=[parent_opportunity_id]
    )
    primary_contact: Mapped[Contact | None] = relationship(foreign_keys=[primary_contact_id])


# --------------------------------------------------------------------------- activity and work


class Activity(Base):
    """Something a person did or that was done to them (page visit, trial, call, email)."""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_subject", "subject_type", "subject_id", "at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("act"))
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(60))
    at: Mapped[dt.datetime]
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor_id: Mapped[str | None] = mapped_column(String(64))


class Campaign(Base):
    """A marketing campaign, including operational ones like SPAM DELETION (I6)."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("cmp"))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(60), default="Other")
    status: Mapped[str] = mapped_column(String(40), default="Active")
    created_at: Mapped[dt.datetime | None]


class CampaignMember(Base):
    """A lead or contact on a campaign."""

    __tablename__ = "campaign_members"
    __table_args__ = (UniqueConstraint("campaign_id", "subject_type", "subject_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("cm"))
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(40), default="Member")
    added_at: Mapped[dt.datetime]
    campaign: Mapped[Campaign] = relationship()


class Sequence(Base):
    """An Outreach-style cadence (W1)."""

    __tablename__ = "sequences"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("seq"))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SequenceEnrollment(Base):
    """A lead or contact in a sequence (W1)."""

    __tablename__ = "sequence_enrollments"
    __table_args__ = (Index("ix_enrollments_subject", "subject_type", "subject_id", "state"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("enr"))
    sequence_id: Mapped[str] = mapped_column(ForeignKey("sequences.id"))
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(20), default="active")
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    enrolled_at: Mapped[dt.datetime]
    replied_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    sequence: Mapped[Sequence] = relationship()
    owner: Mapped[User | None] = relationship()


class Task(Base):
    """A to-do or meeting on a lead or contact (W5)."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("tsk"))
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20), default="task")
    subject: Mapped[str] = mapped_column(String(300))
    due_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="open")
    completed_at: Mapped[dt.datetime | None]
    owner: Mapped[User | None] = relationship()


# --------------------------------------------------------------------------- history and outbox


class FieldHistory(Base):
    """One field of one record changed: who or which rule, old -> new, when, why (D5)."""

    __tablename__ = "field_history"
    __table_args__ = (Index("ix_field_history_entity", "entity_type", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    change_id: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(80))
    old_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    changed_at: Mapped[dt.datetime]
    actor_type: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[str] = mapped_column(String(120))
    rule: Mapped[str | None] = mapped_column(String(120))
    why: Mapped[str | None] = mapped_column(Text)


class OutboxEvent(Base):
    """A notification or webhook waiting to go out, written with the change that caused it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_type: Mapped[str] = mapped_column(String(80), index=True)
    entity_type: Mapped[str | None] = mapped_column(String(20))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    change_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    available_at: Mapped[dt.datetime]
    delivered_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Intake(Base):
    """One touch received on a channel, with every pipeline step's outcome (I1, I2, I3)."""

    __tablename__ = "intakes"
    __table_args__ = (Index("ix_intakes_subject", "subject_type", "subject_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("in"))
    channel: Mapped[str] = mapped_column(String(60))
    received_at: Mapped[dt.datetime]
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    actor_id: Mapped[str] = mapped_column(String(120))
    outcome: Mapped[str] = mapped_column(String(30))
    subject_type: Mapped[str | None] = mapped_column(String(10))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Subscription(Base):
    """A person on a mailing list (newsletter, security notices) (I1, W6)."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("email", "list_name"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("sub"))
    email: Mapped[str] = mapped_column(String(320))
    list_name: Mapped[str] = mapped_column(String(80))
    subject_type: Mapped[str | None] = mapped_column(String(10))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    subscribed_at: Mapped[dt.datetime]
    unsubscribed_at: Mapped[dt.datetime | None]


class BlockedDomain(Base):
    """A domain whose new leads are refused (I6)."""

    __tablename__ = "blocked_domains"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    blocked_at: Mapped[dt.datetime]
    blocked_by: Mapped[str] = mapped_column(String(120))


class Tombstone(Base):
    """What is left of a permanently deleted record: no personal data (I6)."""

    __tablename__ = "tombstones"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    deleted_at: Mapped[dt.datetime]
    rule: Mapped[str] = mapped_column(String(120))
    job_run_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))


class JobRun(Base):
    """One run of a named job for one period: what makes a job idempotent (W8)."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PlaybookVersion(Base):
    """A playbook loaded into this database; the newest active one is in force."""

    __tablename__ = "playbooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[dt.datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # who stored this version and when it last took effect (API: playbook activate / restore)
    author: Mapped[str | None] = mapped_column(String(120))
    activated_at: Mapped[dt.datetime | None]


class Meta(Base):
    """Small facts about this database (e.g. whether the demo organisation was added)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RoutingDecision(Base):
    """One routing decision (R1): the rule that decided, every rule checked with why, the inputs seen,
    who was notified and the SLA it set (W3). The answer to "why did this lead go to Ana?"."""

    __tablename__ = "routing_decisions"
    __table_args__ = (
        Index("ix_routing_decisions_lead", "lead_id", "decided_at"),
        Index("ix_routing_decisions_owner", "owner_type", "owner_id", "decided_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime]
    playbook: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(80))
    routed: Mapped[bool] = mapped_column(Boolean, default=True)
    assign_kind: Mapped[str] = mapped_column(String(20))  # user, queue, pool, default_owner, keep
    pool_id: Mapped[str | None] = mapped_column(String(80))
    pool_key: Mapped[str | None] = mapped_column(String(120))
    owner_type: Mapped[str | None] = mapped_column(String(10))
    owner_id: Mapped[str | None] = mapped_column(String(120))
    why: Mapped[str | None] = mapped_column(Text)
    trace: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notify: Mapped[list[str]] = mapped_column(JSON, default=list)
    round_robin: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sla_business_days: Mapped[int | None] = mapped_column(Integer)
    sla_due_at: Mapped[dt.datetime | None]
    sla_why: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[str] = mapped_column(String(120))
    change_id: Mapped[str | None] = mapped_column(String(64))


class RoundRobinCredit(Base):
    """A pool member's smooth-round-robin credit (R9) for one pool and key (the region; '' for none).
    The rows of a pool are locked (SELECT ... FOR UPDATE) while a turn is given, so no two workers
    give the same turn."""

    __tablename__ = "round_robin_credits"

    pool_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    pool_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    credit: Mapped[int] = mapped_column(Integer, default=0)
    assigned_total: Mapped[int] = mapped_column(Integer, default=0)
    last_assigned_at: Mapped[dt.datetime | None]


class SegmentReview(Base):
    """A request to the sales segment review (S9): an employee count or a global HQ address, with its
    source; Sales Ops decides it in the review quarter and an accepted one applies at the start of Q1."""

    __tablename__ = "segment_reviews"
    __table_args__ = (Index("ix_segment_reviews_due", "status", "applies_on"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("rv"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # employee_count | hq_address
    employee_count: Mapped[int | None] = mapped_column(Integer)
    hq_country: Mapped[str | None] = mapped_column(String(80))
    hq_state: Mapped[str | None] = mapped_column(String(80))
    hq_postal_code: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(1000))  # the URL where the figure or address was found
    submitted_by: Mapped[str] = mapped_column(String(120))
    submitted_at: Mapped[dt.datetime]
    # submitted | accepted | rejected | applied | superseded
    status: Mapped[str] = mapped_column(String(20), default="submitted")
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[dt.datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    fiscal_year: Mapped[int] = mapped_column(Integer)  # the fiscal year whose Q1 it applies in
    applies_on: Mapped[dt.date] = mapped_column(Date)  # the first day of that Q1, in the fiscal time zone
    applied_at: Mapped[dt.datetime | None]
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what applying it changed



# --------------------------------------------------------------------------- working leads (W1, W4)


class EngagementEvent(Base):
    """One event from the sales engagement tool (W1), kept once per delivery (`event_key`), with what it did.
    A rule that waits (a sequence finished without reply: Recycle seven days later) waits here: `pending_rule`
    fires at `due_at` unless the person replied or moved on; `settled_at` says it was decided."""

    __tablename__ = "engagement_events"
    __table_args__ = (
        Index("ix_engagement_events_subject", "subject_type", "subject_id", "occurred_at"),
        Index("ix_engagement_events_pending", "settled_at", "due_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("eng"))
    event_key: Mapped[str] = mapped_column(String(300), unique=True)
    type: Mapped[str] = mapped_column(String(30))
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str] = mapped_column(String(64))
    sequence_id: Mapped[str | None] = mapped_column(String(64))
    enrollment_id: Mapped[str | None] = mapped_column(String(64))
    step: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pending_rule: Mapped[str | None] = mapped_column(String(80))
    due_at: Mapped[dt.datetime | None]
    settled_at: Mapped[dt.datetime | None]


class LeadPass(Base):
    """A qualified lead passed to a sales owner (W4): who passed it, to whom, and when the passer is reminded
    if the new owner has done nothing by then."""

    __tablename__ = "lead_passes"
    __table_args__ = (
        Index("ix_lead_passes_subject", "subject_type", "subject_id"),
        Index("ix_lead_passes_due", "reminded_at", "remind_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("pass"))
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[str] = mapped_column(String(64))
    passed_by: Mapped[str] = mapped_column(String(120))
    passed_to: Mapped[str] = mapped_column(ForeignKey("users.id"))
    passed_at: Mapped[dt.datetime]
    remind_at: Mapped[dt.datetime]
    acted_at: Mapped[dt.datetime | None]
    reminded_at: Mapped[dt.datetime | None]
    note: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------- API: authentication (P5)


class ApiToken(Base):
    """A per-user API token (P5): only its SHA-256 is kept, so it is shown once and can only be revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("tok"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(120))
    revoked_at: Mapped[dt.datetime | None]


class UserPassword(Base):
    """A user's argon2 password hash, apart from the user record so it never enters field history."""

    __tablename__ = "user_passwords"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime]


TRACKED: tuple[type[Tracked], ...] = (User, Account, Lead, Contact, Opportunity)


# The duplicate search (M1) reads each key's oldest 200 people (by created_at, id): the last name whatever
# its case, the domain, and the domain with the last name. Ordered indexes, so that a common last name or a
# big company costs 200 index entries, not a scan and a sort of every namesake or colleague.
# The broad keys (last name, domain) are read through the person's name filter (`name_filter`): the initials
# follow in the index, so the filter is checked on its entries, in the key's order.
Index("ix_leads_last_name_initials", func.lower(Lead.last_name), Lead.created_at, Lead.id, Lead.first_initial,
      Lead.last_initial)
Index("ix_contacts_last_name_initials", func.lower(Contact.last_name), Contact.created_at, Contact.id,
      Contact.first_initial, Contact.last_initial)
Index("ix_leads_domain_initials", Lead.domain, Lead.created_at, Lead.id, Lead.first_initial, Lead.last_initial)
# The same domain and last name in the same order: with the two keys alone, SQLite's planner walked the last
# name's index (in that order already) through every namesake of every company (migration 0016).
Index("ix_leads_domain_last_name", Lead.domain, func.lower(Lead.last_name), Lead.created_at, Lead.id)
# The email and the phone, too: one key's people in (created_at, id) order straight from the index, where an
# index on the key alone costs a sort per key (the batch asks for 50 keys in one statement, 3 ms on SQLite).
Index("ix_leads_email_created", Lead.email, Lead.created_at, Lead.id)
Index("ix_leads_phone_created", Lead.phone, Lead.created_at, Lead.id)
Index("ix_contacts_email_created", Contact.email, Contact.created_at, Contact.id)
Index("ix_contacts_phone_created", Contact.phone, Contact.created_at, Contact.id)
# R3's same-company leads, per domain and per company key, in its order (mql_date, created_at, id).
Index("ix_leads_domain_mql", Lead.domain, Lead.mql_date, Lead.created_at, Lead.id)
Index("ix_leads_company_key_mql", Lead.company_key, Lead.mql_date, Lead.created_at, Lead.id)


class AccountChange(Base):
    """One row per account created, changed or deleted, in commit order.

    A long-lived account index (the server's, an import's) reads the rows after the last one it saw
    and applies just those accounts, instead of reloading every account for each request.
    """

    __tablename__ = "account_changes"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[dt.datetime]


# --------------------------------------------------------------------------- webhooks (I2, R13)


class WebhookReceipt(Base):
    """One delivery received and processed (I2): written in the transaction of its result.

    The unique (source, delivery_id) makes the same delivery twice one record; its stored answer
    is what a repeat (or a retry after a lost response) gets back.
    """

    __tablename__ = "webhook_receipts"
    __table_args__ = (UniqueConstraint("source", "delivery_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(80))
    delivery_id: Mapped[str] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime]
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WebhookDeadLetter(Base):
    """An authentic delivery that could not be processed, kept with the reason to be replayed (I2)."""

    __tablename__ = "webhook_dead_letters"
    __table_args__ = (UniqueConstraint("source", "delivery_id"), Index("ix_webhook_dead_letters_status", "status"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("dl"))
    source: Mapped[str] = mapped_column(String(80))
    delivery_id: Mapped[str] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime]
    reason: Mapped[str] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | replayed
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    last_tried_at: Mapped[dt.datetime]
    replayed_at: Mapped[dt.datetime | None]


class WebhookSecret(Base):
    """A source's signing secret set by an operator; the previous one stays valid until `previous_until`."""

    __tablename__ = "webhook_secrets"

    source: Mapped[str] = mapped_column(String(80), primary_key=True)
    secret: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime]
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_until: Mapped[dt.datetime | None]


class WebhookSubscription(Base):
    """Someone outside who wants outbox events of some types POSTed to a URL, signed (R13)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: new_id("whs"))
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)  # exact, `prefix.*`, or `*`
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime]
    # Only events queued after the subscription was made are sent: outbox ids above this one.
    after_outbox_id: Mapped[int] = mapped_column(BigId, default=0)
    # Fan-out cursor: every event up to `settled_outbox_id` has its delivery, so passes scan above it.
    # Ids are handed out before commit, so a newest id seen (`mark`) only settles once a full scan
    # ran `settle_seconds` after it was seen: by then every transaction that took a lower id has ended.
    settled_outbox_id: Mapped[int] = mapped_column(BigId, default=0)
    mark_outbox_id: Mapped[int | None] = mapped_column(BigId)
    mark_at: Mapped[dt.datetime | None]


class WebhookDelivery(Base):
    """One outbox event for one subscription: tries, next try, outcome (R13).

    Unique per (event, subscription), and a delivered row is never claimed again, so an event
    is never sent twice to a subscriber after a success.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("outbox_id", "subscription_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(BigId, ForeignKey("outbox.id", ondelete="CASCADE"))
    subscription_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | sending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]
    delivered_at: Mapped[dt.datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------- jobs (W8)
# What the nightly jobs select by, so that they read only what changed since their previous run:
# rescore (leads changed, Active windows ended, activities new or fading) and active-until.
Index("ix_leads_updated_at", Lead.updated_at)
Index("ix_leads_active_until", Lead.active_until)
Index("ix_contacts_active_until", Contact.active_until)
Index("ix_activities_at", Activity.at)
