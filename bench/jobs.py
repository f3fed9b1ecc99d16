"""The nightly jobs (W8) over a large stored database: seconds per job and for the whole nightly set.

Goal: every job of the playbook's nightly set, run one after the other over 1,000,000 stored leads,
in under 60 s in all, on SQLite and on PostgreSQL, on this machine.

Data (generated, `random.Random(--seed)`, bulk-inserted with SQLAlchemy Core, not timed): --rows leads
(statuses Raw 30 %, Inquiry 30 %, MQL 8 %, Accepted 5 %, Qualifying 5 %, Recycle 15 %, Disqualified 5 %,
Qualified 2 %), --rows/500 accounts (a tenth of them under a parent), ~40 % of leads matched to one;
~2 activities per lead of mixed types (page visits, content, webcasts, event scans whose points fade
after 90 days, demo requests, ...), dated over the last 200 days; an Active window end on ~60 % of
leads (spread over 200 days back to 60 ahead); one intake per lead (its payload holds the address,
as the spam deletion looks intakes up by address); 0.1 % of leads flagged spam and on the SPAM
DELETION campaign; active sequence enrollments for half the Accepted and Qualifying leads, and
open tasks for a fifth of the Qualifying ones.

It is the morning after a normal night: every playbook job finished its previous period (yesterday,
`PREV`), the rescore with this playbook; since then 1 % of the leads were changed (`updated_at`),
~0.5 % of the activities are new, a few are dated in the future, and 20 accounts changed (with all
the leads matched into their hierarchies). The leads tonight's rescore looks at were derived at
PREV in the seeding (untimed), as last night's run would have left them, so only what time and the
day's changes move gets written; the figures of the other leads are random and never read. (Leads
changed during the day were not re-derived by an intake here, so they are written tonight: a little
heavier than a real night.)

Each run starts from an identical copy of the seeded database (a file copy on SQLite, `CREATE
DATABASE ... TEMPLATE` on PostgreSQL) and runs every playbook job that leadflow has a body for, in
playbook order, through `run_job` (the job lock and the `job_runs` claim included), at NOW. Times are
wall seconds, median of --runs runs.

    .venv/bin/python bench/jobs.py [--rows 1000000] [--runs 3] [--seed 5] [--no-postgres] [--no-sqlite]

Writes bench/results/jobs.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy
from rich.console import Console
from rich.table import Table
from sqlalchemy import bindparam, insert, text, update

sys.path.insert(0, str(Path(__file__).parent))
from _stores import ThrowAway, copy_of, fresh_store, postgres_url  # noqa: E402

from leadflow.playbook.load import cached_playbook  # noqa: E402
from leadflow.playbook.schema import Playbook  # noqa: E402
from leadflow.services.jobs import REGISTRY, load_job_bodies, period_of, run_job  # noqa: E402
from leadflow.services.rescore import leads_to_rescore, playbook_fingerprint, rescore_all  # noqa: E402
from leadflow.store.models import (  # noqa: E402
    Account,
    Activity,
    Campaign,
    CampaignMember,
    Intake,
    JobRun,
    Lead,
    Sequence,
    SequenceEnrollment,
    Task,
)

NOW = dt.datetime(2026, 3, 3, 11, 0, tzinfo=dt.UTC)  # 03:00 in Los Angeles: every nightly job is due
PREV = NOW - dt.timedelta(days=1)
DAY = dt.timedelta(days=1)
GOAL_SECONDS = 60.0
RESULTS = Path(__file__).with_name("results")
CHUNK = 20_000
console = Console(highlight=False, width=150)

STATUSES = [("Raw", 30), ("Inquiry", 30), ("MQL", 8), ("Accepted", 5), ("Qualifying", 5), ("Recycle", 15),
            ("Disqualified", 5), ("Qualified", 2)]
HOLDING = {"Raw": "Raw Queue", "Inquiry": "Inquiry Queue", "Recycle": "Recycle Queue",
           "Disqualified": "Disqualified Queue"}
ACTIVITY_TYPES = [("page_visit", 30), ("high_value_page_visit", 6), ("email_click", 14), ("content_download", 12),
                  ("webcast_registration", 6), ("webcast_attended", 3), ("event_scan", 6), ("contact_us", 2),
                  ("demo_request", 1), ("trial_saas", 2), ("web_chat", 2), ("gitlab_com_signup", 4), ("call", 3)]
TITLES = ["Software Engineer", "DevOps Engineer", "Engineering Manager", "CTO", "VP Engineering", "Director of IT",
          "Student", "Consultant", None, None]
COUNTRIES = [("United States", "CA"), ("United States", "NY"), ("Germany", None), ("United Kingdom", None),
             ("France", None), ("India", None), ("Japan", None), ("Brazil", None), ("Canada", "ON"), (None, None)]
SOURCES = ["Web Direct", "Content", "Conference", "GitLab.com", "Contact Us", "Webcast", "Newsletter"]


def _weighted(rng: random.Random, pairs: list[tuple[str, int]], k: int) -> list[str]:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs], k=k)


# --------------------------------------------------------------------------- seeding


def _accounts(rng: random.Random, n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        parent = f"acc_b{rng.randrange(0, i):06d}" if i > 10 and rng.random() < 0.1 else None
        rows.append({
            "id": f"acc_b{i:06d}", "name": f"Company {i}", "domain": f"company{i}.example", "type":
            rng.choice(["Prospect", "Prospect", "Customer", "Former Customer", "Partner"]), "parent_id": parent,
            "employees_datafox": rng.choice([None, 40, 250, 1500, 12000]), "addresses": {},
            "segment": rng.choice(["SMB", "Mid-Market", "Large"]), "region": rng.choice(["EMEA", "US West", "APAC"]),
            "derivations": {"segment": {"value": "seeded"}}, "named": False, "public_sector": False,
            "restricted": False, "using_ce": False, "partner_managed": None,
            # 20 accounts changed since the previous night
            "created_at": NOW - 400 * DAY, "updated_at": PREV + dt.timedelta(hours=2) if i < 20 else NOW - 300 * DAY,
        })
    return rows


def _lead_chunks(rng: random.Random, rows: int, accounts: int) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Leads and everything that points at them, CHUNK leads at a time (bounded memory)."""
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        statuses = _weighted(rng, STATUSES, n)
        out: dict[str, list[dict[str, Any]]] = {"leads": [], "activities": [], "intakes": [], "members": [],
                                                "enrollments": [], "tasks": [], "changed": []}
        for k in range(n):
            i = start + k
            lead_id, status = f"ld_b{i:07d}", statuses[k]
            email = f"person{i}@company{rng.randrange(accounts)}.example"
            country, state = rng.choice(COUNTRIES)
            spam = rng.random() < 0.001
            changed = rng.random() < 0.01
            updated = PREV + rng.uniform(0.05, 0.95) * DAY if changed else PREV - rng.uniform(0.01, 300) * DAY
            active_until = NOW + rng.uniform(-200, 60) * DAY if rng.random() < 0.6 else None
            out["leads"].append({
                "id": lead_id, "first_name": "Sam", "last_name": f"Person{i}", "email": email,
                "company": f"Company {rng.randrange(accounts)}", "title": rng.choice(TITLES), "country": country,
                "state": state, "status": status, "status_reason": None,
                "owner_type": "queue" if status in HOLDING else "user",
                "owner_id": HOLDING.get(status, f"usr_{rng.randint(1, 60):03d}"),
                "initial_source": rng.choice(SOURCES), "initial_source_at": NOW - 300 * DAY,
                "score": rng.randint(0, 150), "score_parts": [], "score_source": None,
                "mql_date": NOW - rng.uniform(1, 90) * DAY if status in ("MQL", "Accepted", "Qualifying") else None,
                "segment": rng.choice(["SMB", "Mid-Market", "Large", "Unknown"]),
                "region": rng.choice(["EMEA", "US West", "US East", "APAC", "LATAM"]),
                "matched_account_id": f"acc_b{rng.randrange(accounts):06d}" if rng.random() < 0.4 else None,
                "matched_at": NOW - 200 * DAY, "employees": rng.choice([None, None, 50, 1200]),
                "active_until": active_until, "high_priority": rng.random() < 0.02, "spam": spam,
                "spam_reasons": ["seeded"] if spam else [], "bad_data_reasons": [], "duplicate_candidates": [],
                "derivations": {}, "bant": {}, "created_at": NOW - 300 * DAY, "updated_at": updated,
            })
            if changed:
                out["changed"].append({"lead_id": lead_id, "changed_at": updated})
            out["intakes"].append({"id": f"in_b{i:07d}", "channel": "contact_us", "received_at": NOW - 300 * DAY,
                                   "actor_id": "bench", "outcome": "created", "subject_type": "lead",
                                   "subject_id": lead_id, "steps": [], "payload": {"email": email}})
            for a in range(rng.choice([0, 1, 2, 2, 3, 4])):
                roll = rng.random()
                if roll < 0.0005:
                    at = NOW + rng.uniform(0.1, 20) * DAY  # not happened yet
                elif roll < 0.005:
                    at = PREV + rng.uniform(0.01, 0.99) * DAY  # new since the previous night
                else:
                    at = PREV - rng.uniform(0, 200) * DAY
                out["activities"].append({"id": f"act_b{i:07d}_{a}", "subject_type": "lead", "subject_id": lead_id,
                                          "type": _weighted(rng, ACTIVITY_TYPES, 1)[0], "at": at, "details": {}})
            if spam:
                out["members"].append({"id": f"cm_b{i:07d}", "campaign_id": "cmp_spam", "subject_type": "lead",
                                       "subject_id": lead_id, "status": "Member", "added_at": PREV})
            if status in ("Accepted", "Qualifying") and rng.random() < 0.5:
                out["enrollments"].append({"id": f"enr_b{i:07d}", "sequence_id": "seq_b", "subject_type": "lead",
                                           "subject_id": lead_id, "state": "active", "current_step": 1,
                                           "enrolled_at": PREV - 3 * DAY})
            if status == "Qualifying" and rng.random() < 0.2:
                out["tasks"].append({"id": f"tsk_b{i:07d}", "subject_type": "lead", "subject_id": lead_id,
                                     "kind": "task", "subject": "follow up", "status": "open",
                                     "due_at": NOW + 2 * DAY})
        yield out


def seed(target: ThrowAway, pb: Playbook, rows: int, seed_: int) -> dict[str, Any]:
    """Everything above, then yesterday's finished job runs; returns counts and seconds."""
    rng = random.Random(seed_)
    engine = target.store.engine
    started = time.perf_counter()
    n_accounts = max(20, rows // 500)
    accounts = _accounts(rng, n_accounts)
    changed: list[dict[str, Any]] = []
    counts = {"accounts": n_accounts, "leads": 0, "activities": 0, "intakes": 0, "spam_members": 0,
              "enrollments": 0, "tasks": 0}
    with engine.begin() as conn:
        conn.execute(insert(Account.__table__), [a for a in accounts if a["parent_id"] is None])
        conn.execute(insert(Account.__table__), [a for a in accounts if a["parent_id"] is not None])
        conn.execute(insert(Campaign.__table__), [{"id": "cmp_spam", "name": pb.intake.spam_campaign,
                                                   "type": "Operational", "status": "Active", "created_at": PREV}])
        conn.execute(insert(Sequence.__table__), [{"id": "seq_b", "name": "Follow up", "steps": [], "active": True}])
    tables = {"leads": Lead, "activities": Activity, "intakes": Intake, "members": CampaignMember,
              "enrollments": SequenceEnrollment, "tasks": Task}
    for chunk in _lead_chunks(rng, rows, n_accounts):
        with engine.begin() as conn:
            for key, model in tables.items():
                if chunk[key]:
                    conn.execute(insert(model.__table__), chunk[key])
        counts["leads"] += len(chunk["leads"])
        counts["activities"] += len(chunk["activities"])
        counts["intakes"] += len(chunk["intakes"])
        counts["spam_members"] += len(chunk["members"])
        counts["enrollments"] += len(chunk["enrollments"])
        counts["tasks"] += len(chunk["tasks"])
        changed += chunk["changed"]
    with engine.begin() as conn:  # last night: every job finished its period, the rescore with this playbook
        conn.execute(insert(JobRun.__table__), [
            {"job": j.name, "period": period_of(j, PREV), "started_at": PREV, "finished_at": PREV,
             "result": {"playbook": playbook_fingerprint(pb)} if j.name == "rescore" else {}}
            for j in pb.jobs])
    # The leads tonight's rescore will look at, as last night's run left them: derived at PREV. (The
    # others are never read by the incremental rescore, so their random figures do not matter.) Then the
    # day's changes get their time back: deriving stamped them with PREV.
    with target.store.uow() as uow:
        wanted = sorted(leads_to_rescore(uow, pb, PREV, NOW))
    rescore_all(target.store, pb, PREV, lead_ids=wanted)
    with engine.begin() as conn:
        conn.execute(update(Lead.__table__).where(Lead.__table__.c.id == bindparam("lead_id"))
                     .values(updated_at=bindparam("changed_at")), changed)
    counts["derived_at_prev"] = len(wanted)
    if target.kind == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


# --------------------------------------------------------------------------- one nightly run


def nightly(target: ThrowAway, pb: Playbook) -> list[dict[str, Any]]:
    """Every playbook job with a body, in playbook order, at NOW: seconds and what each did."""
    out = []
    for definition in pb.jobs:
        if definition.name not in REGISTRY:
            out.append({"job": definition.name, "seconds": None, "result": "no job body in leadflow"})
            continue
        start = time.perf_counter()
        outcome = run_job(target.store, pb, definition.name, NOW)
        seconds = time.perf_counter() - start
        assert outcome.status == "ran", outcome.text
        out.append({"job": definition.name, "seconds": round(seconds, 3), "result": outcome.result})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()

    load_job_bodies()
    pb = cached_playbook(None)
    pg_url = postgres_url(args.no_postgres)
    kinds = ([] if args.no_sqlite else ["sqlite"]) + (["postgresql"] if pg_url else [])
    report: dict[str, Any] = {"rows": args.rows, "runs": args.runs, "seed": args.seed, "now": NOW.isoformat(),
                              "goal_seconds": GOAL_SECONDS, "stores": {}}
    with tempfile.TemporaryDirectory(dir=os.environ.get("LEADFLOW_BENCH_TMP")) as tmpdir:
        tmp = Path(tmpdir)
        for kind in kinds:
            seeded = fresh_store(kind, pg_url, tmp)
            try:
                console.print(f"[bold]{kind}[/]: seeding {args.rows:,} leads ...")
                data = seed(seeded, pb, args.rows, args.seed)
                console.print(f"  seeded in {data['seconds']} s: {data}")
                runs = []
                for r in range(args.runs):
                    copy = copy_of(seeded, pg_url, tmp)
                    try:
                        jobs_run = nightly(copy, pb)
                    finally:
                        copy.drop()
                    total = sum(j["seconds"] or 0 for j in jobs_run)
                    console.print(f"  run {r + 1}: {total:.1f} s " +
                                  ", ".join(f"{j['job']} {j['seconds']} s" for j in jobs_run))
                    runs.append({"total_seconds": round(total, 3), "jobs": jobs_run})
            finally:
                seeded.drop()
            names = [j["job"] for j in runs[0]["jobs"]]
            median = {n: statistics.median(run["jobs"][i]["seconds"] or 0 for run in runs)
                      for i, n in enumerate(names)}
            total = statistics.median(run["total_seconds"] for run in runs)
            report["stores"][kind] = {"data": data, "median_seconds": {k: round(v, 3) for k, v in median.items()},
                                      "median_total_seconds": round(total, 3), "met": total < GOAL_SECONDS,
                                      "runs": runs}

    report["environment"] = {
        "python": platform.python_version(), "sqlalchemy": sqlalchemy.__version__,
        "machine": platform.machine(), "cpus": os.cpu_count(), "load_average_at_end": round(os.getloadavg()[0], 2),
    }
    table = Table(title=f"nightly jobs over {args.rows:,} leads: wall seconds, median of {args.runs} run(s)")
    table.add_column("job")
    for kind in kinds:
        table.add_column(kind, justify="right")
    names = [j.name for j in pb.jobs]
    for name in names:
        table.add_row(name, *[f"{report['stores'][k]['median_seconds'].get(name, 0):.2f}" for k in kinds])
    table.add_row("[bold]all[/]", *[
        f"[bold]{report['stores'][k]['median_total_seconds']:.2f}[/] "
        f"({'met' if report['stores'][k]['met'] else 'NOT met'}: < {GOAL_SECONDS:.0f} s)" for k in kinds])
    console.print(table)
    for kind in kinds:
        last = report["stores"][kind]["runs"][-1]["jobs"]
        console.print(f"{kind}, what each job did (last run): " + "; ".join(
            f"{j['job']}: {json.dumps(j['result'])[:160]}" for j in last))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "jobs.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    console.print(f"written: {RESULTS / 'jobs.json'}")


if __name__ == "__main__":
    main()
