"""Decides whether a record is Active or passive (S10), until when, and whether it may be engaged.

Seeds 001 and 003: a hand-raising activity (Enterprise or GitLab.com trial, a high-intent live
webcast or demo, web chat) makes a record 'Active' for at least 60 days from it; a trial keeps it
Active for the trial's whole length plus 30 days after its end date. Records whose Initial Source
is GitLab.com are not engaged unless Active or after Contact Us, Demo, Webcast or Content.
Which activities and sources those are, and the day counts, are playbook data (`activity:` and the
channels' `hand_raising` / `trial_days`). Pure: the caller passes `now`; a job re-runs
`active_until` as time passes and stores `until` as the record's active-until.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from leadflow.playbook.schema import ActivityDef, Playbook


class Activity(NamedTuple):
    """Something a person did: an activity type (a channel name or one of `activity.types`) and when."""

    type: str
    at: dt.datetime


@dataclass(frozen=True)
class ActivityRules:
    """The S10 rules of one playbook, with the channels' `hand_raising` and `trial_days` folded in."""

    active_days: int = 60
    hand_raising: frozenset[str] = frozenset()
    trial_days: Mapping[str, int] = field(default_factory=dict)
    trial_tail_days: int = 30
    not_to_engage_initial_sources: tuple[str, ...] = ()
    engage_after_activities: frozenset[str] = frozenset()

    @classmethod
    def from_playbook(cls, pb: Playbook) -> ActivityRules:
        """Channels with `hand_raising: true` / `trial_days`, plus what the `activity:` section adds."""
        section = pb.activity or ActivityDef()
        trials = {c.name: c.trial_days for c in pb.channels if c.trial_days}
        trials.update(section.trial_days)
        return cls(
            active_days=section.active_days,
            hand_raising=frozenset({c.name for c in pb.channels if c.hand_raising} | set(section.hand_raising)),
            trial_days=trials,
            trial_tail_days=section.trial_tail_days,
            not_to_engage_initial_sources=tuple(section.not_to_engage_initial_sources),
            engage_after_activities=frozenset(section.engage_after_activities),
        )


@dataclass(frozen=True)
class ActiveResult:
    """Active or passive at `now`; `until` is the end of the latest Active window (None: never Active)."""

    active: bool
    until: dt.datetime | None
    why: str


class NotToEngage(NamedTuple):
    """`flag` true: the record must not be engaged, prospected or targeted (S10)."""

    flag: bool
    why: str


def _day(at: dt.datetime) -> str:
    return at.date().isoformat()


def active_until(
    rules: ActivityRules,
    activities: Iterable[tuple[str, dt.datetime]],
    trials: Sequence[tuple[dt.datetime, dt.datetime]],
    now: dt.datetime,
) -> ActiveResult:
    """Active at `now` (the window's last instant included) and until when (S10).

    A hand-raising activity opens a window of `active_days`. `trials` are the known (start, end) of the
    record's trials, which may have been extended: each is Active until end + `trial_tail_days`. Without
    them, a trial activity is taken to last its channel's `trial_days`. Anything after `now` is ignored.
    """
    windows: list[tuple[dt.datetime, str]] = []
    for kind, at in activities:
        if at > now:
            continue
        if kind in rules.hand_raising:
            until = at + dt.timedelta(days=rules.active_days)
            windows.append((until, f"{kind} on {_day(at)} is hand-raising: Active {rules.active_days} days"))
        if not trials and kind in rules.trial_days:
            days = rules.trial_days[kind]
            until = at + dt.timedelta(days=days + rules.trial_tail_days)
            windows.append(
                (until, f"{kind} on {_day(at)}: a {days}-day trial plus {rules.trial_tail_days} days after it ends")
            )
    for start, end in trials:
        if end < start:
            raise ValueError(f"a trial cannot end ({end.isoformat()}) before it starts ({start.isoformat()})")
        if start > now:
            continue
        until = end + dt.timedelta(days=rules.trial_tail_days)
        windows.append(
            (until, f"trial {_day(start)} to {_day(end)}: its length plus {rules.trial_tail_days} days after it ends")
        )
    if not windows:
        return ActiveResult(active=False, until=None, why="passive: no hand-raising activity or trial")
    until, because = max(windows, key=lambda w: w[0])
    if now <= until:
        return ActiveResult(active=True, until=until, why=f"Active until {until.isoformat()}: {because}")
    return ActiveResult(active=False, until=until, why=f"passive since {until.isoformat()}: {because}")


def not_to_engage(
    rules: ActivityRules,
    initial_source: str | None,
    activities: Iterable[tuple[str, dt.datetime]],
    active: bool,
    *,
    now: dt.datetime | None = None,
) -> NotToEngage:
    """Whether a record of a not-to-engage Initial Source (GitLab.com) must be left alone (S10).

    It may be engaged while Active, or once it has taken one of `engage_after_activities` (at or before
    `now` when `now` is given).
    """
    source = (initial_source or "").strip()
    listed = {s.casefold() for s in rules.not_to_engage_initial_sources}
    if source.casefold() not in listed:
        return NotToEngage(False, f"Initial Source '{source or 'none'}' is not on the not-to-engage list")
    if active:
        return NotToEngage(False, f"Initial Source {source}, but the record is Active")
    taken = sorted(
        (at, kind) for kind, at in activities if kind in rules.engage_after_activities and (now is None or at <= now)
    )
    if taken:
        at, kind = taken[-1]
        return NotToEngage(False, f"Initial Source {source}, but it took {kind} on {_day(at)}")
    return NotToEngage(
        True,
        f"Initial Source {source} and no hand-raising activity: not to be engaged, prospected or targeted",
    )
