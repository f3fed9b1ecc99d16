"""What a playbook may say: the Pydantic v2 model of the policy the engine carries out.

Every section is data that another company can rewrite. Shape errors come from Pydantic
(with their YAML path); references between sections (a transition to an unknown status, a
queue that does not exist, ...) are checked by `Playbook.reference_issues`, which returns
every problem at once so that `leadflow playbook check` can print them all.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    """Unknown keys are an error: a typo in a playbook must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Name = Annotated[str, Field(min_length=1, max_length=120)]
RuleId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]


# --------------------------------------------------------------------------- lifecycle (L1-L5)


class ReasonDef(_Strict):
    """One reason of a status's list; aliases accept older spellings on input."""

    name: Name
    aliases: list[Name] = []

    @model_validator(mode="before")
    @classmethod
    def _from_plain_string(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class StatusDef(_Strict):
    """A lead/contact status (L1), its holding queue (L2) and its reason list (L3)."""

    name: Name
    definition: str = ""
    default: bool = False
    queue: Name | None = None
    hand_to_queue: Literal["always", "never", "unless_in_active_sequence"] = "always"
    reason_required: bool | None = None
    reasons: list[ReasonDef] = []

    @property
    def needs_reason(self) -> bool:
        """A reason is required when the playbook says so, by default when it lists reasons."""
        return bool(self.reasons) if self.reason_required is None else self.reason_required


class QueueDef(_Strict):
    """A queue that can own records (L2, R10)."""

    name: Name
    description: str = ""


class TransitionDef(_Strict):
    """Allowed moves (L5): from each status in `from` to each status in `to`."""

    # `from` is a Python keyword, so the field is `from_`; only the YAML spelling is accepted.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    from_: list[Name] = Field(alias="from", min_length=1)
    to: list[Name] = Field(min_length=1)
    why: str = ""


class BadDataRuleDef(_Strict):
    """L4: when every group has at least one of its reasons on the record, move it."""

    id: RuleId
    description: str = ""
    when_each_group_present: list[list[Name]] = Field(min_length=1)
    set_status: Name
    reason: Name | None = None


class BadDataDef(_Strict):
    reasons: list[Name] = Field(min_length=1)
    rules: list[BadDataRuleDef] = []


# --------------------------------------------------------------------------- classifications (L6)


ClassificationMechanism = Literal[
    "unmatched_non_user",  # no matched account and not a product user
    "product_user",  # the person uses the product
    "hierarchy_without_type",  # matched; no account of `account_types` in the hierarchy
    "hierarchy_with_type",  # matched; some account of `account_types` in the hierarchy
    "account_has_type",  # the matched account itself is of `account_types`
    "partner_managed",  # the person (or their account) is managed by a partner
]


class ClassificationDef(_Strict):
    """One of the six tri-state lifecycle classification fields (L6)."""

    field: Name
    key: RuleId
    definition: str = ""
    mechanism: ClassificationMechanism
    account_types: list[Name] = []


# --------------------------------------------------------------------------- offboarding (L7)


class OffboardOwnerStep(_Strict):
    """One way to find a new owner; the first step that yields one wins."""

    queue: Name | None = None
    account_field: Literal["bdr_assigned", "sdr_assigned", "owner"] | None = None
    when_account: dict[str, str] = {}
    round_robin: Name | None = None
    by: Literal["region", "segment", "none"] = "none"

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> OffboardOwnerStep:
        kinds = [k for k in (self.queue, self.account_field, self.round_robin) if k]
        if len(kinds) != 1:
            raise ValueError("give exactly one of queue, account_field, round_robin")
        return self


class OffboardRuleDef(_Strict):
    """Where a departing user's lead goes, by status (L7)."""

    id: RuleId
    statuses: list[Name] = Field(min_length=1)
    mql_date: Literal["any", "before_cutoff", "on_or_after_cutoff"] = "any"
    set_status: Name | None = None
    reason: Name | None = None
    owner: list[OffboardOwnerStep] = Field(min_length=1)


class OffboardingDef(_Strict):
    mql_cutoff: dt.date | None = None
    rules: list[OffboardRuleDef] = Field(min_length=1)


# --------------------------------------------------------------------------- legacy statuses (L8)


class LegacyStatusDef(_Strict):
    """An older process's status and the status (and reason) it becomes."""

    status: Name
    reason: Name | None = None
    why: str = ""


# --------------------------------------------------------------------------- scoring (S2, S3)


class ScoringDef(_Strict):
    mql_threshold: int = Field(ge=0)
    routing_threshold: int = Field(ge=0)
    mql_status: Name | None = None
    mql_from_statuses: list[Name] = []


# --------------------------------------------------------------------------- segments (S4)


class SegmentBand(_Strict):
    name: Name
    min: int = Field(ge=0)
    max: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SegmentBand:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max {self.max} is below min {self.min}")
        return self

    def contains(self, value: int) -> bool:
        return value >= self.min and (self.max is None or value <= self.max)


class SegmentSchemeDef(_Strict):
    """One way of cutting companies into segments; bands must not overlap."""

    measure: Literal["total_employees", "potential_users"]
    source: str = ""
    bands: list[SegmentBand] = Field(min_length=1)

    @model_validator(mode="after")
    def _no_overlap(self) -> SegmentSchemeDef:
        ordered = sorted(self.bands, key=lambda b: b.min)
        for low, high in zip(ordered, ordered[1:], strict=False):
            if low.max is None or low.max >= high.min:
                raise ValueError(f"bands {low.name} and {high.name} overlap")
        return self


class SegmentationDef(_Strict):
    scheme: Name
    unknown: Name = "Unknown"
    schemes: dict[Name, SegmentSchemeDef] = Field(min_length=1)

    @property
    def active(self) -> SegmentSchemeDef:
        return self.schemes[self.scheme]

    def names(self) -> list[str]:
        """Every segment name any scheme can give, plus Unknown, largest first."""
        seen: dict[str, int] = {}
        for scheme in self.schemes.values():
            for band in scheme.bands:
                seen[band.name] = max(seen.get(band.name, 0), band.min)
        return [*sorted(seen, key=lambda n: -seen[n]), self.unknown]


# --------------------------------------------------------------------------- regions (S8)


class RegionDef(_Strict):
    """A sales region: whole countries and/or subdivisions (states, provinces) of countries."""

    name: Name
    description: str = ""
    countries: list[Name] = []
    subdivisions: dict[Name, list[Name]] = {}
    legacy: bool = False


class CountryAliasesDef(_Strict):
    """The master country list is ISO 3166 (pycountry); these extra spellings map onto it."""

    aliases: dict[Name, Name] = {}


# --------------------------------------------------------------------------- channels (I1)


ChannelHandling = Literal["lead", "purchase", "subscription", "forward", "usage_ping"]


class ChannelDef(_Strict):
    """A named intake channel and how it is handled (I1)."""

    name: RuleId
    label: Name
    handling: ChannelHandling = "lead"
    initial_source: Name
    sets_status: Name | None = None
    subscribes_to: list[Name] = []
    forward_to: str | None = None
    trial_days: int | None = Field(default=None, ge=1)
    hand_raising: bool = False
    source: str = ""

    @model_validator(mode="after")
    def _handling_has_its_data(self) -> ChannelDef:
        if self.handling == "forward" and not self.forward_to:
            raise ValueError("a forward channel needs forward_to")
        if self.handling == "subscription" and not self.subscribes_to:
            raise ValueError("a subscription channel needs subscribes_to")
        return self


# --------------------------------------------------------------------------- whole playbook


class Playbook(_Strict):
    """A company's whole lead process as data."""

    name: Name
    version: int = Field(ge=1)
    description: str = ""
    statuses: list[StatusDef] = Field(min_length=1)
    queues: list[QueueDef] = Field(min_length=1)
    transitions: list[TransitionDef] = Field(min_length=1)
    bad_data: BadDataDef | None = None
    classifications: list[ClassificationDef] = []
    offboarding: OffboardingDef | None = None
    legacy_statuses: dict[Name, LegacyStatusDef] = {}
    scoring: ScoringDef
    segmentation: SegmentationDef
    regions: list[RegionDef] = Field(min_length=1)
    countries: CountryAliasesDef = CountryAliasesDef()
    channels: list[ChannelDef] = Field(min_length=1)
    account_types: list[Name] = Field(min_length=1)
    default_owner_role: Name = "Sales Admin"

    @field_validator("statuses")
    @classmethod
    def _one_default(cls, statuses: list[StatusDef]) -> list[StatusDef]:
        defaults = [s.name for s in statuses if s.default]
        if len(defaults) != 1:
            raise ValueError(f"exactly one status must be default: true (found {len(defaults)})")
        return statuses

    # ---- lookups used by the engine (cheap; the playbook is frozen)

    def status(self, name: str) -> StatusDef | None:
        """The status named `name` (case-insensitive), or None."""
        key = name.strip().casefold()
        return next((s for s in self.statuses if s.name.casefold() == key), None)

    @property
    def default_status(self) -> StatusDef:
        return next(s for s in self.statuses if s.default)

    def status_names(self) -> list[str]:
        return [s.name for s in self.statuses]

    def queue_names(self) -> list[str]:
        return [q.name for q in self.queues]

    def region_names(self) -> list[str]:
        return [r.name for r in self.regions]

    def channel(self, name: str) -> ChannelDef | None:
        return next((c for c in self.channels if c.name == name), None)

    def allowed_targets(self, from_status: str) -> list[str]:
        """Statuses reachable in one step from `from_status` (L5)."""
        out: list[str] = []
        for t in self.transitions:
            if from_status in t.from_:
                out.extend(s for s in t.to if s not in out)
        return out

    def reason_names(self, status: str) -> list[str]:
        found = self.status(status)
        return [r.name for r in found.reasons] if found else []

    def all_reasons(self) -> set[str]:
        return {r.name for s in self.statuses for r in s.reasons}

    # ---- references between sections

    def reference_issues(self) -> list[tuple[str, str]]:
        """Every (yaml path, reason) where one section names something another lacks."""
        from leadflow.playbook.references import find_reference_issues

        return find_reference_issues(self)
