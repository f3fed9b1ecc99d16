"""W8 (with W2 and I6 times): the scheduler runs each job once per period at its local time, catches up
once after downtime, and two runners never run one period twice (a database lock, on both stores)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from typing import Any

import pytest
from sqlalchemy import func, select

from builders import SETUP, a_lead, save
from conftest import _truncate as truncate
from leadflow.playbook.load import cached_playbook
from leadflow.playbook.schema import JobDef, Playbook
from leadflow.services import jobs
from leadflow.services.activity_jobs import ACTIVE_JOB
from leadflow.services.derive import refresh_lead
from leadflow.services.jobs import Scheduler, job_lock, job_statuses, run_job
from leadflow.store.db import Store
from leadflow.store.models import Activity, JobRun, Lead

UTC = dt.UTC
MIN = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)


def u(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def with_jobs(pb: Playbook, *defs: JobDef) -> Playbook:
    return pb.model_copy(update={"jobs": list(defs)})


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dt.datetime]]:
    """Test job bodies `east`, `west`, `gap`, `fold`, `nightly`: each records the `now` it ran at."""
    seen: dict[str, list[dt.datetime]] = {}
    for name in ("east", "west", "gap", "fold", "nightly"):
        def body(store: Store, pb: Playbook, now: dt.datetime, run_id: int, name: str = name) -> dict[str, Any]:
            seen.setdefault(name, []).append(now)
            return {"runs": len(seen[name])}
        monkeypatch.setitem(jobs.REGISTRY, name, body)
    return seen


def ticks(runner: Scheduler, start: dt.datetime, end: dt.datetime, step: dt.timedelta = 5 * MIN) -> None:
    at = start
    while at <= end:
        runner.tick(at)
        at += step


SCHEDULE = (
    JobDef(name="east", at="22:30", timezone="America/New_York"),  # W2's Inquiry clean-up time
    JobDef(name="west", at="00:05", timezone="America/Los_Angeles"),  # I6's spam deletion time
    JobDef(name="gap", at="02:00", timezone="America/Los_Angeles"),  # skipped on 8 March 2026
    JobDef(name="fold", at="01:00", timezone="America/Los_Angeles"),  # repeated on 1 November 2026
)


def test_W8_the_scheduler_runs_each_job_at_its_local_time_across_the_spring_change(
        store: Store, playbook: Playbook, calls: dict[str, list[dt.datetime]]) -> None:
    runner = Scheduler(store, with_jobs(playbook, *SCHEDULE))
    ticks(runner, u(2026, 3, 7, 12), u(2026, 3, 9, 12))
    first = u(2026, 3, 7, 12)  # the scheduler starts: every job's current period runs once (catch-up)
    assert calls["east"] == [first, u(2026, 3, 8, 3, 30), u(2026, 3, 9, 2, 30)]  # 22:30 EST, then EDT
    assert calls["west"] == [first, u(2026, 3, 8, 8, 5), u(2026, 3, 9, 7, 5)]  # 00:05 PST, then PDT
    assert calls["gap"] == [first, u(2026, 3, 8, 10, 0), u(2026, 3, 9, 9, 0)]  # no 02:00 on the 8th: 03:00 PDT
    with store.uow() as uow:
        periods = uow.session.scalars(select(JobRun.period).where(JobRun.job == "gap").order_by(JobRun.id)).all()
    assert periods == ["2026-03-07", "2026-03-08", "2026-03-09"]


def test_W8_the_scheduler_runs_each_job_once_across_the_autumn_change(
        store: Store, playbook: Playbook, calls: dict[str, list[dt.datetime]]) -> None:
    runner = Scheduler(store, with_jobs(playbook, *SCHEDULE))
    ticks(runner, u(2026, 10, 31, 12), u(2026, 11, 2, 12))
    first = u(2026, 10, 31, 12)
    assert calls["east"] == [first, u(2026, 11, 1, 2, 30), u(2026, 11, 2, 3, 30)]  # 22:30 EDT, then EST
    assert calls["west"] == [first, u(2026, 11, 1, 7, 5), u(2026, 11, 2, 8, 5)]  # 00:05 PDT, then PST
    assert calls["fold"] == [first, u(2026, 11, 1, 8, 0), u(2026, 11, 2, 9, 0)]  # 01:00 PDT once, not at 01:00 PST


def test_W8_a_job_missed_for_three_days_is_caught_up_once(
        store: Store, playbook: Playbook, calls: dict[str, list[dt.datetime]]) -> None:
    pb = with_jobs(playbook, JobDef(name="nightly", at="02:00", timezone="America/Los_Angeles"))
    runner = Scheduler(store, pb)
    ticks(runner, u(2026, 3, 2, 9, 30), u(2026, 3, 2, 10, 30))  # runs the 1 March period, then the 2 March one
    assert calls["nightly"] == [u(2026, 3, 2, 9, 30), u(2026, 3, 2, 10, 0)]
    # the scheduler is down from 2 March 10:30 until 5 March 15:00: the 3, 4 and 5 March runs are missed
    ticks(Scheduler(store, pb), u(2026, 3, 5, 15, 0), u(2026, 3, 6, 9, 55))
    assert calls["nightly"][2:] == [u(2026, 3, 5, 15, 0)]  # one catch-up run, nothing replayed
    with store.uow() as uow:
        periods = uow.session.scalars(select(JobRun.period).where(JobRun.job == "nightly").order_by(JobRun.id)).all()
    assert periods == ["2026-03-01", "2026-03-02", "2026-03-05"]
    statuses = {s.name: s for s in job_statuses(store, pb, u(2026, 3, 6, 9, 55))}
    assert statuses["nightly"].last_period == "2026-03-05" and statuses["nightly"].last_result == {"runs": 3}
    assert statuses["nightly"].next_run == u(2026, 3, 6, 10, 0) and not statuses["nightly"].due_now


def test_W8_the_catch_up_run_covers_the_missed_days(store: Store, playbook: Playbook) -> None:
    """active-until caught up once after three missed days still marks a window that ended meanwhile."""
    pb = with_jobs(playbook, *[j for j in playbook.jobs if j.name == ACTIVE_JOB])
    t0 = u(2026, 1, 5, 18)
    with store.uow() as uow:
        save(uow, t0, a_lead(id="gone"))
    with store.uow() as uow:
        with uow.changing(actor=SETUP, now=t0):
            uow.add(Activity(subject_type="lead", subject_id="gone", type="demo_request", at=t0))
        refresh_lead(uow, pb, uow.get(Lead, "gone"), t0)
        uow.commit()
    Scheduler(store, pb).tick(u(2026, 3, 4, 10))  # the window (60 days) ends on 6 March
    ticks(Scheduler(store, pb), u(2026, 3, 9, 15), u(2026, 3, 9, 16))  # down 5-9 March
    with store.uow() as uow:
        lead = uow.get(Lead, "gone")
        runs = uow.session.scalars(select(JobRun).where(JobRun.job == ACTIVE_JOB).order_by(JobRun.id)).all()
    assert lead.derivations["active"]["active"] is False
    assert [r.period for r in runs] == ["2026-03-04", "2026-03-09"] and runs[1].result["passive"] == 1


def test_W8_a_runner_that_finds_the_job_locked_skips_it(
        store: Store, playbook: Playbook, calls: dict[str, list[dt.datetime]]) -> None:
    pb = with_jobs(playbook, JobDef(name="nightly", at="02:00", timezone="UTC"))
    with job_lock(store, "nightly") as mine:
        assert mine
        outcome = run_job(store, pb, "nightly", u(2026, 3, 2, 3))
        assert outcome.status == "busy" and "nightly" not in calls
        assert Scheduler(store, pb).tick(u(2026, 3, 2, 3))[0].status == "busy"
    assert run_job(store, pb, "nightly", u(2026, 3, 2, 3)).status == "ran"
    assert run_job(store, pb, "nightly", u(2026, 3, 2, 4)).status == "already"
    assert calls["nightly"] == [u(2026, 3, 2, 3)]


def test_W8_a_claim_left_by_a_runner_that_died_is_taken_over(
        store: Store, playbook: Playbook, calls: dict[str, list[dt.datetime]]) -> None:
    pb = with_jobs(playbook, JobDef(name="nightly", at="02:00", timezone="UTC"))
    with store.uow() as uow:  # a runner claimed 2 March and died before finishing (its lock died with it)
        uow.session.add(JobRun(job="nightly", period="2026-03-02", started_at=u(2026, 3, 2, 2), result={}))
        uow.commit()
    outcome = run_job(store, pb, "nightly", u(2026, 3, 2, 5))
    assert outcome.status == "ran" and calls["nightly"] == [u(2026, 3, 2, 5)]
    with store.uow() as uow:
        runs = uow.session.scalars(select(JobRun).where(JobRun.job == "nightly")).all()
    assert [(r.period, r.finished_at) for r in runs] == [("2026-03-02", u(2026, 3, 2, 5))]


def test_W8_a_failing_job_does_not_stop_the_others_and_is_retried_later(
        store: Store, playbook: Playbook, calls: dict[str, list[dt.datetime]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[dt.datetime] = []

    def broken(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
        attempts.append(now)
        if len(attempts) < 3:
            raise RuntimeError("database went away")
        return {"ok": True}

    monkeypatch.setitem(jobs.REGISTRY, "broken", broken)
    pb = with_jobs(playbook, JobDef(name="broken", at="02:00", timezone="UTC"),
                   JobDef(name="nightly", at="02:00", timezone="UTC"))
    runner = Scheduler(store, pb)
    ticks(runner, u(2026, 3, 2, 3), u(2026, 3, 2, 3, 10), step=dt.timedelta(seconds=30))
    assert calls["nightly"] == [u(2026, 3, 2, 3)]
    # retried after 30 s, then 60 s more, then it worked and was not run again
    assert attempts == [u(2026, 3, 2, 3), u(2026, 3, 2, 3, 0, 30), u(2026, 3, 2, 3, 1, 30)]


# --------------------------------------------------------------------------- two real schedulers, PostgreSQL

RACE_DAYS = 3


def race_body(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
    """Writes one row per run and takes long enough for the other scheduler to try the same period."""
    import os
    import time

    with store.uow() as uow:
        with uow.changing(actor=SETUP, now=now):
            uow.add(Activity(subject_type="lead", subject_id="race", type="race", at=now,
                             details={"pid": os.getpid(), "run_id": run_id}))
        uow.commit()
    time.sleep(0.4)
    return {"pid": os.getpid()}


def race_scheduler(url: str, start: Any, results: Any) -> None:
    """A scheduler process: ticks every 30 minutes of three days, each tick together with the other one."""
    jobs.REGISTRY["race"] = race_body
    pb = with_jobs(cached_playbook(None), JobDef(name="race", at="02:00", timezone="America/Los_Angeles"))
    store = Store(url)
    runner = Scheduler(store, pb)
    ran = busy = 0
    try:
        at = u(2026, 3, 2, 10)
        while at < u(2026, 3, 2, 10) + RACE_DAYS * DAY:
            start.wait(timeout=60)
            for outcome in runner.tick(at):
                ran += outcome.status == "ran"
                busy += outcome.status == "busy"
            at += dt.timedelta(minutes=30)
    finally:
        store.dispose()
    results.put((ran, busy))


@pytest.mark.postgres
def test_W8_two_scheduler_processes_never_run_one_period_twice_on_postgresql(postgres_database: str) -> None:
    store = Store(postgres_database)
    truncate(store)
    try:
        ctx = multiprocessing.get_context("spawn")
        start, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=race_scheduler, args=(postgres_database, start, results)) for _ in range(2)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        with store.uow() as uow:
            rows = uow.session.execute(select(Activity.at, func.count()).where(Activity.type == "race")
                                       .group_by(Activity.at).order_by(Activity.at)).all()
            periods = uow.session.scalars(select(JobRun.period).where(JobRun.job == "race").order_by(JobRun.period))
            periods = list(periods)
        assert periods == ["2026-03-02", "2026-03-03", "2026-03-04"]
        assert [count for _, count in rows] == [1, 1, 1]  # each period's work done once
        assert sum(ran for ran, _ in outcomes) == RACE_DAYS
        assert sum(busy for _, busy in outcomes) >= 1  # they did meet: one found the other running the job
    finally:
        truncate(store)
        store.dispose()


def test_W8_cli_scheduler_once_runs_what_is_due_and_jobs_list_shows_it(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from leadflow.cli import app

    runner = CliRunner()
    monkeypatch.setenv("COLUMNS", "200")  # one line per job
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    monkeypatch.delenv("LEADFLOW_PLAYBOOK", raising=False)
    before = runner.invoke(app, ["jobs", "list", "--now", "2026-03-02T15:00:00Z"])
    assert before.exit_code == 0, before.output
    assert "spam-deletion" in before.stdout and "never" in before.stdout
    first = runner.invoke(app, ["scheduler", "--once", "--now", "2026-03-02T15:00:00Z"])
    assert first.exit_code == 0, first.output
    assert "spam-deletion: period 2026-03-02" in first.stdout and "rescore: period 2026-03-02" in first.stdout
    # half an hour later (within the hourly sla-breach's period too): nothing due, nothing done twice
    again = runner.invoke(app, ["scheduler", "--once", "--now", "2026-03-02T15:30:00Z"])
    assert again.exit_code == 0 and again.stdout.strip() == ""
    after = runner.invoke(app, ["jobs", "list", "--now", "2026-03-02T15:30:00Z"])
    assert "due now" not in after.stdout and "2026-03-03" in after.stdout, after.stdout  # next runs
    bad = runner.invoke(app, ["jobs", "run", "no-such-job"])
    assert bad.exit_code == 2 and "unknown job" in bad.output
