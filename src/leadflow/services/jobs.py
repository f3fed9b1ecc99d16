"""Named jobs, run by hand or by the scheduler, each at most once per period (W8).

A job is a function `(store, playbook, now, run_id) -> summary`. `run_once` claims the job's period
(a unique row in `job_runs`) before doing anything, so running it again for the same period, or
two runners at once, does the work once. The period is the job's local date (or hour) in its time
zone, taken from the playbook's `jobs` table.

Two runners never work on one job at the same time: each run holds the job's lock for its whole
length -- on PostgreSQL a session advisory lock (`pg_try_advisory_lock`) on a connection of its
own, on SQLite an exclusive `flock` on a lock file beside the database (SQLite is embedded: every
runner is on this machine). Both locks are released by the operating system or the server when the
runner's process dies, so a claim left unfinished by a dead runner is recognised (its lock is free)
and taken over, while a claim whose runner still holds the lock is reported as running and skipped.

The scheduler (`tick`, `serve`) is a plain loop over `period_of`, not a cron library: the question
"is this job due?" is exactly "has its current period no finished run in `job_runs`?", which the
database answers for every scheduler and every restart alike. After downtime the current period is
run once; the missed ones are not replayed one by one (each job body works from its previous run,
so one run covers the gap). Local times come from `zoneinfo`, so daylight-saving changes move the
UTC instant and never the local time; a local time skipped by the spring change runs when the
clock reaches the next existing time, and one repeated by the autumn change runs once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select, text, tuple_
from sqlalchemy.exc import IntegrityError

from leadflow.errors import InvalidInput
from leadflow.playbook.schema import JobDef, Playbook
from leadflow.store.db import Store
from leadflow.store.models import JobRun

JobFn = Callable[[Store, Playbook, dt.datetime, int], dict[str, Any]]
REGISTRY: dict[str, JobFn] = {}
LOCK_NAMESPACE = 0x1EAD  # first key of leadflow's PostgreSQL advisory locks; the second is the job's hash
log = logging.getLogger("leadflow.jobs")


def job(name: str) -> Callable[[JobFn], JobFn]:
    """Register a job body under the playbook's job name."""

    def register(fn: JobFn) -> JobFn:
        REGISTRY[name] = fn
        return fn

    return register


def load_job_bodies() -> None:
    """Import every service module, so that each `@job` body is registered (a body registers itself on
    import); a new job module needs no list to be kept up to date."""
    import importlib
    import pkgutil

    import leadflow.services as services

    for module in pkgutil.iter_modules(services.__path__):
        importlib.import_module(f"{services.__name__}.{module.name}")


def job_def(pb: Playbook, name: str) -> JobDef:
    found = next((j for j in pb.jobs if j.name == name), None)
    if found is None:
        raise InvalidInput(f"unknown job '{name}'; jobs: {', '.join(j.name for j in pb.jobs)}", "name")
    return found


def _at(definition: JobDef) -> tuple[int, int]:
    hour, minute = (int(x) for x in definition.at.split(":"))
    return hour, minute


def _hour_start(definition: JobDef, now: dt.datetime) -> dt.datetime:
    """The last instant (UTC) at or before `now` whose local minute is the job's, for hourly jobs.

    Worked out on instants, not wall clocks: the hour repeated by the autumn change has two
    distinct starts (01:15 summer time, then 01:15 winter time), and each is a period.
    """
    _, minute = _at(definition)
    local = now.astimezone(ZoneInfo(definition.timezone))
    start = local.replace(minute=minute, second=0, microsecond=0).astimezone(dt.UTC)
    if start > now:
        start -= dt.timedelta(hours=1)
    return start


def period_of(definition: JobDef, now: dt.datetime) -> str:
    """The period a run at `now` belongs to: the last scheduled time at or before `now`, local.

    Aware datetimes with one tzinfo compare by wall clock, so the comparison is in local time.
    """
    local = now.astimezone(ZoneInfo(definition.timezone))
    hour, minute = _at(definition)
    scheduled = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if definition.every == "hour":
        return _hour_start(definition, now).astimezone(local.tzinfo).strftime("%Y-%m-%dT%H:%M%z")
    if scheduled > local:
        scheduled -= dt.timedelta(days=1)
    return scheduled.strftime("%Y-%m-%d")


def next_run(definition: JobDef, now: dt.datetime) -> dt.datetime:
    """The first instant (UTC) after `now` at which a new period of the job begins.

    A local time in the spring gap resolves (fold=0) to the instant the clocks jump, which is when
    `period_of` moves on; a repeated autumn time resolves to its first occurrence.
    """
    zone = ZoneInfo(definition.timezone)
    current = period_of(definition, now)
    if definition.every == "hour":  # in UTC instants: a repeated autumn hour is an hour of its own
        start = _hour_start(definition, now)
        for hours in range(1, 4):
            instant = start + dt.timedelta(hours=hours)
            if instant > now and period_of(definition, instant) != current:
                return instant
        return start + dt.timedelta(hours=4)
    local = now.astimezone(zone)
    hour, minute = _at(definition)
    step = dt.timedelta(hours=1) if definition.every == "hour" else dt.timedelta(days=1)
    base = local.replace(minute=minute, second=0, microsecond=0, fold=0)
    if definition.every == "day":
        base = base.replace(hour=hour)
    candidate = base
    for _ in range(4):  # at most a step or two ahead (an hour skipped or repeated by a DST change)
        wall = dt.datetime.combine(candidate.date(), candidate.time(), tzinfo=zone)
        instant = wall.astimezone(dt.UTC)
        if instant > now and period_of(definition, instant) != current:
            return instant
        candidate = candidate + step
    return (base + 2 * step).astimezone(dt.UTC)


# --------------------------------------------------------------------------- the job lock


def _sqlite_path(store: Store) -> Path | None:
    database = store.engine.url.database
    if store.engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


@contextlib.contextmanager
def job_lock(store: Store, name: str) -> Iterator[bool]:
    """Hold job `name`'s lock for the block if no other runner holds it; yields whether it was taken.

    Never waits: a runner that finds the lock taken skips the job and tries again on its next tick.
    """
    if store.engine.dialect.name == "postgresql":
        key = {"ns": LOCK_NAMESPACE, "job": zlib.crc32(name.encode()) - 2**31}  # an int4 from the name
        with store.engine.connect() as conn:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:ns, :job)"), key).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:ns, :job)"), key)
                    conn.commit()
        return
    path = _sqlite_path(store)
    if path is None:  # an in-memory database: one process, nothing to share
        yield True
        return
    import fcntl

    lock_file = path.with_name(f"{path.name}.job-{name}.lock")
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- one run


Status = Literal["ran", "already", "busy"]


@dataclass(frozen=True)
class RunOutcome:
    """What `run_job` did: ran the period, found it already done, or found another runner on it."""

    job: str
    period: str
    status: Status
    text: str
    result: dict[str, Any] = field(default_factory=dict)


def run_job(store: Store, pb: Playbook, name: str, now: dt.datetime) -> RunOutcome:
    """Run job `name` for the period containing `now` unless that period already ran (or is running)."""
    definition = job_def(pb, name)
    body = REGISTRY.get(name)
    if body is None:
        raise InvalidInput(f"job '{name}' is in the playbook but leadflow has no such job", "name")
    period = period_of(definition, now)
    with job_lock(store, name) as locked:
        if not locked:
            return RunOutcome(name, period, "busy", f"{name}: another runner is running this job now; skipped")
        claimed = _claim(store, name, period, now)
        if isinstance(claimed, RunOutcome):
            return claimed
        run_id = claimed
        try:
            result = body(store, pb, now, run_id)
        except Exception:
            # a failed run releases its period, so the next run does the work (W8) instead of "already ran"
            with store.uow() as uow:
                claim = uow.session.get(JobRun, run_id)
                if claim is not None:
                    uow.session.delete(claim)
                uow.commit()
            raise
        with store.uow() as uow:
            row = uow.session.get(JobRun, run_id)
            assert row is not None
            row.finished_at = now
            row.result = result
            uow.commit()
    return RunOutcome(name, period, "ran", f"{name}: period {period}: {result}", result)


def _claim(store: Store, name: str, period: str, now: dt.datetime) -> int | RunOutcome:
    """The id of this runner's claim on (name, period), or why there is nothing to do.

    Called with the job's lock held: an unfinished claim found now was left by a runner that died
    (a live one would hold the lock), so it is taken over rather than left to block the period.
    """
    with store.uow() as uow:
        stmt = select(JobRun).where(JobRun.job == name, JobRun.period == period)
        done = uow.session.scalars(stmt).first()
        if done is not None and done.finished_at is not None:
            return RunOutcome(name, period, "already", _already(name, period, done), dict(done.result or {}))
        if done is not None:
            log.warning("%s: taking over period %s, claimed at %s by a runner that stopped", name, period,
                        done.started_at)
            done.started_at = now
            uow.commit()
            return done.id
        run = JobRun(job=name, period=period, started_at=now, result={})
        uow.session.add(run)
        try:
            uow.commit()
        except IntegrityError:  # a runner without the lock (an older version) claimed it meanwhile
            uow.rollback()
            found = uow.session.scalars(stmt).one()
            return RunOutcome(name, period, "already", _already(name, period, found), dict(found.result or {}))
        return run.id


def _already(name: str, period: str, done: JobRun) -> str:
    return f"{name}: period {period} already ran at {done.started_at:%Y-%m-%d %H:%M} UTC ({done.result})"


def run_once(store: Store, pb: Playbook, name: str, now: dt.datetime) -> str:
    """Run job `name` for the period containing `now` unless that period already ran; one line on what happened."""
    return run_job(store, pb, name, now).text


# --------------------------------------------------------------------------- the scheduler


@dataclass
class Scheduler:
    """Runs every playbook job whose current period has not run, then waits; see the module docstring.

    A job that fails is logged and retried on later ticks, waiting twice as long after each failure
    (from one tick up to an hour), without holding up the other jobs.
    """

    store: Store
    pb: Playbook
    failures: dict[str, tuple[int, dt.datetime]] = field(default_factory=dict)  # name -> (count, retry at)

    def due(self, now: dt.datetime) -> list[JobDef]:
        """The playbook's jobs (with a body) whose current period has no finished run."""
        with self.store.uow() as uow:
            current = [(j.name, period_of(j, now)) for j in self.pb.jobs]
            rows = uow.session.execute(
                select(JobRun.job, JobRun.period).where(JobRun.finished_at.is_not(None))
                .where(tuple_(JobRun.job, JobRun.period).in_(current))
            ).all() if current else []
        finished = {(job_name, period) for job_name, period in rows}
        return [j for j in self.pb.jobs if j.name in REGISTRY and (j.name, period_of(j, now)) not in finished]

    def tick(self, now: dt.datetime, interval: float = 30.0) -> list[RunOutcome]:
        """Run each due job once for its current period (catch-up included), in playbook order."""
        outcomes = []
        for definition in self.due(now):
            failed = self.failures.get(definition.name)
            if failed is not None and now < failed[1]:
                continue
            try:
                outcome = run_job(self.store, self.pb, definition.name, now)
            except Exception:
                count = (failed[0] if failed else 0) + 1
                wait = min(interval * 2 ** (count - 1), 3600.0)
                self.failures[definition.name] = (count, now + dt.timedelta(seconds=wait))
                log.exception("%s failed (%d in a row); retrying in %.0f s", definition.name, count, wait)
                continue
            self.failures.pop(definition.name, None)
            if outcome.status != "already":
                log.info("%s", outcome.text)
            outcomes.append(outcome)
        return outcomes

    def serve(self, clock: Callable[[], dt.datetime], interval: float = 30.0,
              sleep: Callable[[float], None] = time.sleep, stop: Callable[[], bool] = lambda: False) -> None:
        """Tick every `interval` seconds until `stop()` is true; `clock` is the only reader of the time."""
        while not stop():
            self.tick(clock(), interval)
            sleep(interval)


# --------------------------------------------------------------------------- what `jobs list` shows


@dataclass(frozen=True)
class JobStatus:
    """One playbook job: its schedule, its last run and the next time it is due."""

    name: str
    schedule: str
    registered: bool
    last_period: str | None
    last_started_at: dt.datetime | None
    last_finished_at: dt.datetime | None
    last_result: dict[str, Any]
    due_now: bool
    next_run: dt.datetime


def job_statuses(store: Store, pb: Playbook, now: dt.datetime) -> list[JobStatus]:
    """Every playbook job with its latest run (by start time) and its next run after `now`."""
    latest: dict[str, JobRun | None] = {}
    with store.uow() as uow:  # one short query per job (the unique (job, period) index serves it)
        for j in pb.jobs:
            latest[j.name] = uow.session.scalars(
                select(JobRun).where(JobRun.job == j.name).order_by(JobRun.started_at.desc(), JobRun.id.desc())
                .limit(1)).first()
    statuses = []
    for j in pb.jobs:
        run = latest[j.name]
        current = period_of(j, now)
        every = "hourly at :" + j.at.split(":")[1] if j.every == "hour" else f"daily {j.at}"
        statuses.append(JobStatus(
            name=j.name,
            schedule=f"{every} {j.timezone}",
            registered=j.name in REGISTRY,
            last_period=run.period if run else None,
            last_started_at=run.started_at if run else None,
            last_finished_at=run.finished_at if run else None,
            last_result=dict(run.result or {}) if run else {},
            due_now=not (run is not None and run.period == current and run.finished_at is not None),
            next_run=next_run(j, now),
        ))
    return statuses
