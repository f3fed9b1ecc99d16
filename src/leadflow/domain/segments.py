"""Decides sales segments: employee and potential-user counts, their sources, hierarchy MAX.

S4-S7 as pure rules over the playbook. Every count says which field and source gave it, and
every segment says which account and count decided it. The fiscal calendar lives here too,
because the segment review window (S6, S9) is a fiscal quarter; it takes `now`, never reads
a clock.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from leadflow.errors import InvalidInput
from leadflow.playbook.schema import FiscalDef, Playbook, SegmentationDef, SegmentSchemeDef

# --------------------------------------------------------------------------- fiscal calendar


@dataclass(frozen=True)
class FiscalQuarter:
    """One fiscal quarter: its fiscal year's name, its number, and its first and last day."""

    year: int
    quarter: int
    start: dt.date
    end: dt.date

    def __str__(self) -> str:
        return f"FY{self.year} Q{self.quarter} ({self.start.isoformat()} - {self.end.isoformat()})"


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _calendar_date(when: dt.date | dt.datetime, fiscal: FiscalDef) -> dt.date:
    if isinstance(when, dt.datetime):
        if when.tzinfo is not None:
            when = when.astimezone(ZoneInfo(fiscal.timezone))
        return when.date()
    return when


def fiscal_quarter(when: dt.date | dt.datetime, fiscal: FiscalDef) -> FiscalQuarter:
    """The fiscal quarter holding `when` (an aware moment is read in the fiscal time zone)."""
    day = _calendar_date(when, fiscal)
    start_month, start_day = fiscal.year_start.month, fiscal.year_start.day
    year_start = dt.date(day.year, start_month, start_day)
    if day < year_start:
        year_start = dt.date(day.year - 1, start_month, start_day)
    months = (day.year - year_start.year) * 12 + day.month - year_start.month - (1 if day.day < start_day else 0)
    quarter = months // 3 + 1
    start = _add_months(year_start, 3 * (quarter - 1))
    end = _add_months(year_start, 3 * quarter) - dt.timedelta(days=1)
    year_end = _add_months(year_start, 12) - dt.timedelta(days=1)
    name = year_start.year if fiscal.year_named_by == "start" else year_end.year
    return FiscalQuarter(year=name, quarter=quarter, start=start, end=end)


def in_segment_review(pb: Playbook, now: dt.date | dt.datetime) -> tuple[bool, FiscalQuarter]:
    """Whether `now` falls in the sales segment review quarter (S9), and that quarter."""
    current = fiscal_quarter(now, pb.fiscal)
    return current.quarter == pb.segmentation.review.quarter, current


# --------------------------------------------------------------------------- counts and their sources


@dataclass(frozen=True)
class AccountSizing:
    """What an account knows about its size (D3): employees per source and developer counts."""

    id: str
    parent_id: str | None = None
    employees_admin_override: int | None = None
    # S9: the first day (fiscal Q1) from which a segment review's accepted count, stored as the admin
    # override, counts all year round; None: the override counts only inside the review window (S6)
    employees_admin_override_from: dt.date | None = None
    employees_datafox: int | None = None
    employees_zoominfo: int | None = None
    employees_linkedin: int | None = None
    employees_user_input: int | None = None
    how_many_developers: int | None = None
    it_tedd_employees: int | None = None
    number_of_licenses: int | None = None
    potential_ee_users_override: int | None = None

    @classmethod
    def of(cls, record: object) -> AccountSizing:
        """Read the same-named attributes of any account-like object (a store row, a test double)."""
        values: dict[str, Any] = {name: getattr(record, name, None) for name in cls.__dataclass_fields__}
        return cls(**values)

    def employees(self, source: str) -> int | None:
        """The employee count one source gives (`datafox`, `admin_override`, ...)."""
        value: int | None = getattr(self, f"employees_{source}")
        return value


@dataclass(frozen=True)
class SourcedValue:
    """A count, the field it stands for, the source that gave it (None: nothing did), and why."""

    value: int | None
    field: str
    source: str | None
    why: str


_SOURCE_LABELS = {
    "admin_override": "the admin override",
    "datafox": "DataFox",
    "zoominfo": "ZoomInfo",
    "linkedin": "LinkedIn",
    "user_input": "[User Input] Employee Count",
    "how_many_developers": "How Many Developers",
    "it_tedd_employees": "IT + TEDD employees",
    "number_of_licenses": "Number of Licenses",
    "potential_ee_users_override": "the Potential EE Users override",
}


_FIELD_LABELS = {"total_employees": "Total Employee count", "potential_users": "Potential EE Users"}


def _label(source: str) -> str:
    return _SOURCE_LABELS.get(source, source)


def _count(value: int | None, field: str) -> int | None:
    """A usable count: empty and 0 are no data (S4); a negative count is refused."""
    if value is None or value == 0:
        return None
    if value < 0:
        raise InvalidInput(f"a count cannot be negative (got {value})", field)
    return value


def total_employees(account: AccountSizing, pb: Playbook, now: dt.date | dt.datetime) -> SourcedValue:
    """The account's own Total Employee count: the first playbook source with a count (S6)."""
    reviewing: bool | None = None
    quarter: FiscalQuarter | None = None
    skipped: list[str] = []
    for entry in pb.segmentation.employee_sources:
        value = _count(account.employees(entry.source), f"employees_{entry.source}")
        if value is None:
            skipped.append(f"{_label(entry.source)} is empty")
            continue
        if entry.only_during_review:
            since: dt.date | None = getattr(account, f"employees_{entry.source}_from", None)
            if since is not None and _calendar_date(now, pb.fiscal) >= since:
                why = f"{_label(entry.source)} gives {value:,} employees, decided by the segment review, from {since}"
                why = f"{why} ({'; '.join(skipped)})" if skipped else why
                return SourcedValue(value, "total_employees", entry.source, why)
            if reviewing is None:
                reviewing, quarter = in_segment_review(pb, now)
            if not reviewing:
                skipped.append(
                    f"{_label(entry.source)} ({value:,}) counts only during the segment review "
                    f"(fiscal Q{pb.segmentation.review.quarter}; now is {quarter})"
                )
                continue
        why = f"{_label(entry.source)} gives {value:,} employees"
        return SourcedValue(value, "total_employees", entry.source, f"{why} ({'; '.join(skipped)})" if skipped else why)
    listed = [e.source for e in pb.segmentation.employee_sources]
    why = f"no employee count from {', '.join(_label(s) for s in listed)}: {'; '.join(skipped)}"
    for other in ("linkedin", "user_input"):
        value = account.employees(other)
        if other not in listed and value:
            why += f"; {_label(other)} ({value:,}) is not a source that decides a segment"
    return SourcedValue(None, "total_employees", None, why)


def validate_potential_override(override: int | None, number_of_licenses: int | None) -> None:
    """Refuse a Potential EE Users override that is not more than Number of Licenses (S6, 001)."""
    if override is None:
        return
    if override <= 0:
        raise InvalidInput(
            f"Potential EE Users must be a positive number (got {override})", "potential_ee_users_override"
        )
    licenses = number_of_licenses or 0
    if override <= licenses:
        raise InvalidInput(
            f"Potential EE Users ({override:,}) must be more than Number of Licenses ({licenses:,}): "
            "a customer cannot have fewer potential users than it purchased",
            "potential_ee_users_override",
        )


_DEVELOPER_FIELDS = ("how_many_developers", "it_tedd_employees", "number_of_licenses")


def potential_users(account: AccountSizing) -> SourcedValue:
    """The account's own Potential EE Users: a valid override, else the largest developer count (001).

    Only the account's own fields count: child accounts' potential users never roll up (S7).
    """
    counts = {f: _count(getattr(account, f), f) for f in _DEVELOPER_FIELDS}
    override = _count(account.potential_ee_users_override, "potential_ee_users_override")
    note = ""
    if override is not None:
        licenses = counts["number_of_licenses"] or 0
        if override > licenses:
            why = f"the Potential EE Users override gives {override:,}"
            return SourcedValue(override, "potential_users", "potential_ee_users_override", why)
        note = f"; the override {override:,} is ignored: not more than Number of Licenses ({licenses:,})"
    given = {f: v for f, v in counts.items() if v is not None}
    if not given:
        fields = ", ".join(_label(f) for f in _DEVELOPER_FIELDS)
        return SourcedValue(None, "potential_users", None, f"{fields} are all empty or 0{note}")
    field = max(given, key=lambda f: given[f])
    why = f"{_label(field)} gives {given[field]:,}, the largest of " + ", ".join(
        f"{_label(f)} {v:,}" for f, v in given.items()
    )
    return SourcedValue(given[field], "potential_users", field, why + note)


def account_measure(account: AccountSizing, pb: Playbook, now: dt.date | dt.datetime) -> SourcedValue:
    """The count the active scheme measures for this account alone (S4)."""
    if pb.segmentation.active.measure == "potential_users":
        return potential_users(account)
    return total_employees(account, pb, now)


# --------------------------------------------------------------------------- segments


def segment_of(value: int | None, scheme: SegmentSchemeDef, unknown: str = "Unknown") -> str:
    """The band of `scheme` holding `value`; Unknown when it is empty or 0 (S4) or in no band."""
    if value is None or value <= 0:
        return unknown
    return next((band.name for band in scheme.bands if band.contains(value)), unknown)


def segment_rank(segmentation: SegmentationDef, name: str | None) -> int:
    """How large a segment is: 0 for Unknown or an unknown name, higher for larger segments."""
    order = segmentation.active_names()[:-1]
    return len(order) - order.index(name) if name in order else 0


@dataclass(frozen=True)
class AccountSegment:
    """An account's segment (S6, S7), its own segment, its parent's (Parent Sales Segmentation), and why."""

    account_id: str
    segment: str
    own_segment: str
    parent_segment: str | None
    ultimate_parent_id: str
    decided_by: str  # the account whose own count gave the hierarchy's largest segment
    measure: SourcedValue  # that account's count, with its field and source
    own_measure: SourcedValue
    why: str


def ultimate_parents(parent_of: Mapping[str, str | None]) -> dict[str, str]:
    """Each account's ultimate parent (global account) among the accounts given.

    A parent that is not given ends the chain at its child; a loop of parents is broken at the
    smallest id in it, so the answer is the same for every order of input.
    """
    root: dict[str, str] = {}
    for start in parent_of:
        if start in root:
            continue
        path: list[str] = []
        position: dict[str, int] = {}
        node = start
        while True:
            if node in root:
                top = root[node]
                break
            if node in position:
                top = min(path[position[node] :])
                break
            position[node] = len(path)
            path.append(node)
            parent = parent_of.get(node)
            if parent is None or parent not in parent_of:
                top = node
                break
            node = parent
        for member in path:
            root[member] = top
    return root


def hierarchy_segments(
    accounts: Iterable[AccountSizing], pb: Playbook, now: dt.date | dt.datetime
) -> dict[str, AccountSegment]:
    """Every account's segment: the MAX segment of any account in its hierarchy (S6, S7).

    Each account is measured on its own count (no sums: child potential users never roll up);
    the global account decides unless an account below it is larger; ties go to the global.
    """
    seg = pb.segmentation
    scheme = seg.active
    by_id = {a.id: a for a in accounts}
    measures = {i: account_measure(a, pb, now) for i, a in by_id.items()}
    own = {i: segment_of(m.value, scheme, seg.unknown) for i, m in measures.items()}
    rank = {name: segment_rank(seg, name) for name in set(own.values())}
    roots = ultimate_parents({i: a.parent_id for i, a in by_id.items()})

    best: dict[str, str] = {}
    for i in sorted(by_id):  # sorted: ties between children go to the smallest id, in any input order
        top = roots[i]
        current = best.get(top, top)
        if rank[own[i]] > rank[own[current]]:
            best[top] = i
        else:
            best.setdefault(top, current)

    out: dict[str, AccountSegment] = {}
    for i, account in by_id.items():
        top = roots[i]
        decider = best[top]
        segment = own[decider]
        parent = account.parent_id if account.parent_id in by_id and account.parent_id != i else None
        out[i] = AccountSegment(
            account_id=i,
            segment=segment,
            own_segment=own[i],
            parent_segment=own[parent] if parent is not None else None,
            ultimate_parent_id=top,
            decided_by=decider,
            measure=measures[decider],
            own_measure=measures[i],
            why=_hierarchy_why(i, top, decider, segment, own[i], measures[decider], seg.unknown),
        )
    return out


def _hierarchy_why(
    account: str, top: str, decider: str, segment: str, own: str, measure: SourcedValue, unknown: str
) -> str:
    what = _FIELD_LABELS.get(measure.field, measure.field)
    if segment == unknown:
        return f"{unknown}: no account in the hierarchy of {top} has a {what} ({measure.why})"
    whose = "its own" if decider == account else f"{decider}'s"
    if decider == top:
        role = "the global account" if decider != account else "as the global account"
        basis = f"{segment} by {whose} {what} ({measure.why}), {role}"
    else:
        basis = f"{segment}, the largest segment in the hierarchy of {top}: {whose} {what} ({measure.why})"
    return basis if own == segment else f"{basis}; its own count alone would give {own}"


# --------------------------------------------------------------------------- leads (S5)


@dataclass(frozen=True)
class LeadSegment:
    """A lead's segment, the field that decided it (None: nothing did), and why."""

    segment: str
    field: str | None
    why: str


_NUMBER = r"(\d[\d,.\s]*\d|\d)"


def _number(text: str) -> int:
    return int(re.sub(r"[,.\s]", "", text))


def parse_developers_bucket(label: str | None) -> tuple[int, int | None] | None:
    """The (lowest, highest) developer count a bucket label means: "101-750", "5000+", "<100"."""
    if label is None or not label.strip():
        return None
    text = label.strip().replace("–", "-").replace("—", "-")
    if m := re.fullmatch(rf"{_NUMBER}\s*-\s*{_NUMBER}", text):
        low, high = _number(m[1]), _number(m[2])
        return (low, high) if low <= high else None
    if m := re.fullmatch(rf"{_NUMBER}\s*\+|(?:>=|≥)\s*{_NUMBER}|{_NUMBER}\s+(?:or|and)\s+(?:more|above|over)", text):
        return _number(next(g for g in m.groups() if g)), None
    if m := re.fullmatch(rf">\s*{_NUMBER}", text):
        return _number(m[1]) + 1, None
    if m := re.fullmatch(rf"(?:<|under|less than)\s*{_NUMBER}", text, re.IGNORECASE):
        return 1, max(_number(m[1]) - 1, 1)
    if m := re.fullmatch(_NUMBER, text):
        value = _number(m[1])
        return value, value
    return None


def lead_segment(
    pb: Playbook,
    *,
    developers_bucket: str | None = None,
    how_many_developers: int | None = None,
    employees: int | None = None,
    matched_account_segment: str | None = None,
) -> LeadSegment:
    """A lead's segment (S5): its matched account's when known, else the larger of its own answers.

    Under a potential-users scheme the answers are the Number of Developers bucket and "How many
    developers do you have?" (a bucket counts as its lowest value, at least 1); under an employees
    scheme, the lead's employee count.
    """
    seg = pb.segmentation
    unknown = seg.unknown
    if matched_account_segment and matched_account_segment != unknown:
        return LeadSegment(
            matched_account_segment, "matched_account", f"the matched account is {matched_account_segment}"
        )
    account_note = f"; the matched account is {unknown}" if matched_account_segment == unknown else ""

    answers: list[tuple[str, int, str]] = []  # (field, value, as written)
    ignored: list[str] = []
    if seg.active.measure == "potential_users":
        if developers_bucket is not None and developers_bucket.strip():
            bounds = parse_developers_bucket(developers_bucket)
            if bounds is None:
                ignored.append(f"Number of Developers bucket '{developers_bucket}' is not a range")
            else:
                answers.append(("developers_bucket", max(bounds[0], 1), f"bucket '{developers_bucket}'"))
        count = _count(how_many_developers, "how_many_developers")
        if count is not None:
            answers.append(("how_many_developers", count, f"How Many Developers {count:,}"))
    else:
        count = _count(employees, "employees")
        if count is not None:
            answers.append(("employees", count, f"{count:,} employees"))

    rated = [(segment_rank(seg, s := segment_of(v, seg.active, unknown)), s, f, w) for f, v, w in answers]
    if not rated or max(r[0] for r in rated) == 0:
        given = ", ".join(w for *_, w in rated) or "no size answer"
        why = f"{unknown}: {given}" + "".join(f"; {i}" for i in ignored)
        return LeadSegment(unknown, None, why + account_note)
    # The larger answer decides; on a tie the exact count (listed last) is named.
    rank, segment, field, written = max(reversed(rated), key=lambda r: r[0])
    others = [f"{w} gives {s}" for _, s, f, w in rated if f != field]
    why = f"{segment} by {written}" + (f" (the larger answer; {', '.join(others)})" if others else "")
    return LeadSegment(segment, field, why + "".join(f"; {i}" for i in ignored) + account_note)
