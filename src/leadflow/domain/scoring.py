"""Decides a person's score (S1), when it makes an MQL (S2) and when a change re-checks routing (S3).

The score is the sum of its parts: one part per behaviour rule that an activity fired (with the
activity's time) and one per profile rule the person's data matched. Point values, repeat limits,
fading and thresholds are playbook data (`scoring:`). A score sent by an upstream marketing tool
replaces the computation and is marked `external` (CONTRACTS.md §1). Pure: `now` is a parameter.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from leadflow.domain.normalise import email_domain, is_free_mail
from leadflow.playbook.countries import resolve_country
from leadflow.playbook.schema import BehaviourRuleDef, Playbook, ProfileRuleDef, ScoringDef

ScoreSource = Literal["leadflow", "external"]
PartKind = Literal["behaviour", "profile"]

# A pattern is tried on at most this much of a field: playbook patterns are trusted, field text is not.
_MAX_MATCHED = 1024


@dataclass(frozen=True)
class ScoreInput:
    """What the score rules read of a person. `activities` are (type, at) pairs such as `Activity`.

    `free_mail` None: decided from the email's domain by the maintained free-mail list.
    """

    activities: Sequence[tuple[str, dt.datetime]] = ()
    title: str | None = None
    segment: str | None = None
    country: str | None = None
    region: str | None = None
    industry: str | None = None
    company: str | None = None
    email: str | None = None
    free_mail: bool | None = None


@dataclass(frozen=True)
class ScorePart:
    """One rule's contribution: `at` is the activity's time for behaviour, None for profile."""

    rule: str
    points: int
    at: dt.datetime | None
    why: str
    kind: PartKind = "behaviour"

    def as_json(self) -> dict[str, Any]:
        at = self.at.isoformat() if self.at else None
        return {"rule": self.rule, "points": self.points, "at": at, "why": self.why, "kind": self.kind}


@dataclass(frozen=True)
class Score:
    """A score and its explanation; for leadflow's own score `total == sum(parts)`.

    `notes` say what was seen but not counted (repeat limits, faded points, activities after `now`).
    """

    total: int
    parts: tuple[ScorePart, ...]
    source: ScoreSource = "leadflow"
    notes: tuple[str, ...] = ()

    def subtotal(self, kind: PartKind) -> int:
        return sum(p.points for p in self.parts if p.kind == kind)

    def as_json(self) -> dict[str, Any]:
        """The `score` object of `leadflow simulate` (CONTRACTS.md §1)."""
        return {"total": self.total, "source": self.source, "parts": [p.as_json() for p in self.parts]}


@dataclass(frozen=True)
class MqlDecision:
    """What reaching (or not) the MQL threshold changes (S2)."""

    mql: bool
    set_status: str | None
    set_mql_date: bool
    why: str


@dataclass(frozen=True)
class RoutingCheck:
    """Whether a score change queues the record for routing (S3)."""

    triggered: bool
    why: str


# --------------------------------------------------------------------------- S1


def compute_score(scoring: ScoringDef, inputs: ScoreInput, now: dt.datetime) -> Score:
    """The person score at `now`: behaviour parts (in time order) then profile parts (in playbook order)."""
    seen = sorted(((at, kind) for kind, at in inputs.activities), key=lambda a: (a[0], a[1]))
    happened = [(at, kind) for at, kind in seen if at <= now]
    parts: list[ScorePart] = []
    notes: list[str] = []
    later = len(seen) - len(happened)
    if later:
        notes.append(f"{later} activit{'y' if later == 1 else 'ies'} after {now.isoformat()} not counted yet")
    for rule in scoring.behaviour:
        rule_parts, rule_notes = _behaviour(rule, happened, now)
        parts += rule_parts
        notes += rule_notes
    parts += _profile(scoring.profile, inputs)
    return Score(total=sum(p.points for p in parts), parts=tuple(parts), source="leadflow", notes=tuple(notes))


def external_score(value: int | float) -> Score:
    """A score sent by an upstream marketing tool: it replaces the computation; no parts (CONTRACTS.md §1)."""
    if isinstance(value, bool) or not float(value).is_integer():
        raise ValueError(f"an external score is a whole number of points (got {value!r})")
    total = int(value)
    return Score(total=total, parts=(), source="external", notes=(f"score {total} sent by an upstream tool",))


def _behaviour(
    rule: BehaviourRuleDef, happened: Sequence[tuple[dt.datetime, str]], now: dt.datetime
) -> tuple[list[ScorePart], list[str]]:
    """Greedy in time order: an activity counts unless faded or over the limit of its window."""
    types = set(rule.activity_types)
    fade = dt.timedelta(days=rule.decay_after_days) if rule.decay_after_days else None
    window = dt.timedelta(days=rule.window_days) if rule.window_days else None
    counted: list[dt.datetime] = []
    parts: list[ScorePart] = []
    faded = capped = 0
    label = f" ({rule.description})" if rule.description else ""
    for at, kind in happened:
        if kind not in types:
            continue
        if fade is not None and now - at > fade:
            faded += 1
            continue
        if rule.max_times is not None:
            recent = [c for c in counted if window is None or at - c < window]
            if len(recent) >= rule.max_times:
                capped += 1
                continue
        counted.append(at)
        why = f"{kind} on {at.date().isoformat()}: {rule.points:+d}{label}"
        parts.append(ScorePart(rule.id, rule.points, at, why, "behaviour"))
    notes: list[str] = []
    if capped:
        span = f"within {rule.window_days} days" if rule.window_days else "ever"
        notes.append(f"{rule.id}: {capped} more not counted (at most {rule.max_times} {span})")
    if faded:
        notes.append(f"{rule.id}: {faded} faded (older than {rule.decay_after_days} days)")
    return parts, notes


def _profile(rules: Sequence[ProfileRuleDef], inputs: ScoreInput) -> list[ScorePart]:
    domain = _domain_of(inputs.email)
    free_mail = inputs.free_mail
    if free_mail is None and domain is not None:
        free_mail = is_free_mail(domain)
    text: dict[str, str | None] = {
        "title": inputs.title,
        "segment": inputs.segment,
        "country": inputs.country,
        "region": inputs.region,
        "industry": inputs.industry,
        "company": inputs.company,
        "email_domain": domain,
    }
    parts: list[ScorePart] = []
    groups_done: set[str] = set()
    for rule in rules:
        if rule.group is not None and rule.group in groups_done:
            continue
        if rule.field == "free_mail":
            why = None if free_mail is None or free_mail != rule.flag else f"free mail: {'yes' if free_mail else 'no'}"
        else:
            why = _text_match(rule, text[rule.field])
        if why is None:
            continue
        if rule.group is not None:
            groups_done.add(rule.group)
        label = f" ({rule.description})" if rule.description else ""
        parts.append(ScorePart(rule.id, rule.points, None, f"{why}: {rule.points:+d}{label}", "profile"))
    return parts


def _domain_of(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email_domain(email) or email.rsplit("@", 1)[1].strip().lower().rstrip(".") or None


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _text_match(rule: ProfileRuleDef, value: str | None) -> str | None:
    """Why the field matches the rule, or None."""
    text = (value or "").strip()
    if not text:
        return None
    name = rule.field.replace("_", " ")
    if rule.pattern is not None:
        found = _compiled(rule.pattern).search(text[:_MAX_MATCHED])
        return f"{name} '{text}' matches the pattern" if found else None
    hit = next((v for v in rule.equals if _same(rule.field, text, v)), None)
    return None if hit is None else f"{name} '{text}' is {hit}"


def _same(field: str, value: str, listed: str) -> bool:
    if field == "country":
        a, b = resolve_country(value), resolve_country(listed)
        if a is not None and b is not None:
            return a.alpha_2 == b.alpha_2
    if field == "email_domain":
        domain, wanted = value.casefold(), listed.strip().casefold()
        return domain == wanted or domain.endswith("." + wanted)
    return value.casefold() == listed.strip().casefold()


# --------------------------------------------------------------------------- S2


def mql_decision(
    pb: Playbook,
    *,
    current_status: str,
    mql_date: dt.datetime | None,
    old_score: int | None,
    new_score: int,
) -> MqlDecision:
    """S2: at score >= mql_threshold a record in one of mql_from_statuses becomes `mql_status` (when the
    playbook names one) and gets its MQL date, the first time only (when it has none yet).

    The decision reads the state, not the change, so it is the same however often it is asked.
    """
    sc = pb.scoring
    change = f"score {new_score}" if old_score is None else f"score {old_score} -> {new_score}"
    if new_score < sc.mql_threshold:
        return MqlDecision(False, None, False, f"{change} is below the MQL threshold {sc.mql_threshold}")
    allowed = {s.casefold() for s in sc.mql_from_statuses}
    if allowed and current_status.casefold() not in allowed:
        return MqlDecision(
            False,
            None,
            False,
            f"{change} reaches {sc.mql_threshold}, but status {current_status} is not one MQL is set from "
            f"({', '.join(sc.mql_from_statuses)})",
        )
    set_status = sc.mql_status
    if set_status is not None and set_status.casefold() == current_status.casefold():
        set_status = None
    first = mql_date is None
    what = [f"status {sc.mql_status}"] if set_status else []
    if first:
        what.append("MQL date")
    kept = "" if mql_date is None else f"; MQL date kept ({mql_date.isoformat()}: first time only)"
    done = f"sets {' and '.join(what)}" if what else "changes nothing"
    return MqlDecision(True, set_status, first, f"{change} reaches the MQL threshold {sc.mql_threshold}: {done}{kept}")


# --------------------------------------------------------------------------- S3


def routing_check(pb: Playbook, old_score: int | None, new_score: int) -> RoutingCheck:
    """S3: a change that crosses routing_threshold upward (old below it, new at or above it) queues routing.

    No previous score counts as below. Staying at or above the threshold, staying below it, or falling
    below it does not trigger (falling does not un-route a record either).
    """
    threshold = pb.scoring.routing_threshold
    before = "no score" if old_score is None else f"{old_score}"
    if new_score < threshold:
        return RoutingCheck(False, f"score {before} -> {new_score}: below the routing threshold {threshold}")
    if old_score is not None and old_score >= threshold:
        return RoutingCheck(
            False, f"score {before} -> {new_score}: already at or above the routing threshold {threshold}"
        )
    return RoutingCheck(True, f"score {before} -> {new_score}: reaches the routing threshold {threshold}")


def routing_trigger(pb: Playbook, old_score: int | None, new_score: int) -> bool:
    """S3: True when this score change queues the record for routing (see `routing_check`)."""
    return routing_check(pb, old_score, new_score).triggered
