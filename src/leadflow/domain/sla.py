"""Decides when a follow-up is due: business-day arithmetic on a region's calendar (W3).

A calendar is a region's office: its time zone, working days, opening hours and the public holidays
it skips (from the `holidays` package, by country and subdivision). `due(start, n, calendar)` counts
`n` business days of working time from `start`:

* a start inside opening hours is due at the same local clock time `n` business days later
  (Monday 16:00 + 1 = Tuesday 16:00; Friday 16:00 + 1 = Monday 16:00);
* a start outside them (before opening, after closing, a weekend or holiday) starts the clock at the
  next opening, so it is due at the close of the `n`-th business day (Friday 20:00 + 1 = Monday 17:00).

Arithmetic is done in local wall time and only then turned into UTC, so a daylight-saving change
keeps the clock time (15:00 New York before and after the March change) and shifts the UTC hour.
Pure: no clock, no store; the holiday tables are the package's data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from leadflow.playbook.schema import DEFAULT_CALENDAR, WEEKDAYS, Playbook, SlaCalendarDef

_MAX_DAYS_SEARCHED = 366  # a calendar that never works (every day a holiday) is refused, not looped over


@lru_cache(maxsize=64)
def _holiday_table(country: str, subdivision: str | None) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision)


@dataclass(frozen=True)
class Calendar:
    """When a region works (W3): time zone, working days (0 = Monday), opening hours, holidays."""

    name: str
    timezone: str = "UTC"
    opens: dt.time = dt.time(9, 0)
    closes: dt.time = dt.time(17, 0)
    working_days: frozenset[int] = frozenset(range(5))
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.opens >= self.closes:
            raise ValueError(f"calendar {self.name}: opens {self.opens} is not before closes {self.closes}")
        if not self.working_days:
            raise ValueError(f"calendar {self.name}: no working days")
        object.__setattr__(self, "_zone", ZoneInfo(self.timezone))

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    def holiday(self, day: dt.date) -> str | None:
        """The public holiday on `day`, by name, or None."""
        if self.holiday_country is None:
            return None
        name = _holiday_table(self.holiday_country, self.holiday_subdivision).get(day)
        return str(name) if name else None

    def is_business_day(self, day: dt.date) -> bool:
        return day.weekday() in self.working_days and self.holiday(day) is None

    def next_business_day(self, day: dt.date) -> dt.date:
        """The first business day after `day`."""
        for offset in range(1, _MAX_DAYS_SEARCHED + 1):
            candidate = day + dt.timedelta(days=offset)
            if self.is_business_day(candidate):
                return candidate
        raise ValueError(f"calendar {self.name} has no business day in a year after {day}")

    def at(self, day: dt.date, clock: dt.time) -> dt.datetime:
        """`clock` on `day` in the calendar's zone, as UTC."""
        return dt.datetime.combine(day, clock, tzinfo=self._zone).astimezone(dt.UTC)

    def describe(self) -> str:
        ordered = sorted(self.working_days)
        if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
            days = f"{WEEKDAYS[ordered[0]]}-{WEEKDAYS[ordered[-1]]}"
        else:
            days = ", ".join(WEEKDAYS[d] for d in ordered)
        where = f"{self.holiday_country}{'-' + self.holiday_subdivision if self.holiday_subdivision else ''}"
        hols = f", {where} holidays" if self.holiday_country else ""
        return f"{self.name} calendar ({self.timezone}, {days} {self.opens:%H:%M}-{self.closes:%H:%M}{hols})"


@dataclass(frozen=True)
class Due:
    """A deadline and why it falls there."""

    at: dt.datetime
    why: str


def due(start: dt.datetime, business_days: int, calendar: Calendar) -> dt.datetime:
    """The moment `business_days` business days of `calendar` after `start` (UTC)."""
    return due_explained(start, business_days, calendar).at


def due_explained(start: dt.datetime, business_days: int, calendar: Calendar) -> Due:
    """`due` with a sentence saying which days were counted and which were skipped (weekend, holiday)."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if business_days < 1:
        raise ValueError("business_days must be at least 1")
    local = start.astimezone(calendar.zone)
    day, clock = local.date(), local.time().replace(tzinfo=None)
    skipped: list[str] = []
    in_hours = calendar.is_business_day(day) and calendar.opens <= clock < calendar.closes
    if not in_hours:
        if not calendar.is_business_day(day) or clock >= calendar.closes:
            skipped += _skipped(calendar, day, calendar.next_business_day(day))
            day = calendar.next_business_day(day)
        remaining = business_days - 1  # the clock starts at opening: the n-th day ends at its close
        clock = calendar.closes
        start_words = f"received outside office hours ({local:%a %Y-%m-%d %H:%M} local): the clock starts at opening"
    else:
        remaining = business_days
        start_words = f"received {local:%a %Y-%m-%d %H:%M} local"
    for _ in range(remaining):
        following = calendar.next_business_day(day)
        skipped += _skipped(calendar, day, following)
        day = following
    at = calendar.at(day, clock)
    why = (
        f"{business_days} business day(s) on the {calendar.describe()}: {start_words}; "
        f"due {day:%a %Y-%m-%d} {clock:%H:%M}"
    )
    if skipped:
        why += " (skipped " + ", ".join(skipped) + ")"
    return Due(at, why)


def _skipped(calendar: Calendar, day: dt.date, following: dt.date) -> list[str]:
    out = []
    for offset in range(1, (following - day).days):
        other = day + dt.timedelta(days=offset)
        name = calendar.holiday(other)
        if name is not None and other.weekday() in calendar.working_days:
            out.append(f"{other:%Y-%m-%d} {name}")
        elif other.weekday() not in calendar.working_days:
            out.append(f"{other:%a}")
    return out


# --------------------------------------------------------------------------- from the playbook


def calendar_of(name: str, spec: SlaCalendarDef, country_alpha2: str | None = None) -> Calendar:
    """The calendar a playbook entry describes; with `record_country`, a record's own country's holidays."""
    opens, closes = spec.opening_hours()
    country = subdivision = None
    if spec.holidays is not None:
        country, subdivision = spec.holidays.country, spec.holidays.subdivision
        own = (country_alpha2 or "").upper()
        if spec.holidays.record_country and own and own != country and own in holidays.list_supported_countries():
            country, subdivision = own, None
    return Calendar(
        name=name,
        timezone=spec.timezone,
        opens=opens,
        closes=closes,
        working_days=frozenset(WEEKDAYS.index(d) for d in spec.working_days),
        holiday_country=country,
        holiday_subdivision=subdivision,
    )


def region_calendar(pb: Playbook, region: str | None, country_alpha2: str | None = None) -> Calendar:
    """The SLA calendar of `region` (else the playbook's `default` calendar, else UTC Mon-Fri 09-17)."""
    calendars = pb.routing.sla_calendars if pb.routing else {}
    if region is not None and region in calendars:
        return calendar_of(region, calendars[region], country_alpha2)
    if DEFAULT_CALENDAR in calendars:
        return calendar_of(DEFAULT_CALENDAR, calendars[DEFAULT_CALENDAR], country_alpha2)
    return Calendar(name=DEFAULT_CALENDAR)
