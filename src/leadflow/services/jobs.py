"""Named jobs, run by hand or by the scheduler, each at most once per period (W8).

A job is a function `(store, playbook, now) -> summary`. `run_once` claims the job's period
(a unique row in `job_runs`) before doing anything, so running it again for the same period,
or two runners at once, does the work once. The period is the job's local date (or hour)
in its time zone, taken from the playbook's `jobs` table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from leadflow.errors import InvalidInput
from leadflow.playbook.schema import JobDef, Playbook
from leadflow.store.db import Store
from leadflow.store.models import JobRun

JobFn = Callable[[Store, Playbook, dt.datetime, int], dict[str, Any]]
REGISTRY: dict[str, JobFn] = {}


def job(name: str) -> Callable[[JobFn], JobFn]:
    """Register a job body under the playbook's job name."""

    def register(fn: JobFn) -> JobFn:
        REGISTRY[name] = fn
        return fn

    return register


def job_def(pb: Playbook, name: str) -> JobDef:
    found = next((j for j in pb.jobs if j.name == name), None)
    if found is None:
        raise InvalidInput(f"unknown job '{name}'; jobs: {', '.join(j.name for j in pb.jobs)}", "name")
    return found


def period_of(definition: JobDef, now: dt.datetime) -> str:
    """The period a run at `now` belongs to: the last scheduled time at or before `now`, local."""
    local = now.astimezone(ZoneInfo(definition.timezone))
    hour, minute = (int(x) for x in definition.at.split(":"))
    scheduled = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if definition.every == "hour":
        scheduled = local.replace(minute=minute, second=0, microsecond=0)
        if scheduled > local:
            scheduled -= dt.timedelta(hours=1)
        return scheduled.strftime("%Y-%m-%dT%H:%M%z")
    if scheduled > local:
        scheduled -= dt.timedelta(days=1)
    return scheduled.strftime("%Y-%m-%d")


def run_once(store: Store, pb: Playbook, name: str, now: dt.datetime) -> str:
    """Run job `name` for the period containing `now` unless that period already ran."""
    definition = job_def(pb, name)
    body = REGISTRY.get(name)
    if body is None:
        raise InvalidInput(f"job '{name}' is in the playbook but leadflow has no such job", "name")
    period = period_of(definition, now)
    with store.uow() as uow:
        run = JobRun(job=name, period=period, started_at=now, result={})
        uow.session.add(run)
        try:
            uow.commit()
        except IntegrityError:
            uow.rollback()
            done = uow.session.scalars(select(JobRun).where(JobRun.job == name, JobRun.period == period)).one()
            return f"{name}: period {period} already ran at {done.started_at:%Y-%m-%d %H:%M} UTC ({done.result})"
        run_id = run.id
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
    return f"{name}: period {period}: {result}"
