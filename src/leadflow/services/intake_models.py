"""What every intake channel accepts (I1): one validated payload, refused whole when bad."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadflow.errors import InvalidInput


def _no_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL (0x00): refuse it here, naming the field, not fail at the database."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("may not contain a NUL (0x00) character")
    return value


class ActivityIn(BaseModel):
    """A touch the person made (page visit, trial, webcast, ...), with its time."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1, max_length=60)
    at: dt.datetime

    _nul = field_validator("type", mode="before")(_no_nul)

    @field_validator("at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone (e.g. 2026-03-02T14:55:00Z)")
        return value.astimezone(dt.UTC)


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    street: str | None = Field(default=None, max_length=300)
    city: str | None = Field(default=None, max_length=120)
    zip: str | None = Field(default=None, max_length=20)
    state: str | None = Field(default=None, max_length=80)
    country: str | None = Field(default=None, max_length=80)

    _nul = field_validator("*", mode="before")(_no_nul)


class UsageIn(BaseModel):
    """A CE usage ping's instance report (I8)."""

    model_config = ConfigDict(extra="ignore")

    active_users: int | None = Field(default=None, ge=0)
    instances: int | None = Field(default=None, ge=0)
    employees: int | None = Field(default=None, ge=0)
    industry: str | None = Field(default=None, max_length=120)
    billing: AddressIn | None = None

    _nul = field_validator("industry", mode="before")(_no_nul)


class LeadIn(BaseModel):
    """A person arriving on a channel: the LEAD.json of the simulate contract, plus import fields."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    channel: str = Field(min_length=1, max_length=60)
    email: str | None = Field(default=None, max_length=320)
    first_name: str | None = Field(default=None, max_length=120)
    last_name: str | None = Field(default=None, max_length=120)
    company: str | None = Field(default=None, max_length=300)
    title: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    website: str | None = Field(default=None, max_length=500)
    country: str | None = Field(default=None, max_length=80)
    state: str | None = Field(default=None, max_length=80)
    industry: str | None = Field(default=None, max_length=120)
    employees: int | None = Field(default=None, ge=0)
    developers_bucket: str | None = Field(default=None, max_length=20)
    how_many_developers: int | None = Field(default=None, ge=0)
    score: int | None = Field(default=None, ge=-10_000, le=10_000)
    activities: list[ActivityIn] = []
    status: str | None = Field(default=None, max_length=60)
    status_reason: str | None = Field(default=None, max_length=120)
    trial_days: int | None = Field(default=None, ge=1, le=365)
    delivery_id: str | None = Field(default=None, max_length=200)
    usage: UsageIn | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else _no_nul(value)


def parse_lead(data: Any) -> LeadIn:
    """Validate a payload; the first problem becomes an InvalidInput naming its field."""
    if not isinstance(data, dict):
        raise InvalidInput("a lead is a JSON object", "(body)")
    try:
        return LeadIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(body)"
        raise InvalidInput(first["msg"], field) from None
