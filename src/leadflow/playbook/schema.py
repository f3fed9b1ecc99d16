"""What a playbook may say: the Pydantic v2 model of the policy the engine carries out.

Every section is data that another company can rewrite. Shape errors come from Pydantic
(with their YAML path); references between sections (a transition to an unknown status, a
queue that does not exist, ...) are checked by `Playbook.reference_issues`, which returns
every problem at once so that `leadflow playbook check` can print them all.
"""

from __future__ import annotations

import datetime as dt
import re
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


# --------------------------------------------------------------------------- intake (I1-I8, M4)


class IntakeDef(_Strict):
    """How the one intake pipeline treats what arrives (I1-I8) and M4."""

    lead_status: Name = "Inquiry"
    required_any_of: list[list[Name]] = [["email"], ["last_name", "company"]]
    free_mail_domains_extra: list[Name] = []
    spam_campaign: Name = "SPAM DELETION"
    trial_max_days: int = Field(default=90, ge=1)
    purchase_account_type: Name = "Customer"
    purchase_upgrades_types: list[Name] = ["Prospect", "Prospect - CE User", "Former Customer"]
    usage_ping_account_type: Name = "Prospect - CE User"
    usage_ping_account_source: Name = "CE Download"
    adoption_alert_user: Name | None = None
    customer_convert_types: list[Name] = ["Customer"]
    customer_convert_segments: list[Name] = ["SMB"]
    open_opportunity_status: Name | None = None
    open_opportunity_reason: Name | None = None
    closed_stages: list[Name] = []


# --------------------------------------------------------------------------- duplicates (M1)


DuplicateRuleKind = Literal[
    "same_email",  # the same address, case and spelling normalised
    "same_domain_last_name",  # same corporate domain, last name (typos allowed), compatible first name
    "same_phone_last_name",  # same E.164 number, last name (typos allowed), compatible first name
    "similar_name_company",  # similar full name (any order) at a similar company
]

# Which optional parameters each kind reads: giving another kind's parameter is a mistake to report.
_DUPLICATE_RULE_PARAMS: dict[str, frozenset[str]] = {
    "same_email": frozenset(),
    "same_domain_last_name": frozenset({"min_last_name_similarity"}),
    "same_phone_last_name": frozenset({"min_last_name_similarity"}),
    "similar_name_company": frozenset({"min_last_name_similarity", "min_name_similarity", "min_company_similarity"}),
}


class DuplicateRuleDef(_Strict):
    """One way two people can be the same person (M1); `score` is what a perfect agreement is worth."""

    id: RuleId
    kind: DuplicateRuleKind
    score: float = Field(ge=0, le=1)
    description: str = ""
    min_last_name_similarity: float = Field(default=0.9, ge=0, le=1)
    min_name_similarity: float = Field(default=0.88, ge=0, le=1)
    min_company_similarity: float = Field(default=0.9, ge=0, le=1)

    @model_validator(mode="after")
    def _only_its_own_parameters(self) -> DuplicateRuleDef:
        tunable = {"min_last_name_similarity", "min_name_similarity", "min_company_similarity"}
        foreign = sorted((self.model_fields_set & tunable) - _DUPLICATE_RULE_PARAMS[self.kind])
        if foreign:
            raise ValueError(f"a {self.kind} rule does not use {', '.join(foreign)}")
        return self


class FirstNameAgreementDef(_Strict):
    """What each way two first names can agree multiplies a rule's score by; other names never agree."""

    min_similarity: float = Field(default=0.88, ge=0, le=1)  # Jaro-Winkler of the folded names: a typo
    nickname: float = Field(default=0.95, ge=0, le=1)  # "Bill" / "William"
    initial: float = Field(default=0.9, ge=0, le=1)  # "J." / "John"
    missing: float = Field(default=0.85, ge=0, le=1)  # one side has no first name


class DuplicatesDef(_Strict):
    """Duplicate search across leads and contacts (M1): the rules, in order, and the thresholds."""

    threshold: float = Field(ge=0, le=1)
    min_score: float = Field(default=0.5, ge=0, le=1)
    first_name: FirstNameAgreementDef = FirstNameAgreementDef()
    nicknames: dict[Name, list[Name]] = {}
    rules: list[DuplicateRuleDef] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> DuplicatesDef:
        if self.min_score > self.threshold:
            raise ValueError(f"min_score {self.min_score} is above threshold {self.threshold}")
        ids = [r.id for r in self.rules]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"rule ids listed twice: {', '.join(twice)}")
        return self


# --------------------------------------------------------------------------- spam (I6)


SpamCheck = Literal[
    "disposable_domain",  # the email domain, or a domain it is under, is a temporary-address service
    "fields_equal",  # every listed field is filled in and all say the same ("test", "test", "test")
    "field_matches",  # the listed fields match `pattern` (a regular expression, case-insensitive)
    "no_letters",  # a filled-in field has no letter of any script ("12345", "...")
    "keyboard_mash",  # a word typed along a keyboard row ("asdf", "qwerty") or a short chunk repeated ("xxx")
    "phone_invalid",  # a phone is given but is no valid number for the lead's country
]
SpamField = Literal["email", "first_name", "last_name", "company", "title", "phone", "website"]

# Which parameters each check reads: giving another check's parameter is a mistake to report.
_SPAM_CHECK_PARAMS: dict[str, frozenset[str]] = {
    "disposable_domain": frozenset(),
    "fields_equal": frozenset({"fields"}),
    "field_matches": frozenset({"fields", "pattern", "match"}),
    "no_letters": frozenset({"fields", "match"}),
    "keyboard_mash": frozenset({"fields", "match"}),
    "phone_invalid": frozenset(),
}
_SPAM_CHECK_NEEDS: dict[str, frozenset[str]] = {
    "fields_equal": frozenset({"fields"}),
    "field_matches": frozenset({"fields", "pattern"}),
    "no_letters": frozenset({"fields"}),
    "keyboard_mash": frozenset({"fields"}),
}


class SpamRuleDef(_Strict):
    """One sign of spam (I6). `spam` puts the lead in SPAM DELETION; `suspect` only records the reason."""

    id: RuleId
    check: SpamCheck
    severity: Literal["spam", "suspect"]
    description: str = ""
    fields: list[SpamField] = []
    pattern: str | None = None
    match: Literal["any", "all"] = "any"  # fire when any filled-in field shows it, or only when all do

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern

    @model_validator(mode="after")
    def _parameters_fit_check(self) -> SpamRuleDef:
        given = self.model_fields_set & {"fields", "pattern", "match"}
        foreign = sorted(given - _SPAM_CHECK_PARAMS[self.check])
        if foreign:
            raise ValueError(f"a {self.check} rule does not use {', '.join(foreign)}")
        missing = sorted(_SPAM_CHECK_NEEDS.get(self.check, frozenset()) - given)
        if missing:
            raise ValueError(f"a {self.check} rule needs {', '.join(missing)}")
        if self.check == "fields_equal" and len(set(self.fields)) < 2:
            raise ValueError("a fields_equal rule compares at least two different fields")
        return self


def _spam_domain(entry: str) -> str:
    domain = entry.strip().lower().rstrip(".")
    if "." not in domain or domain.startswith(".") or any(c.isspace() or c in "@/:" for c in domain):
        raise ValueError(f"'{entry}' is not a domain (write it as example.com)")
    return domain


class SpamDef(_Strict):
    """I6: temporary-address domains beyond the maintained list, domains wrongly listed there, the
    domain block list, and the ordered signs of forged or incoherent data."""

    disposable_domains_extra: list[str] = []
    allow_domains: list[str] = []  # never temporary, even if the maintained list says so
    blocked_domains: list[str] = []  # new leads from these domains (and their subdomains) are refused
    rules: list[SpamRuleDef] = []

    @field_validator("disposable_domains_extra", "allow_domains", "blocked_domains")
    @classmethod
    def _domains(cls, entries: list[str]) -> list[str]:
        domains = [_spam_domain(e) for e in entries]
        twice = sorted({d for d in domains if domains.count(d) > 1})
        if twice:
            raise ValueError(f"listed twice: {', '.join(twice)}")
        return domains

    @model_validator(mode="after")
    def _consistent(self) -> SpamDef:
        ids = [r.id for r in self.rules]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"rule ids listed twice: {', '.join(twice)}")
        both = sorted(set(self.disposable_domains_extra) & set(self.allow_domains))
        if both:
            raise ValueError(f"both temporary and allowed: {', '.join(both)}")
        if (self.disposable_domains_extra or self.allow_domains) and not any(
            r.check == "disposable_domain" for r in self.rules
        ):
            raise ValueError("disposable_domains_extra / allow_domains given, but no disposable_domain rule reads them")
        return self


# --------------------------------------------------------------------------- merge (M3)

MergeChoice = Literal["newest_non_empty", "oldest_non_empty", "survivor", "max", "union", "any_true", "oldest"]


class MergeDef(_Strict):
    """Which value survives a merge, field by field (M3); every choice is written to history."""

    default: MergeChoice = "newest_non_empty"
    fields: dict[Name, MergeChoice] = {}


# --------------------------------------------------------------------------- jobs (W8)


class JobDef(_Strict):
    """A named, scheduled job: when it runs, in which time zone, how often."""

    name: RuleId
    description: str = ""
    at: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    timezone: Name
    every: Literal["day", "hour"] = "day"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value


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
    duplicates: DuplicatesDef | None = None
    intake: IntakeDef = IntakeDef()
    jobs: list[JobDef] = []
    merge: MergeDef = MergeDef()
    spam: SpamDef | None = None

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
