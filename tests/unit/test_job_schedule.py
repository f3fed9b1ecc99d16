"""W8, W2, I6: when each job's period starts, in its own time zone, across daylight-saving changes."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from leadflow.playbook.schema import JobDef
from leadflow.services.jobs import next_run, period_of

UTC = dt.UTC
EAST = JobDef(name="inquiry-clean-up", at="22:30", timezone="America/New_York")
SPAM = JobDef(name="spam-deletion", at="00:05", timezone="America/Los_Angeles")
GAP = JobDef(name="rescore", at="02:00", timezone="America/Los_Angeles")  # skipped on 8 March 2026
FOLD = JobDef(name="active-until", at="01:00", timezone="America/Los_Angeles")  # repeated on 1 November 2026


def u(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_W2_the_22_30_eastern_run_moves_an_hour_in_utc_when_the_clocks_spring_forward() -> None:
    assert next_run(EAST, u(2026, 3, 7, 12)) == u(2026, 3, 8, 3, 30)  # 22:30 EST
    assert next_run(EAST, u(2026, 3, 8, 12)) == u(2026, 3, 9, 2, 30)  # 22:30 EDT
    assert period_of(EAST, u(2026, 3, 9, 2, 29)) == "2026-03-07"
    assert period_of(EAST, u(2026, 3, 9, 2, 30)) == "2026-03-08"


def test_W2_the_22_30_eastern_run_moves_back_when_the_clocks_fall_back() -> None:
    assert next_run(EAST, u(2026, 10, 31, 12)) == u(2026, 11, 1, 2, 30)  # 22:30 EDT
    assert next_run(EAST, u(2026, 11, 1, 12)) == u(2026, 11, 2, 3, 30)  # 22:30 EST


def test_I6_the_00_05_pacific_spam_deletion_follows_both_dst_changes() -> None:
    assert [next_run(SPAM, u(2026, 3, d, 12)) for d in (7, 8)] == [u(2026, 3, 8, 8, 5), u(2026, 3, 9, 7, 5)]
    assert [next_run(SPAM, u(2026, 10, d, 12)) for d in (31,)] == [u(2026, 11, 1, 7, 5)]
    assert next_run(SPAM, u(2026, 11, 1, 12)) == u(2026, 11, 2, 8, 5)


def test_W8_a_time_skipped_by_the_spring_change_runs_when_the_clock_jumps() -> None:
    # 02:00 does not exist in Los Angeles on 8 March 2026: 01:59 PST is followed by 03:00 PDT (10:00 UTC)
    assert next_run(GAP, u(2026, 3, 8, 0)) == u(2026, 3, 8, 10)
    assert period_of(GAP, u(2026, 3, 8, 9, 59)) == "2026-03-07"
    assert period_of(GAP, u(2026, 3, 8, 10)) == "2026-03-08"
    assert next_run(GAP, u(2026, 3, 8, 10)) == u(2026, 3, 9, 9)  # 02:00 PDT


def test_W8_a_time_repeated_by_the_autumn_change_is_one_period() -> None:
    first, second = u(2026, 11, 1, 8), u(2026, 11, 1, 9)  # 01:00 PDT, then 01:00 PST
    assert next_run(FOLD, u(2026, 11, 1, 0)) == first
    assert period_of(FOLD, first) == period_of(FOLD, second) == "2026-11-01"
    assert next_run(FOLD, first) == u(2026, 11, 2, 9)  # not the repeated 01:00 the same day


@given(st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 12, 31), timezones=st.just(UTC)),
       st.sampled_from([EAST, SPAM, GAP, FOLD, JobDef(name="hourly", at="00:15", timezone="Europe/London",
                                                       every="hour")]))
def test_W8_the_next_run_is_the_first_instant_of_the_next_period(now: dt.datetime, definition: JobDef) -> None:
    nxt = next_run(definition, now)
    assert nxt > now
    assert period_of(definition, nxt) != period_of(definition, now)
    assert period_of(definition, nxt - dt.timedelta(seconds=1)) == period_of(definition, now)


def test_W8_an_hourly_job_runs_in_both_copies_of_the_hour_repeated_in_autumn() -> None:
    hourly = JobDef(name="hourly", at="00:15", timezone="Europe/London", every="hour")
    # London falls back at 01:00 UTC on 31 October 2027: 01:15 BST (00:15 UTC), then 01:15 GMT (01:15 UTC)
    assert period_of(hourly, u(2027, 10, 31, 1, 0)) == "2027-10-31T01:15+0100"
    assert next_run(hourly, u(2027, 10, 31, 0, 15)) == u(2027, 10, 31, 1, 15)
    assert period_of(hourly, u(2027, 10, 31, 1, 15)) == "2027-10-31T01:15+0000"
    assert next_run(hourly, u(2027, 10, 31, 1, 15)) == u(2027, 10, 31, 2, 15)
