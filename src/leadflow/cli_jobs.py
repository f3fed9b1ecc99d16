"""Commands for time (W8) and the SDR views (W5): `jobs run|list`, `scheduler`, `view NAME`.

Kept out of cli.py so the jobs area can grow without touching the shared command line; cli.py calls
`register(app)` once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from leadflow.cli import NowOption, current_playbook, handles_errors, open_store, out, parse_now

jobs_app = typer.Typer(help="Named jobs (W8): run one by hand, list their runs.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `jobs`, `scheduler` and `view` to the main command line."""
    app.add_typer(jobs_app, name="jobs")
    app.command("scheduler")(scheduler)
    app.command("view")(view_command)


def _short(result: dict[str, Any], width: int = 70) -> str:
    text = ", ".join(f"{k}={v}" for k, v in result.items())
    return text if len(text) <= width else text[: width - 3] + "..."


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


@jobs_app.command("run")
@handles_errors
def jobs_run(
    name: Annotated[str, typer.Argument(help="Job name, e.g. spam-deletion.")],
    now: NowOption = None,
) -> None:
    """Run a named job by hand for the period that contains --now (idempotent per period)."""
    from leadflow.services.jobs import load_job_bodies, run_once

    load_job_bodies()
    with open_store() as store:
        summary = run_once(store, current_playbook(), name, parse_now(now))
    out.print(summary, markup=False)


@jobs_app.command("list")
@handles_errors
def jobs_list(now: NowOption = None) -> None:
    """Every playbook job: schedule, last run (period, when, what it did) and next run."""
    from leadflow.services.jobs import job_statuses, load_job_bodies

    load_job_bodies()
    at = parse_now(now)
    with open_store() as store:
        statuses = job_statuses(store, current_playbook(), at)
    table = Table(title=f"jobs at {_when(at)}")
    table.add_column("job", no_wrap=True, min_width=max((len(s.name) for s in statuses), default=3))
    for column in ("schedule", "last period", "last run", "result", "next run"):
        table.add_column(column, overflow="fold")
    for s in statuses:
        if s.last_started_at is None:
            last = "never"
        elif s.last_finished_at is None:
            last = f"{_when(s.last_started_at)} (running)"
        else:
            last = _when(s.last_started_at)
        name = s.name if s.registered else f"{s.name} (no body)"
        due = " (due now)" if s.due_now and s.registered else ""
        table.add_row(name, s.schedule, s.last_period or "", last, _short(s.last_result), _when(s.next_run) + due)
    out.print(table)


@handles_errors
def scheduler(
    once: Annotated[bool, typer.Option("--once", help="Run what is due now, then stop.")] = False,
    now: NowOption = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between checks.", min=1)] = 30.0,
) -> None:
    """Run every playbook job at its time in its time zone; after downtime, the current period once."""
    from leadflow.services.jobs import Scheduler, load_job_bodies

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    load_job_bodies()
    start = parse_now(now)
    began = time.monotonic()

    def clock() -> dt.datetime:  # --now fixes the start; the clock then moves on with real time
        return start + dt.timedelta(seconds=time.monotonic() - began)

    with open_store() as store:
        runner = Scheduler(store, current_playbook())
        if once:
            for outcome in runner.tick(start, interval):
                out.print(outcome.text, markup=False)
            return
        out.print(f"scheduler: checking every {interval:g} s; Ctrl-C stops", markup=False)
        runner.serve(clock, interval)


@handles_errors
def view_command(
    name: Annotated[str, typer.Argument(help="s1-high, s1, s2, s3 or s3-to-sequence.")],
    viewer: Annotated[str | None, typer.Option("--viewer", help="Only this user's leads.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    now: NowOption = None,
) -> None:
    """An SDR view (W5), as 002 defines it."""
    from leadflow.services.views import view

    with open_store() as store:
        result = view(store, current_playbook(), name, parse_now(now), viewer=viewer, limit=limit)
    if as_json:
        out.print(json.dumps({"view": name, "total": result.total, "rows": [r.as_json() for r in result.rows]},
                             ensure_ascii=False), markup=False)
        return
    d = result.definition
    table = Table(title=f"{d.label}: {d.description} ({len(result.rows)} of {result.total})")
    # the lead id is what one acts on next (`leadflow explain ID`): never wrapped
    table.add_column("lead", no_wrap=True, min_width=max((len(r.id) for r in result.rows), default=4))
    for column in ("name", "company", "status", "score", "owner", "MQL date", "sequence", "task", "meeting",
                   "to sequence"):
        table.add_column(column, overflow="fold")

    def mark(flag: bool) -> str:
        return "yes" if flag else ""

    for r in result.rows:
        table.add_row(r.id, r.name, r.company or "", r.status, str(r.score), r.owner or "",
                      r.mql_date.strftime("%Y-%m-%d") if r.mql_date else "", mark(r.active_sequence),
                      mark(r.open_task), mark(r.future_meeting), mark(r.to_sequence))
    out.print(table)
