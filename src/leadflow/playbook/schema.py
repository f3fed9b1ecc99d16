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


def valid_regex(pattern: str | None) -> str | None:
    """A playbook regular expression, refused at load when it does not compile."""
    if pattern is not None:
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    return pattern


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
    """Thresholds (S2, S3) and the point rules (S1): `behaviour` for what a person does, `profile` for who
    they are. `mql_status` null: reaching the threshold only stamps the MQL date; `mql_from_statuses`
    empty: from any status."""

    mql_threshold: int = Field(ge=0)
    routing_threshold: int = Field(ge=0)
    mql_status: Name | None = None
    mql_from_statuses: list[Name] = []
    behaviour: list[BehaviourRuleDef] = []
    profile: list[ProfileRuleDef] = []

    @model_validator(mode="after")
    def _rule_ids_once(self) -> ScoringDef:
        ids = [r.id for r in self.behaviour] + [r.id for r in self.profile]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"rule ids listed twice: {', '.join(twice)}")
        return self


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


EmployeeSource = Literal["admin_override", "datafox", "zoominfo", "linkedin", "user_input"]


class EmployeeSourceDef(_Strict):
    """One data source of an account's Total Employee count (S6), in priority order."""

    source: EmployeeSource
    only_during_review: bool = False  # 003: admins override "only during the sales segment review"

    @model_validator(mode="before")
    @classmethod
    def _from_plain_string(cls, value: Any) -> Any:
        return {"source": value} if isinstance(value, str) else value


class SegmentReviewDef(_Strict):
    """The sales segment review (S9): which fiscal quarter it runs in."""

    quarter: int = Field(default=4, ge=1, le=4)


class SegmentationDef(_Strict):
    scheme: Name
    unknown: Name = "Unknown"
    schemes: dict[Name, SegmentSchemeDef] = Field(min_length=1)
    # S6 (003): the first source with a count decides; LinkedIn and websites are not sources.
    employee_sources: list[EmployeeSourceDef] = Field(
        default=[
            EmployeeSourceDef(source="admin_override", only_during_review=True),
            EmployeeSourceDef(source="datafox"),
            EmployeeSourceDef(source="zoominfo"),
        ],
        min_length=1,
    )
    review: SegmentReviewDef = SegmentReviewDef()

    @field_validator("employee_sources")
    @classmethod
    def _sources_once(cls, sources: list[EmployeeSourceDef]) -> list[EmployeeSourceDef]:
        names = [s.source for s in sources]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"sources listed twice: {', '.join(twice)}")
        return sources

    @property
    def active(self) -> SegmentSchemeDef:
        return self.schemes[self.scheme]

    def active_names(self) -> list[str]:
        """The segments the active scheme can give, largest first, then Unknown."""
        bands = sorted(self.active.bands, key=lambda b: -b.min)
        return [*(b.name for b in bands), self.unknown]

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
    m4_statuses: list[Name] = ["Raw", "Inquiry", "MQL"]
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
        return valid_regex(pattern)

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


# --------------------------------------------------------------------------- fiscal calendar (S6, S9)


class MonthDayDef(_Strict):
    """A day of the year; days stop at 28 so that every quarter starts on the same day of a month."""

    month: int = Field(ge=1, le=12)
    day: int = Field(default=1, ge=1, le=28)


class FiscalDef(_Strict):
    """The company's fiscal year: four quarters of three months from `year_start`."""

    year_start: MonthDayDef = MonthDayDef(month=1, day=1)
    year_named_by: Literal["start", "end"] = "end"  # GitLab's FY2026 ends on 31 January 2026
    timezone: Name = "UTC"  # the zone in which a moment is read as a calendar date

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value


# --------------------------------------------------------------------------- territory (S8)


AddressSource = Literal["admin_override", "datafox", "zoominfo", "shipping", "billing"]


class PublicSectorIndustryDef(_Strict):
    """An industry that makes a record public sector; `countries` empty means anywhere."""

    name: Name
    countries: list[Name] = []

    @model_validator(mode="before")
    @classmethod
    def _from_plain_string(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class PublicSectorDef(_Strict):
    """Which records are public sector (R4, R7) and the region that team works as."""

    region: Name | None = None
    industries: list[PublicSectorIndustryDef] = []


class TerritoryDef(_Strict):
    """S8 (003): the "Account - Territory" address comes from the first source that has a country."""

    address_sources: list[AddressSource] = Field(
        default=["admin_override", "datafox", "zoominfo", "shipping", "billing"], min_length=1
    )
    public_sector: PublicSectorDef = PublicSectorDef()

    @field_validator("address_sources")
    @classmethod
    def _sources_once(cls, sources: list[str]) -> list[str]:
        twice = sorted({n for n in sources if sources.count(n) > 1})
        if twice:
            raise ValueError(f"sources listed twice: {', '.join(twice)}")
        return sources


# --------------------------------------------------------------------------- score rules (S1)


class BehaviourRuleDef(_Strict):
    """Points for what a person does (S1): every activity of `activity_types` adds `points` (may be negative).

    `max_times`: at most this many count within any `window_days` days (ever, without a window).
    `decay_after_days`: an activity older than this no longer counts; its points fade out of the score.
    """

    id: RuleId
    description: str = ""
    activity_types: list[RuleId] = Field(min_length=1)
    points: int
    max_times: int | None = Field(default=None, ge=1)
    window_days: int | None = Field(default=None, ge=1)
    decay_after_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _window_has_a_limit(self) -> BehaviourRuleDef:
        if self.window_days is not None and self.max_times is None:
            raise ValueError("window_days needs max_times (at most max_times within window_days)")
        twice = sorted({t for t in self.activity_types if self.activity_types.count(t) > 1})
        if twice:
            raise ValueError(f"activity types listed twice: {', '.join(twice)}")
        return self


ProfileField = Literal["title", "segment", "country", "region", "industry", "company", "email_domain", "free_mail"]
PROFILE_FLAG_FIELDS = frozenset({"free_mail"})


class ProfileRuleDef(_Strict):
    """Points for who a person is (S1): `field` matched by a `pattern` (regular expression, case-insensitive),
    by `equals` (any of the values, case-insensitive) or, for a yes/no field, by `flag`.
    Within a `group` only the first matching rule counts (title tiers: executive, director, manager).
    """

    id: RuleId
    description: str = ""
    field: ProfileField
    pattern: str | None = None
    equals: list[Name] = []
    flag: bool | None = None
    points: int
    group: RuleId | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, pattern: str | None) -> str | None:
        return valid_regex(pattern)

    @model_validator(mode="after")
    def _one_way_to_match(self) -> ProfileRuleDef:
        given = [k for k in ("pattern", "equals", "flag") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"give exactly one of pattern, equals, flag (got {', '.join(given) or 'none'})")
        if self.field in PROFILE_FLAG_FIELDS and given != ["flag"]:
            raise ValueError(f"{self.field} is yes/no: match it with flag: true or flag: false")
        if self.field not in PROFILE_FLAG_FIELDS and given == ["flag"]:
            raise ValueError(f"{self.field} is text: match it with pattern or equals")
        if given == ["equals"] and not self.equals:
            raise ValueError("equals needs at least one value")
        if given == ["flag"] and self.flag is None:
            raise ValueError("flag is true or false")
        return self


# --------------------------------------------------------------------------- active vs passive (S10)


class ActivityDef(_Strict):
    """Activity types and the Active window (S10).

    Every channel name is an activity type; `types` adds the ones that are not intake channels (page visits, ...).
    Channels with `hand_raising: true` make a record Active for `active_days`; `hand_raising` adds other types.
    A trial (channels with `trial_days`, plus `trial_days` here) keeps it Active for its length + `trial_tail_days`.
    Records whose Initial Source is in `not_to_engage_initial_sources` are not engaged unless Active or after
    one of `engage_after_activities`.
    """

    types: list[RuleId] = []
    active_days: int = Field(default=60, ge=1)
    hand_raising: list[RuleId] = []
    trial_days: dict[RuleId, Annotated[int, Field(ge=1)]] = {}
    trial_tail_days: int = Field(default=30, ge=0)
    not_to_engage_initial_sources: list[Name] = []
    engage_after_activities: list[RuleId] = []


# --------------------------------------------------------------------------- Soft-BANT (S11)

BantElement = Literal["budget", "authority", "need", "timeline"]


class SoftBantDef(_Strict):
    """Soft-BANT (S11): a lead meeting `required` of Budget, Authority, Need, Timeline is ready to pass to sales."""

    required: int = Field(default=2, ge=1, le=4)
    questions: dict[BantElement, str] = {}


# --------------------------------------------------------------------------- routing (R1-R12)

# D2's roles: a round-robin pool's `roles` name some of them.
USER_ROLES = ("SDR", "BDR", "AE", "SAL", "AM", "RD", "Team Lead", "CSM", "Admin", "Sales Admin", "Ops", "Reseller")

# A pool whose `region` is this takes its members from the region of the record being routed.
RECORD_REGION = "$region"

RoutingFieldType = Literal["text", "number", "flag", "set", "user"]
RoutingVocabulary = Literal["channels", "segments", "regions", "statuses", "account_types", "countries", "activities"]

# Which tests each kind of field takes; anything else is a mistake `playbook check` reports.
ROUTING_OPS: dict[str, tuple[str, ...]] = {
    "text": ("eq", "in", "not_in", "exists", "matches"),
    "user": ("eq", "in", "not_in", "exists"),
    "number": ("eq", "in", "not_in", "gte", "lte"),
    "flag": ("eq",),
    "set": ("in", "not_in", "exists"),
}


class RoutingField(BaseModel):
    """A field of the record being routed that a condition may test (R1): its kind, the playbook list its
    values come from, and the words a trace uses for it (`{account}` stands for the account's id)."""

    model_config = ConfigDict(frozen=True)

    path: str
    type: RoutingFieldType
    label: str
    vocabulary: RoutingVocabulary | None = None
    yes: str = ""  # flags: what the trace says when the flag is set ...
    no: str = ""  # ... and when it is not


def _routing_fields() -> dict[str, RoutingField]:
    def f(path: str, type_: RoutingFieldType, label: str, vocabulary: RoutingVocabulary | None = None) -> RoutingField:
        return RoutingField(path=path, type=type_, label=label, vocabulary=vocabulary)

    def flag(path: str, yes: str, no: str) -> RoutingField:
        return RoutingField(path=path, type="flag", label=path, yes=yes, no=no)

    fields = [
        f("channel", "text", "channel", "channels"),
        f("segment", "text", "segment", "segments"),
        f("region", "text", "region", "regions"),
        f("score", "number", "score"),
        f("status", "text", "status", "statuses"),
        f("country", "text", "country", "countries"),
        f("state", "text", "state"),
        f("industry", "text", "industry"),
        f("title", "text", "title"),
        flag("university", "the lead is from a university", "the lead is not from a university"),
        flag("public_sector", "the lead is public sector", "the lead is not public sector"),
        flag("active", "the lead is Active (hand-raising activity)", "the lead is not Active"),
        f("activities", "set", "activities", "activities"),
        f("same_company.mql_count", "number", "MQL leads of the same company"),
        f("same_company.working_count", "number", "working leads of the same company"),
        f("same_company.earliest_mql_owner", "user", "owner of the same company's earliest MQL"),
        f("same_company.working_owner", "user", "owner of the same company's working lead"),
    ]
    for scope, words in (("account", "account {account}"), ("ultimate_parent", "global account {account}")):
        fields += [
            f(f"{scope}.id", "text", words),
            f(f"{scope}.type", "text", f"{words} type", "account_types"),
            flag(f"{scope}.named", f"{words} is named", f"{words} is not named"),
            flag(f"{scope}.public_sector", f"{words} is public sector", f"{words} is not public sector"),
            flag(f"{scope}.fortune_500", f"{words} is a Fortune 500 company", f"{words} is not a Fortune 500 company"),
            flag(
                f"{scope}.recognizable_brand", f"{words} is a recognisable brand", f"{words} is no recognisable brand"
            ),
            f(f"{scope}.bdr_prospecting_status", "text", f"{words} BDR Prospecting Status"),
            f(f"{scope}.owner", "user", f"{words} owner"),
            f(f"{scope}.sdr_assigned", "user", f"{words} SDR Assigned"),
            f(f"{scope}.bdr_assigned", "user", f"{words} BDR Assigned"),
            f(f"{scope}.csm", "user", f"{words} CSM"),
            f(f"{scope}.segment", "text", f"{words} segment", "segments"),
            f(f"{scope}.region", "text", f"{words} region", "regions"),
            f(f"{scope}.industry", "text", f"{words} industry"),
            f(f"{scope}.country", "text", f"{words} country", "countries"),
            f(f"{scope}.parent_id", "text", f"{words} parent"),
        ]
    return {field.path: field for field in fields}


# The condition vocabulary: every field path a routing rule may name.
ROUTING_FIELDS: dict[str, RoutingField] = _routing_fields()

_RoutingText = Annotated[str, Field(strict=True, min_length=1)]
_RoutingNumber = Annotated[int, Field(strict=True)]
_RoutingFlag = Annotated[bool, Field(strict=True)]


class FieldTestDef(_Strict):
    """What one field must be; every test given must hold (R1).

    `in` / `not_in` on a set field (activities): any of / none of. `matches` is a regular expression,
    searched case-insensitively. A missing value (no account, no region) never equals, is in, or
    matches anything; it is `not_in` every list.
    """

    # `in` is a Python keyword, so the field is `in_`; only the YAML spelling is accepted.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    eq: _RoutingFlag | _RoutingNumber | _RoutingText | None = None
    in_: list[_RoutingNumber | _RoutingText] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[_RoutingNumber | _RoutingText] | None = Field(default=None, min_length=1)
    exists: _RoutingFlag | None = None
    gte: _RoutingNumber | None = None
    lte: _RoutingNumber | None = None
    matches: str | None = None

    @field_validator("matches")
    @classmethod
    def _pattern_compiles(cls, pattern: str | None) -> str | None:
        return valid_regex(pattern)

    @model_validator(mode="after")
    def _some_test(self) -> FieldTestDef:
        nulls = sorted(k.rstrip("_") for k in self.model_fields_set if getattr(self, k) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)}: null is no value to test (use exists: false)")
        if not self.ops():
            raise ValueError("give at least one of eq, in, not_in, exists, gte, lte, matches")
        return self

    def ops(self) -> list[tuple[str, Any]]:
        """The tests given, as (operator as spelled in YAML, value), in a fixed order."""
        pairs = [("eq", self.eq), ("in", self.in_), ("not_in", self.not_in), ("exists", self.exists)]
        pairs += [("gte", self.gte), ("lte", self.lte), ("matches", self.matches)]
        return [(op, value) for op, value in pairs if value is not None]


class AssignTargetDef(_Strict):
    """Where a rule sends the lead: a user taken from a record field, a round-robin pool, a queue, or the
    default owner (Sales Admin, R10)."""

    user_field: Name | None = None
    pool: RuleId | None = None
    queue: Name | None = None
    default_owner: Literal[True] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AssignTargetDef:
        given = [k for k in ("user_field", "pool", "queue", "default_owner") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of user_field, pool, queue, default_owner (got {', '.join(given) or 'none'})"
            )
        return self


class SlaDef(_Strict):
    """A follow-up deadline in business days of the owner's region (W3)."""

    business_days: int = Field(ge=1)


class RoutingRuleDef(_Strict):
    """One rule of the ordered routing flow (R1): when every `when` test holds (and one group of `when_any`,
    if given), the lead goes to the first `assign` target that yields an owner. If none yields (empty field,
    pool without an available member), the lead goes to `routing.unroutable_queue`, or on to the next rule
    with `fallthrough_when_empty: true`."""

    id: RuleId
    description: str = ""
    when: dict[Name, FieldTestDef] = {}
    when_any: list[Annotated[dict[Name, FieldTestDef], Field(min_length=1)]] = []
    assign: list[AssignTargetDef] = Field(min_length=1)
    notify: list[Name] = []
    sla: SlaDef | None = None
    fallthrough_when_empty: bool = False

    @field_validator("assign", mode="before")
    @classmethod
    def _one_target_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class PoolDef(_Strict):
    """A round-robin pool (R9): users chosen by attributes (every attribute given must hold), or explicit
    `members`. `region: $region` is the region of the lead being routed. Weights and capacity per day/week
    are the users' own; inactive and out-of-office users are skipped when choosing."""

    id: RuleId
    description: str = ""
    roles: list[Name] = []
    region: Name | list[Name] | None = None
    teams: list[Name] = []
    segments: list[Name] = []
    members: list[Name] = []

    @model_validator(mode="after")
    def _members_or_attributes(self) -> PoolDef:
        attributes = bool(self.roles or self.region or self.teams or self.segments)
        if self.members and attributes:
            raise ValueError("give members, or attributes (roles, region, teams, segments), not both")
        if not self.members and not attributes:
            raise ValueError("give members, or at least one of roles, region, teams, segments")
        if isinstance(self.region, list) and RECORD_REGION in self.region:
            raise ValueError(f"{RECORD_REGION} stands alone: region: {RECORD_REGION}")
        return self

    @property
    def per_region(self) -> bool:
        """True when the members depend on the routed record's region."""
        return self.region == RECORD_REGION

    def fixed_regions(self) -> list[str]:
        """The regions named in the pool (none for $region or no region)."""
        if self.region is None or self.per_region:
            return []
        return [self.region] if isinstance(self.region, str) else list(self.region)


class SameCompanyDef(_Strict):
    """R3 (002): which statuses of the same company's other leads count as MQL and as being worked."""

    mql_statuses: list[Name] = []
    working_statuses: list[Name] = []


Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class HolidaysDef(_Strict):
    """Whose public holidays a calendar skips (the `holidays` package's ISO 3166 country and subdivision).
    With `record_country`, a record from another country the package knows uses that country's holidays."""

    country: Name
    subdivision: Name | None = None
    record_country: bool = False

    @model_validator(mode="after")
    def _known_country(self) -> HolidaysDef:
        import holidays

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"the holidays package has no calendar for country '{self.country}'")
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            raise ValueError(f"'{self.subdivision}' is not a subdivision of {self.country} the holidays package knows")
        return self


class SlaCalendarDef(_Strict):
    """W3: when a region works: its time zone, working days and hours, and the holidays it skips."""

    timezone: Name
    working_days: list[Weekday] = Field(default=["Mon", "Tue", "Wed", "Thu", "Fri"], min_length=1)
    hours: str = Field(default="09:00-17:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$")
    holidays: HolidaysDef | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    @field_validator("hours")
    @classmethod
    def _opens_before_closing(cls, value: str) -> str:
        opens, closes = value.split("-")
        if opens >= closes:
            raise ValueError(f"hours {value}: the day must open before it closes")
        return value

    def opening_hours(self) -> tuple[dt.time, dt.time]:
        opens, closes = self.hours.split("-")
        return dt.time.fromisoformat(opens), dt.time.fromisoformat(closes)


# The key of `routing.sla_calendars` used for a region without a calendar of its own.
DEFAULT_CALENDAR = "default"


class UniversityDef(_Strict):
    """R7: what makes a record a university's - its company name or its email/web domain (regexes,
    searched case-insensitively)."""

    company_matches: list[str] = []
    domain_matches: list[str] = []

    @field_validator("company_matches", "domain_matches")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"'{pattern}' is not a valid regular expression: {exc}") from None
        return patterns


class RoutingDef(_Strict):
    """The routing flow (R1-R12): pools, then rules checked in order; the first that assigns decides.
    Below `scoring.routing_threshold` nothing is routed (S3)."""

    description: str = ""
    unroutable_queue: Name | None = None  # R10: where a lead goes that no rule can route
    teams: list[Name] = []  # team names pools may use (a user's `team`)
    same_company: SameCompanyDef = SameCompanyDef()
    channel_sla: dict[Name, SlaDef] = {}  # W3: a channel's SLA when the deciding rule sets none
    # W3: business days are counted on the calendar of the lead's region (`default` for any other)
    sla_calendars: dict[Name, SlaCalendarDef] = {}
    university: UniversityDef = UniversityDef()  # R7: how a university's record is recognised
    pools: list[PoolDef] = []
    rules: list[RoutingRuleDef] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids_once(self) -> RoutingDef:
        for what, ids in (("rule", [r.id for r in self.rules]), ("pool", [p.id for p in self.pools])):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            if twice:
                raise ValueError(f"{what} ids listed twice: {', '.join(twice)}")
        return self

    def pool(self, pool_id: str) -> PoolDef | None:
        return next((p for p in self.pools if p.id == pool_id), None)


# --------------------------------------------------------------------------- webhooks (I2, R13)

# The intake fields (services.intake_models.LeadIn) a webhook field map may fill; a test keeps
# this list equal to the model's fields, so the playbook layer need not import the services.
INTAKE_FIELDS = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "company",
        "title",
        "phone",
        "website",
        "country",
        "state",
        "industry",
        "employees",
        "developers_bucket",
        "how_many_developers",
        "score",
        "activities",
        "status",
        "status_reason",
        "trial_days",
        "usage",
    }
)
PayloadPath = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$")]


class WebhookSourceDef(_Strict):
    """One outside system posting to `POST /webhooks/{name}` (I2), and how its payload is read.

    `kind: intake` sends the mapped payload through the intake on `channel` (or the channel that
    `channels` gives for the value at `channel_field`); other kinds name a registered handler.
    `fields` maps payload paths (dotted, e.g. `account.email`) to intake fields; without a map
    the payload is already in the intake's shape (the LEAD.json of the simulate contract).
    """

    name: RuleId
    kind: RuleId = "intake"
    description: str = ""
    secret_env: str = Field(default="", max_length=120, pattern=r"^[A-Z_][A-Z0-9_]*$|^$")
    max_body_bytes: int | None = Field(default=None, ge=64, le=10_000_000)
    channel: RuleId | None = None
    channel_field: PayloadPath | None = None
    channels: dict[Name, RuleId] = {}
    fields: dict[PayloadPath, Name] = {}

    @field_validator("fields")
    @classmethod
    def _intake_fields(cls, fields: dict[str, str]) -> dict[str, str]:
        unknown = sorted({f for f in fields.values() if f not in INTAKE_FIELDS})
        if unknown:
            known = ", ".join(sorted(INTAKE_FIELDS))
            raise ValueError(f"not intake fields: {', '.join(unknown)}; intake fields: {known}")
        return fields

    @model_validator(mode="after")
    def _channel_given(self) -> WebhookSourceDef:
        if self.kind == "intake" and self.channel is None and not self.channels:
            raise ValueError("an intake source needs `channel` or `channel_field` with `channels`")
        if self.channels and self.channel_field is None:
            raise ValueError("`channels` needs `channel_field`, the payload path naming the form")
        return self


class WebhookDeliveryDef(_Strict):
    """How the worker delivers outbox events to subscribers (R13): retries with exponential backoff."""

    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_seconds: int = Field(default=30, ge=1)  # the wait after the n-th failure is backoff * 2**(n-1)
    max_backoff_seconds: int = Field(default=6 * 3600, ge=1)
    timeout_seconds: float = Field(default=10, gt=0, le=300)
    lease_seconds: int = Field(default=120, ge=1)  # a claimed delivery is retried after this if its worker died
    # The longest a transaction that queues events may run: the fan-out stops rescanning events this old.
    settle_seconds: int = Field(default=900, ge=1)
    batch_size: int = Field(default=50, ge=1, le=10_000)
    poll_seconds: float = Field(default=2, gt=0)


class WebhooksDef(_Strict):
    """Incoming sources (I2) and outgoing delivery (R13)."""

    timestamp_tolerance_seconds: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=65_536, ge=64, le=10_000_000)
    sources: list[WebhookSourceDef] = []
    delivery: WebhookDeliveryDef = WebhookDeliveryDef()

    def source(self, name: str) -> WebhookSourceDef | None:
        return next((s for s in self.sources if s.name == name), None)

    def body_limit(self, source: WebhookSourceDef) -> int:
        return source.max_body_bytes or self.max_body_bytes

    def reference_issues(self, channels: set[str]) -> list[tuple[str, str]]:
        """Sources named once; every channel a source names is one of the playbook's."""
        issues: list[tuple[str, str]] = []
        names = [s.name for s in self.sources]
        for i, src in enumerate(self.sources):
            if names.index(src.name) != i:
                issues.append((f"webhooks.sources[{i}].name", f"duplicate source '{src.name}'"))
            wanted = [("channel", src.channel)] + [(f"channels.{k}", v) for k, v in src.channels.items()]
            for path, channel in wanted:
                if channel is not None and channel not in channels:
                    issues.append((f"webhooks.sources[{i}].{path}", f"unknown channel '{channel}'"))
        return issues


# --------------------------------------------------------------------------- working leads (W1-W4, W6, W7)


EngagementEventType = Literal["step_completed", "email_replied", "sequence_finished", "person_inactive"]


class SequenceRuleDef(_Strict):
    """W1: what an engagement event (from an Outreach-style tool) does to a person in `from`.

    `step` limits a `step_completed` rule to that step (1 = the first). `after_days` defers the move: a
    `sequence_finished` rule then fires that many days after the finish, if the person has still not replied
    and is still in `from` (the `sequence-no-response` job). `finish_sequences` ends the person's running
    sequences; `set_inactive` marks the person inactive (the Inactive checkbox of 002); `take_ownership` gives a
    person a queue owns to the user who ran the step (an XDR working a lead owns it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    id: RuleId
    description: str = ""
    event: EngagementEventType
    step: int | None = Field(default=None, ge=1)
    from_: list[Name] = Field(default=[], alias="from")
    to: Name | None = None
    reason: Name | None = None
    after_days: int = Field(default=0, ge=0)
    finish_sequences: bool = False
    set_inactive: bool = False
    take_ownership: bool = False  # a person owned by a queue goes to the user who ran the step

    @model_validator(mode="after")
    def _coherent(self) -> SequenceRuleDef:
        if self.step is not None and self.event != "step_completed":
            raise ValueError("step applies to step_completed rules only")
        if self.take_ownership and self.event != "step_completed":
            raise ValueError("take_ownership applies to step_completed rules only")
        if self.after_days and self.event != "sequence_finished":
            raise ValueError("after_days applies to sequence_finished rules only")
        if self.to is not None and not self.from_:
            raise ValueError("a rule that sets a status needs `from` (the statuses it moves)")
        if self.to is None and not (self.finish_sequences or self.set_inactive):
            raise ValueError("give `to`, finish_sequences or set_inactive: the rule must do something")
        return self


class SequencesDef(_Strict):
    """W1: the engagement-event rules, checked in order; every rule whose event, step and status fit fires."""

    rules: list[SequenceRuleDef] = []
    # the activity types an event is recorded as (a step done by the owner is a follow-up, W3)
    activity_types: dict[EngagementEventType, RuleId] = {
        "step_completed": "sequence_step_completed",
        "email_replied": "email_replied",
        "sequence_finished": "sequence_finished",
        "person_inactive": "person_inactive",
    }


class SlaWorkDef(_Strict):
    """W3: which logged activities count as the first follow-up, and who hears of a breach."""

    follow_up_activities: list[RuleId] = Field(min_length=1)
    notify_owner: bool = True
    notify_manager: bool = True


class PassingDef(_Strict):
    """W4: passing a qualified lead to sales. The reminder window is chosen per pass within [min, max] days."""

    status: Name
    owner_roles: list[Name] = Field(min_length=1)
    remind_after_days: int = Field(default=3, ge=1)
    min_days: int = Field(default=1, ge=1)
    max_days: int = Field(default=7, ge=1)

    @model_validator(mode="after")
    def _window(self) -> PassingDef:
        if not self.min_days <= self.remind_after_days <= self.max_days:
            window = f"[{self.min_days}, {self.max_days}]"
            raise ValueError(f"remind_after_days {self.remind_after_days} is outside {window}")
        return self


class MessageKindDef(_Strict):
    """W6: a kind of email to a person. Operational ones (a receipt, a trial or webcast confirmation) go even to
    opted-out people; every other kind is withheld from them, and a list kind only goes to the list's members."""

    name: RuleId
    operational: bool = False
    list: Name | None = None
    description: str = ""


class SubscriptionsDef(_Strict):
    """W6: mailing lists, the message kinds and the temporary opt-out's length."""

    lists: list[Name] = []
    temporary_opt_out_days: int = Field(default=30, ge=1)
    message_kinds: list[MessageKindDef] = []

    def kind(self, name: str) -> MessageKindDef | None:
        return next((k for k in self.message_kinds if k.name == name), None)


class StatusTimeoutDef(_Strict):
    """W7: a record that has stayed in one of `statuses` for `after_days` moves to `to` (the legacy cadence)."""

    id: RuleId
    description: str = ""
    statuses: list[Name] = Field(min_length=1)
    after_days: int = Field(ge=1)
    to: Name
    reason: Name | None = None


class WorkingDef(_Strict):
    """Working leads: sequences (W1), the SLA follow-up (W3), passing (W4), subscriptions (W6), timeouts (W7).
    W2's clean-up needs no section: it hands every status with `hand_to_queue: unless_in_active_sequence` to its
    queue when the record is in no active sequence."""

    activity_types: list[RuleId] = []  # activities logged while working (calls, sequence steps), besides S10's
    sequences: SequencesDef = SequencesDef()
    sla: SlaWorkDef | None = None
    passing: PassingDef | None = None
    subscriptions: SubscriptionsDef = SubscriptionsDef()
    status_timeouts: list[StatusTimeoutDef] = []


# --------------------------------------------------------------------------- permissions (P1-P5)

# What a role may do through the API; `*` is everything. Reading a kind of record is `<records>.read`,
# changing it `<records>.write`; the others name one action each.
PERMISSIONS = (
    "*",
    "leads.read",
    "leads.write",
    "contacts.read",
    "contacts.write",
    "accounts.read",
    "accounts.write",
    "opportunities.read",
    "opportunities.write",
    "users.read",
    "users.write",
    "queues.read",
    "queues.write",
    "activities.read",
    "activities.write",
    "tasks.read",
    "tasks.write",
    "intake",
    "leads.transition",
    "leads.merge",
    "leads.route",
    "leads.assign",
    "accounts.owner",
    "simulate",
    "users.deactivate",
    "jobs.run",
    "playbook.read",
    "playbook.activate",
    "tokens.manage",
    "public_sector.view",
)
Permission = Literal[
    "*",
    "leads.read",
    "leads.write",
    "contacts.read",
    "contacts.write",
    "accounts.read",
    "accounts.write",
    "opportunities.read",
    "opportunities.write",
    "users.read",
    "users.write",
    "queues.read",
    "queues.write",
    "activities.read",
    "activities.write",
    "tasks.read",
    "tasks.write",
    "intake",
    "leads.transition",
    "leads.merge",
    "leads.route",
    "leads.assign",
    "accounts.owner",
    "simulate",
    "users.deactivate",
    "jobs.run",
    "playbook.read",
    "playbook.activate",
    "tokens.manage",
    "public_sector.view",
]
AccountOwnerCondition = Literal["no_parent", "same_region", "datafox_employees", "same_segment"]
ContactOwnerSource = Literal["sdr_assigned", "bdr_assigned", "owner"]


class RoleDef(_Strict):
    """One D2 role: what it may do, and whether it sees every record or only its own (P5)."""

    name: Name
    permissions: list[Permission] = []
    read_scope: Literal["all", "own"] = "all"

    @field_validator("name")
    @classmethod
    def _known_role(cls, name: str) -> str:
        if name not in USER_ROLES:
            raise ValueError(f"unknown role '{name}'; roles: {', '.join(USER_ROLES)}")
        return name


class AccountOwnerChangeDef(_Strict):
    """P2: who may change an account's owner, and who is told."""

    owner_may_give_away: bool = True
    any_account_roles: list[Name] = []  # e.g. RD, Admin: any account
    own_region_roles: list[Name] = []  # e.g. Team Lead: accounts of their region
    # anyone else (with `accounts.owner`) only when every one of these holds
    others_require: list[AccountOwnerCondition] = ["no_parent", "same_region", "datafox_employees", "same_segment"]
    notify_owners: bool = True  # a change by a non-admin notifies the previous and the new owner


class ContactOwnerRuleDef(_Strict):
    """P1: one line of the contact-owner table; the first line whose conditions hold decides, and the
    first of `owner`'s account fields that is set is the contact's owner."""

    description: str = ""
    segments: list[Name] = []  # the account's segment is one of these (empty: any)
    account_types: list[Name] = []  # the account's type is one of these (empty: any)
    not_account_types: list[Name] = []
    owner: list[ContactOwnerSource] = Field(min_length=1)


class PermissionsDef(_Strict):
    """Roles and visibility (P1-P5): what each role may see and change, as data."""

    admin_roles: list[Name] = ["Admin"]  # "admins" of P2 and R10
    # P4: records owned by a member of these teams are seen only by these teams and `public_sector.view`
    public_sector_teams: list[Name] = []
    roles: list[RoleDef] = [RoleDef(name="Admin", permissions=["*"])]
    account_owner_change: AccountOwnerChangeDef = AccountOwnerChangeDef()
    contact_owner: list[ContactOwnerRuleDef] = []

    @model_validator(mode="after")
    def _roles_once(self) -> PermissionsDef:
        names = [r.name for r in self.roles]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"roles listed twice: {', '.join(twice)}")
        for where, listed in (
            ("admin_roles", self.admin_roles),
            ("account_owner_change.any_account_roles", self.account_owner_change.any_account_roles),
            ("account_owner_change.own_region_roles", self.account_owner_change.own_region_roles),
        ):
            unknown = [n for n in listed if n not in USER_ROLES]
            if unknown:
                raise ValueError(f"{where}: unknown role(s) {', '.join(unknown)}; roles: {', '.join(USER_ROLES)}")
        return self

    def role(self, name: str) -> RoleDef | None:
        return next((r for r in self.roles if r.name == name), None)


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
    activity: ActivityDef | None = None
    soft_bant: SoftBantDef | None = None
    fiscal: FiscalDef = FiscalDef()
    territory: TerritoryDef = TerritoryDef()
    routing: RoutingDef | None = None
    webhooks: WebhooksDef = WebhooksDef()

    working: WorkingDef = WorkingDef()

    permissions: PermissionsDef = PermissionsDef()

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

        webhooks = self.webhooks.reference_issues({c.name for c in self.channels})
        return find_reference_issues(self) + self._calendar_issues() + webhooks

    def _calendar_issues(self) -> list[tuple[str, str]]:
        """`routing.sla_calendars` keys are regions of this playbook (or `default`)."""
        if self.routing is None:
            return []
        known = {*self.region_names(), DEFAULT_CALENDAR}
        return [
            (f"routing.sla_calendars.{name}", f"unknown region '{name}'; expected one of: {', '.join(sorted(known))}")
            for name in self.routing.sla_calendars
            if name not in known
        ]
