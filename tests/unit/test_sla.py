"""W3 (and R4/R6's one business day): SLA due times on a region's calendar - office hours in its time zone,
working days, public holidays of its country (or the record's), and daylight-saving changes.

Calendars come from the default playbook's `routing.sla_calendars`; a few are built by hand.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.domain.sla import Calendar, due, due_explained, region_calendar
from leadflow.errors import PlaybookError
from leadflow.playbook.load import cached_playbook, default_playbook_path, load_playbook, parse_playbook
from leadflow.playbook.schema import Playbook

BASE: dict[str, Any] = yaml.safe_load(default_playbook_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pb() -> Playbook:
    return load_playbook(None)


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- one business day


def test_W3_contract_example_in_office_hours_is_due_at_the_same_time_next_business_day(pb: Playbook) -> None:
    """CONTRACTS §1: a Contact Us at 2026-03-02T15:00Z (a Monday) from Germany is due 2026-03-03T15:00Z."""
    assert due(utc(2026, 3, 2, 15, 0), 1, region_calendar(pb, "EMEA", "DE")) == utc(2026, 3, 3, 15, 0)
    assert due(utc(2026, 3, 2, 15, 0), 1, region_calendar(pb, "US East", "US")) == utc(2026, 3, 3, 15, 0)


def test_R4_contact_us_and_R6_professional_services_have_a_one_business_day_sla(pb: Playbook) -> None:
    assert pb.routing is not None
    assert pb.routing.channel_sla["contact_us"].business_days == 1
    assert pb.routing.channel_sla["professional_services"].business_days == 1


def test_W3_friday_in_office_hours_is_due_monday_at_the_same_time(pb: Playbook) -> None:
    # Friday 2026-03-13 11:00 New York (EDT) -> Monday 11:00
    assert due(utc(2026, 3, 13, 15, 0), 1, region_calendar(pb, "US East", "US")) == utc(2026, 3, 16, 15, 0)


def test_W3_friday_evening_is_due_at_the_close_of_monday(pb: Playbook) -> None:
    # Friday 2026-03-13 20:00 New York: the clock starts Monday 09:00, one business day ends Monday 17:00 EDT
    found = due_explained(utc(2026, 3, 14, 0, 0), 1, region_calendar(pb, "US East", "US"))
    assert found.at == utc(2026, 3, 16, 21, 0)
    assert "outside office hours" in found.why and "skipped Sat, Sun" in found.why


def test_W3_before_opening_is_due_at_the_close_of_the_same_day(pb: Playbook) -> None:
    # Tuesday 2026-03-03 07:00 London
    assert due(utc(2026, 3, 3, 7, 0), 1, region_calendar(pb, "EMEA", "GB")) == utc(2026, 3, 3, 17, 0)


def test_W3_a_weekend_request_is_due_at_the_close_of_monday(pb: Playbook) -> None:
    assert due(utc(2026, 3, 7, 12, 0), 1, region_calendar(pb, "EMEA", "GB")) == utc(2026, 3, 9, 17, 0)


def test_W3_two_business_days_skip_the_weekend(pb: Playbook) -> None:
    # Thursday 2026-03-05 14:00 London + 2 -> Monday 14:00
    assert due(utc(2026, 3, 5, 14, 0), 2, region_calendar(pb, "EMEA", "GB")) == utc(2026, 3, 9, 14, 0)


# --------------------------------------------------------------------------- holidays


def test_W3_a_holiday_in_one_region_is_a_working_day_in_another(pb: Playbook) -> None:
    """Good Friday and Easter Monday 2026 are English bank holidays, not U.S. federal ones."""
    start = utc(2026, 4, 2, 14, 0)  # Thursday: 15:00 in London (BST), 10:00 in New York (EDT)
    emea = due_explained(start, 1, region_calendar(pb, "EMEA", "GB"))
    assert emea.at == utc(2026, 4, 7, 14, 0)  # Tuesday 15:00 BST
    assert "Good Friday" in emea.why and "Easter Monday" in emea.why
    assert due(start, 1, region_calendar(pb, "US East", "US")) == utc(2026, 4, 3, 14, 0)  # Friday 10:00 EDT


def test_W3_a_us_holiday_is_skipped_in_us_regions_only(pb: Playbook) -> None:
    start = utc(2026, 11, 25, 15, 0)  # Wednesday before Thanksgiving: 10:00 New York, 15:00 London
    found = due_explained(start, 1, region_calendar(pb, "US East", "US"))
    assert found.at == utc(2026, 11, 27, 15, 0)  # Friday 10:00 EST
    assert "Thanksgiving" in found.why
    assert due(start, 1, region_calendar(pb, "EMEA", "GB")) == utc(2026, 11, 26, 15, 0)  # Thursday 15:00 GMT


def test_W3_a_multi_country_region_uses_the_records_own_country_holidays(pb: Playbook) -> None:
    """1 May 2026 (a Friday) is Labour Day in Germany, a working day in England."""
    start = utc(2026, 4, 30, 12, 0)  # Thursday 13:00 London
    assert due(start, 1, region_calendar(pb, "EMEA", "DE")) == utc(2026, 5, 4, 12, 0)  # Monday 13:00
    assert due(start, 1, region_calendar(pb, "EMEA", "GB")) == utc(2026, 5, 1, 12, 0)  # Friday 13:00
    assert region_calendar(pb, "EMEA", "DE").holiday(dt.date(2026, 5, 1)) is not None


def test_W3_an_unknown_record_country_keeps_the_regions_holidays(pb: Playbook) -> None:
    assert region_calendar(pb, "EMEA", "ZZ").holiday_country == "GB"
    assert region_calendar(pb, "EMEA", None).holiday_country == "GB"


# --------------------------------------------------------------------------- daylight saving


def test_W3_dst_start_keeps_the_local_clock_time(pb: Playbook) -> None:
    """New York moves to EDT on Sunday 2026-03-08: Friday 15:00 EST is due Monday 15:00 EDT, an hour earlier in UTC."""
    assert due(utc(2026, 3, 6, 20, 0), 1, region_calendar(pb, "US East", "US")) == utc(2026, 3, 9, 19, 0)


def test_W3_dst_in_europe_and_not_yet_in_america(pb: Playbook) -> None:
    """London moves to BST on 2026-03-29, New York already did on 03-08."""
    assert due(utc(2026, 3, 27, 15, 0), 1, region_calendar(pb, "EMEA", "GB")) == utc(2026, 3, 30, 14, 0)
    assert due(utc(2026, 3, 27, 15, 0), 1, region_calendar(pb, "US East", "US")) == utc(2026, 3, 30, 15, 0)


def test_W3_dst_end_keeps_the_local_clock_time(pb: Playbook) -> None:
    # London back to GMT on Sunday 2026-10-25: Friday 10:00 BST (09:00Z) -> Monday 10:00 GMT (10:00Z)
    assert due(utc(2026, 10, 23, 9, 0), 1, region_calendar(pb, "EMEA", "GB")) == utc(2026, 10, 26, 10, 0)


# --------------------------------------------------------------------------- calendars


def test_W3_a_region_without_its_own_calendar_uses_the_default(pb: Playbook) -> None:
    cal = region_calendar(pb, "NCSA", None)
    assert (cal.name, cal.timezone, cal.holiday_country) == ("default", "UTC", None)
    assert region_calendar(pb, None, None).name == "default"


def test_W3_a_playbook_without_calendars_counts_monday_to_friday_nine_to_five_utc() -> None:
    legacy = load_playbook(default_playbook_path().parent.parent.parent.parent / "playbooks" / "gitlab-legacy.yaml")
    cal = region_calendar(legacy, "EMEA", "DE")
    assert (cal.timezone, cal.opens, cal.closes, cal.holiday_country) == ("UTC", dt.time(9), dt.time(17), None)


def test_W3_custom_working_days_and_hours() -> None:
    cal = Calendar("gulf", timezone="Asia/Dubai", opens=dt.time(8), closes=dt.time(16),
                   working_days=frozenset({0, 1, 2, 3, 6}))  # Sunday to Thursday
    # Thursday 2026-03-05 15:00 Dubai (11:00Z) + 1 -> Sunday 15:00 (Friday and Saturday are the weekend)
    assert due(utc(2026, 3, 5, 11, 0), 1, cal) == utc(2026, 3, 8, 11, 0)


def test_W3_bad_arguments_are_refused() -> None:
    cal = Calendar("utc")
    with pytest.raises(ValueError, match="timezone-aware"):
        due(dt.datetime(2026, 3, 2, 15, 0), 1, cal)
    with pytest.raises(ValueError, match="at least 1"):
        due(utc(2026, 3, 2, 15, 0), 0, cal)
    with pytest.raises(ValueError, match="opens"):
        Calendar("x", opens=dt.time(17), closes=dt.time(9))


def calendar_issues(calendars: dict[str, Any]) -> list[tuple[str, str]]:
    data = copy.deepcopy(BASE)
    data["routing"]["sla_calendars"] = calendars
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(yaml.safe_dump(data, sort_keys=False), "broken.yaml")
    return caught.value.issues


@pytest.mark.parametrize(
    ("calendars", "path", "words"),
    [
        ({"Atlantis": {"timezone": "UTC"}}, "routing.sla_calendars.Atlantis", "unknown region"),
        ({"EMEA": {"timezone": "Europe/Nowhere"}}, "routing.sla_calendars.EMEA.timezone", "unknown time zone"),
        ({"EMEA": {"timezone": "UTC", "holidays": {"country": "XX"}}}, "routing.sla_calendars.EMEA.holidays",
         "no calendar for country"),
        ({"EMEA": {"timezone": "UTC", "holidays": {"country": "GB", "subdivision": "XYZ"}}},
         "routing.sla_calendars.EMEA.holidays", "not a subdivision"),
        ({"EMEA": {"timezone": "UTC", "hours": "17:00-09:00"}}, "routing.sla_calendars.EMEA.hours", "open before"),
        ({"EMEA": {"timezone": "UTC", "working_days": ["Funday"]}}, "routing.sla_calendars.EMEA.working_days",
         "Mon"),
    ],
)
def test_W3_playbook_check_refuses_a_broken_calendar_with_its_yaml_path(
    calendars: dict[str, Any], path: str, words: str
) -> None:
    issues = calendar_issues(calendars)
    assert any(p.startswith(path) and words in reason for p, reason in issues), issues


# --------------------------------------------------------------------------- properties

CALENDARS = ["US East", "US West", "EMEA", "APAC", "LATAM", "Public Sector", None]


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 12, 31),
                       timezones=st.just(dt.UTC)),
    days=st.integers(min_value=1, max_value=5),
    region=st.sampled_from(CALENDARS),
)
def test_W3_due_is_later_within_office_hours_of_a_business_day(
        start: dt.datetime, days: int, region: str | None) -> None:
    cal = region_calendar(cached_playbook(None), region, None)
    found = due(start, days, cal)
    local = found.astimezone(cal.zone)
    assert found > start
    assert cal.is_business_day(local.date())
    assert cal.opens < local.time() <= cal.closes or local.time() == cal.opens
    # at least `days` business days of calendar time pass: never due on the day it arrived plus less
    assert (local.date() - start.astimezone(cal.zone).date()).days >= days - 1


@settings(max_examples=200, deadline=None)
@given(
    a=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 12, 31), timezones=st.just(dt.UTC)),
    gap=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=10)),
)
def test_W3_a_later_request_is_never_due_earlier(a: dt.datetime, gap: dt.timedelta) -> None:
    cal = region_calendar(cached_playbook(None), "EMEA", "GB")
    assert due(a, 1, cal) <= due(a + gap, 1, cal)
