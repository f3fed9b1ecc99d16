"""Rescoring and re-segmenting stored leads (S1-S5, S10, L6): leads per second of `rescore_all`.

Data (generated, `random.Random(--seed)`): ~2,000 accounts (types Prospect / Customer / Former
Customer / Partner / CE user, ~12 % subsidiaries under a parent, employee counts from one of the
sources or none, a country address, a stale stored segment and no derivation yet), and N leads
with the mix a database has: statuses Raw, Inquiry, MQL, Accepted, Qualifying, Recycle; titles
(executives, managers, students, none); countries written every way, US and Canadian states;
some public-sector industries; employee answers or none; corporate, free-mail and competitor
addresses; ~40 % matched to an account (Zipf-like: a few accounts with many leads), matching done
or not, product-user and partner flags known or not; ~5 % with a trial's dates; ~2 % with a score
sent by an upstream tool; Initial Source GitLab.com for ~10 %. Each lead has ~3 activities (0-7)
of mixed types (page visits, content, webcasts, contact us, trials, chat, ...) aged 0-200 days,
a few after `now`. Stored figures start empty (score 0, no segment, no region), as after an
import. Seeding uses SQLAlchemy Core executemany and is not timed.

For each store (SQLite in a temp file; PostgreSQL when LEADFLOW_BENCH_POSTGRES_URL or
LEADFLOW_TEST_POSTGRES_URL is set, in a throw-away database), on a fresh database per run:

- first: `rescore_all(store, pb, NOW)`: every figure changes, history is written for each change
  (and each matched account's hierarchy is re-derived once: its stored segment has no derivation);
- second: `rescore_all` again at the same `now`: no value changes, no history row is written (the
  `derivations` explanations of leads whose score did change in the first run are updated once,
  since they now say "score 95 -> 95"; that is not history);
- next_day: `rescore_all` at `now` + 1 day, as the nightly job runs: the few figures that time
  changes (points fading after 90 days, Active windows ending) are written, with their history;
- refresh_lead (SQLite only, on the first --baseline leads, fresh database): the per-lead path,
  `derive.refresh_lead(uow, pb, lead, NOW, activities=...)` with the activities prefetched per chunk,
  one unit of work per chunk, for comparison.

Leads/s is leads / wall time of the call, median of --runs runs; the process's CPU seconds are
reported too (on a busy machine wall time is longer than CPU time). Each timed call starts with the
email-validation cache empty, as the nightly job's own process does. `--profile` instead runs one first
rescore on SQLite under cProfile and prints the hotspots and the SQL statements per lead.

    .venv/bin/python bench/scoring.py [--rows 100000] [--runs 3] [--quick] [--profile] [--seed 11]

Writes bench/results/scoring.json (not with --profile) and prints a table.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy
from rich.console import Console
from rich.table import Table
from sqlalchemy import event, func, insert, select, text

from leadflow.domain.normalise import normalise_email
from leadflow.domain.records import Actor
from leadflow.playbook.load import cached_playbook
from leadflow.services import derive
from leadflow.services.rescore import _activities, rescore_all
from leadflow.store.db import Store
from leadflow.store.models import Account, Activity, FieldHistory, Lead

sys.path.insert(0, str(Path(__file__).parent))
from _stores import fresh_store  # noqa: E402  (the benches' shared throw-away stores)

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
RESULTS = Path(__file__).with_name("results")
GOAL = 5000
console = Console(highlight=False, width=150)

# --------------------------------------------------------------------------- generated data


def _words(text_: str) -> list[str]:
    return text_.split()


WORDS = _words(
    "Acme Apex Atlas Aurora Beacon Birch Blue Bright Cascade Cedar Cobalt Crest Delta Eagle Echo Ember Falcon "
    "Fjord Forge Granite Harbor Helix Horizon Iron Juniper Kestrel Keystone Lumen Maple Meridian Nimbus North "
    "Nova Oak Onyx Orbit Orion Osprey Peak Pine Pioneer Polar Prism Quantum Quartz Raven Redwood Ridge River "
    "Sage Sierra Silver Sky Solar Sterling Stone Summit Terra Tidal Titan Vector Vertex Willow Zenith"
)
TRADES = _words(
    "Analytics Bank Biotech Capital Cloud Consulting Data Dynamics Energy Engineering Foods Freight Games "
    "Health Industries Insurance Labs Logistics Media Motors Networks Pharma Retail Robotics Security "
    "Software Solutions Systems Technologies Telecom Ventures Works"
)
FIRST = _words("James Mary Lukas Leonie Chloé Hélène Giulia Matteo Priya Rahul Wei Yuki Kwame Amara Sven Ingrid")
LAST = _words("Smith Müller Dubois Rossi Jansen O'Brien Sharma Tanaka Wang Park Andersson Nowak Okafor Costa")
TITLES = [
    ("Software Engineer", 14), ("Senior Software Engineer", 8), ("DevOps Engineer", 8), ("Developer", 8),
    ("Engineering Manager", 6), ("Team Lead", 4), ("Solutions Architect", 4), ("Director of IT", 4),
    ("VP Engineering", 3), ("CTO", 3), ("Head of Platform", 2), ("Founder", 2), ("IT Manager", 4),
    ("Student", 4), ("Intern", 1), ("Consultant", 4), ("Procurement Manager", 1), (None, 14),
]
# alpha-2 -> (canonical name, weight, ways a form writes it, states)
COUNTRIES: dict[str, tuple[str, int, list[str], list[str]]] = {
    "US": ("United States", 34, ["USA", "United States", "US", "United States of America", "usa"],
           ["CA", "NY", "TX", "WA", "Massachusetts", "Colorado", "FL", "Oregon", ""]),
    "DE": ("Germany", 12, ["Germany", "Deutschland", "DE"], []),
    "GB": ("United Kingdom", 12, ["UK", "United Kingdom", "England", "GB"], []),
    "FR": ("France", 6, ["France", "FR"], []),
    "NL": ("Netherlands", 5, ["Netherlands", "Holland", "NL"], []),
    "CA": ("Canada", 5, ["Canada", "CA"], ["ON", "BC", "Quebec", "Alberta", ""]),
    "IN": ("India", 5, ["India", "IN"], []),
    "JP": ("Japan", 3, ["Japan", "JP"], []),
    "AU": ("Australia", 3, ["Australia", "AU"], []),
    "BR": ("Brazil", 3, ["Brazil", "Brasil"], []),
    "MX": ("Mexico", 2, ["Mexico", "México"], []),
    "XX": ("", 10, ["", "N/A", "Europe"], []),
}
ACCOUNT_TYPES = [("Prospect", 64), ("Customer", 16), ("Former Customer", 8), ("Partner", 4),
                 ("Prospect - CE User", 4), (None, 4)]
STATUSES = [("Raw", 35), ("Inquiry", 30), ("MQL", 10), ("Accepted", 5), ("Qualifying", 5), ("Recycle", 15)]
HOLDING = {"Raw": "Raw Queue", "Inquiry": "Inquiry Queue", "Recycle": "Recycle Queue"}
INDUSTRIES = [(None, 50), ("Software", 20), ("Financial Services", 10), ("Retail", 8), ("Government", 4),
              ("Education", 4), ("Non-Profit", 2), ("Health Care", 2)]
SOURCES = [("Web Direct", 25), ("Content", 20), ("Conference", 15), ("GitLab.com", 10), ("Contact Us", 8),
           ("Trial - Enterprise", 6), ("Webcast", 8), ("Newsletter", 8)]
ACTIVITY_TYPES = [
    ("page_visit", 30), ("high_value_page_visit", 6), ("email_click", 14), ("content_download", 12),
    ("webcast_registration", 6), ("webcast_attended", 3), ("event_scan", 5), ("newsletter", 4),
    ("contact_us", 2), ("demo_request", 1), ("trial_saas", 2), ("trial_self_managed", 1), ("web_chat", 2),
    ("gitlab_com_signup", 4), ("ce_download", 3), ("other_form", 3), ("sales_email", 1), ("consultancy", 1),
]
FREE_MAIL = ["gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "gmx.de"]


def _pick(rng: random.Random, pairs: list[tuple[Any, int]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _slug(text_: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text_.lower())


def make_accounts(rng: random.Random, n: int) -> list[dict[str, Any]]:
    alpha2s = [a for a in COUNTRIES if a != "XX"]
    weights = [COUNTRIES[a][1] for a in alpha2s]
    rows: list[dict[str, Any]] = []
    names: set[str] = set()
    while len(rows) < n:
        base = f"{rng.choice(WORDS)} {rng.choice(TRADES)}"
        if len(rows) >= n * 0.88 and rows:
            parent = rng.choice(rows[: int(n * 0.88)])
            base = f"{parent['name']} {rng.choice(['Labs', 'GmbH', 'Ltd', 'KK', 'Inc'])}"
        else:
            parent = None
        if base in names:
            continue
        names.add(base)
        alpha2 = rng.choices(alpha2s, weights=weights)[0]
        size = rng.choice([None, 12, 40, 85, 150, 600, 1500, 2500, 12000])
        source = rng.choice(["employees_zoominfo", "employees_datafox", "employees_linkedin"])
        row: dict[str, Any] = {
            "id": f"acc_s{len(rows):05d}", "name": base, "domain": f"{_slug(base)}.com",
            "website": f"https://www.{_slug(base)}.com/", "country": COUNTRIES[alpha2][0],
            "type": _pick(rng, ACCOUNT_TYPES) or "Prospect", "parent_id": parent["id"] if parent else None,
            "employees_admin_override": None, "employees_datafox": None, "employees_zoominfo": None,
            "employees_linkedin": None, "addresses": {"billing": {"country": COUNTRIES[alpha2][0]}}
            if rng.random() < 0.7 else {},
            "segment": rng.choice([None, "SMB", "Mid-Market", "Large"]), "region": None, "derivations": {},
            "named": False, "public_sector": rng.random() < 0.02, "restricted": False, "using_ce": False,
            "partner_managed": rng.choice([None, None, False, True]), "account_source": "Bench",
            "created_at": NOW - 400 * DAY, "updated_at": NOW - 400 * DAY,
        }
        row[source] = size
        rows.append(row)
    return rows


def make_leads(rng: random.Random, n: int, accounts: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """n lead rows and their activity rows."""
    alpha2s = list(COUNTRIES)
    weights = [COUNTRIES[a][1] for a in alpha2s]
    account_weights = [1 / (rank + 1) ** 0.7 for rank in range(len(accounts))]
    leads: list[dict[str, Any]] = []
    activities: list[dict[str, Any]] = []
    for i in range(n):
        lead_id = f"ld_s{i:07d}"
        status = _pick(rng, STATUSES)
        alpha2 = rng.choices(alpha2s, weights=weights)[0]
        _, _, written, states = COUNTRIES[alpha2]
        matched = rng.choices(accounts, weights=account_weights)[0] if rng.random() < 0.4 else None
        roll = rng.random()
        if matched is not None and roll < 0.75:
            email = f"{rng.choice(FIRST).lower()}.{i}@{matched['domain']}"
        elif roll < 0.97:
            email = f"{_slug(rng.choice(FIRST))}{i}@{rng.choice(FREE_MAIL)}"
        else:
            email = f"dev{i}@{rng.choice(['github.com', 'atlassian.com'])}"
        external = rng.random() < 0.02
        trial_start = NOW - rng.randint(0, 90) * DAY if rng.random() < 0.05 else None
        leads.append({
            "id": lead_id, "first_name": rng.choice(FIRST), "last_name": rng.choice(LAST), "email": email,
            "company": matched["name"] if matched else f"{rng.choice(WORDS)} {rng.choice(TRADES)}",
            "title": _pick(rng, TITLES), "country": rng.choice(written) or None,
            "state": (rng.choice(states) or None) if states else None, "industry": _pick(rng, INDUSTRIES),
            "employees": rng.choice([None, None, None, 5, 50, 250, 1200, 5000]),
            "status": status, "status_reason": "No response" if status == "Recycle" else None,
            "owner_type": "queue" if status in HOLDING else "user",
            "owner_id": HOLDING.get(status, f"usr_{rng.randint(1, 40):03d}"),
            "initial_source": _pick(rng, SOURCES), "initial_source_at": NOW - 300 * DAY,
            "matched_account_id": matched["id"] if matched else None,
            "matched_at": NOW - 200 * DAY if matched or rng.random() < 0.5 else None,
            "product_user": rng.choice([None, None, False, True]), "partner_managed": rng.choice([None] * 5 + [True]),
            "score": rng.randint(0, 120) if external else 0, "score_parts": [],
            "score_source": "external" if external else None, "mql_date": NOW - 30 * DAY if status == "MQL" else None,
            "trial_started_at": trial_start, "trial_ends_at": trial_start + 30 * DAY if trial_start else None,
            "bad_data_reasons": [], "spam_reasons": [], "duplicate_candidates": [], "derivations": {},
            "lc_unknown": "-", "lc_user": "-", "lc_prospect_hierarchy": "-", "lc_customer_hierarchy_account": "-",
            "lc_former_customer_account": "-", "lc_partner_managed": "-", "high_priority": False, "opt_out": False,
            "inactive": False, "spam": False, "not_to_engage": False,
            "created_at": NOW - 300 * DAY, "updated_at": NOW - 300 * DAY,
        })
        for k in range(min(7, max(0, round(rng.gauss(3, 1.6))))):
            age = dt.timedelta(days=-rng.uniform(0, 3)) if rng.random() < 0.01 else rng.uniform(0, 200) * DAY
            activities.append({"id": f"act_s{i:07d}_{k}", "subject_type": "lead", "subject_id": lead_id,
                               "type": _pick(rng, ACTIVITY_TYPES), "at": NOW - age, "details": {}, "actor_id": None})
    return leads, activities


# --------------------------------------------------------------------------- stores








def seed(store: Store, accounts: list[dict], leads: list[dict], activities: list[dict]) -> float:
    """Core executemany inserts, parents before subsidiaries; returns the seconds taken."""
    start = time.perf_counter()
    with store.engine.begin() as conn:
        conn.execute(insert(Account.__table__), [a for a in accounts if a["parent_id"] is None])
        conn.execute(insert(Account.__table__), [a for a in accounts if a["parent_id"] is not None])
    for rows, table in ((leads, Lead.__table__), (activities, Activity.__table__)):
        for i in range(0, len(rows), 20_000):
            with store.engine.begin() as conn:
                conn.execute(insert(table), rows[i:i + 20_000])
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - start


class StatementCounter:
    """Counts SQL statements sent to the driver (an executemany counts once), by verb and table."""

    PATTERN = re.compile(r"^\s*(\w+)(?:.*?\b(?:FROM|INTO|UPDATE)\s+\"?(\w+))?", re.S | re.I)

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.engine = engine
        self.counts: Counter[str] = Counter()
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        m = self.PATTERN.match(statement)
        verb = m.group(1).upper() if m else "?"
        table = (m.group(2) or "") if m and verb in ("SELECT", "INSERT", "UPDATE", "DELETE") else ""
        self.counts[f"{verb} {table}".strip() + (" (executemany)" if executemany else "")] += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def history_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(FieldHistory)) or 0)


# --------------------------------------------------------------------------- the timed calls


RUNS = (("first", NOW), ("second", NOW), ("next_day", NOW + DAY))


def run_rescore(store: Store) -> dict[str, Any]:
    pb = cached_playbook(None)
    out: dict[str, Any] = {}
    for label, now in RUNS:
        before = history_count(store)
        # as in the job's own process: no address validated yet (S1's email rules validate each one; the
        # cache of 65,536 would otherwise hold a --quick run's addresses from the run before)
        normalise_email.cache_clear()
        counter = StatementCounter(store.engine)
        cpu = time.process_time()
        report = rescore_all(store, pb, now)
        cpu = time.process_time() - cpu
        counter.close()
        out[label] = {**report.as_json(), "cpu_seconds": round(cpu, 3),
                      "history_rows_in_table": history_count(store) - before,
                      "sql_statements": counter.total, "leads_per_s": round(report.leads / report.seconds)}
        if label == "first":
            with store.engine.connect() as conn:
                out["statuses"] = dict(conn.execute(select(Lead.status, func.count()).group_by(Lead.status)).all())
                out["mean_score"] = round(float(conn.scalar(select(func.avg(Lead.score))) or 0), 2)
    return out


def run_refresh_lead(store: Store, limit: int, chunk: int = 2000) -> dict[str, Any]:
    """The per-lead path for comparison: derive.refresh_lead per lead, activities prefetched per chunk,
    twice at the same `now` (first: every figure changes; second: none does)."""
    pb = cached_playbook(None)
    out: dict[str, Any] = {}
    for label in ("first", "second"):
        normalise_email.cache_clear()
        start = time.perf_counter()
        done = 0
        after = ""
        while done < limit:
            with store.uow() as uow:
                leads = list(uow.session.scalars(select(Lead).where(Lead.id > after).order_by(Lead.id)
                                                 .limit(min(chunk, limit - done))))
                if not leads:
                    break
                acts = _activities(uow, [lead.id for lead in leads])
                with uow.changing(actor=Actor.system("bench"), now=NOW):
                    for lead in leads:
                        derive.refresh_lead(uow, pb, lead, NOW, activities=acts.get(lead.id, []))
                uow.commit()
            after = leads[-1].id
            done += len(leads)
        seconds = time.perf_counter() - start
        out[label] = {"leads": done, "seconds": round(seconds, 3), "leads_per_s": round(done / seconds)}
    return out


def profile(rows: int, seed_: int, tmp: Path) -> None:
    rng = random.Random(seed_)
    accounts = make_accounts(rng, 2000)
    leads, activities = make_leads(rng, rows, accounts)
    for label in ("first", "second"):
        box = fresh_store("sqlite", None, tmp)
        store = box.store
        seed(store, accounts, leads, activities)
        pb = cached_playbook(None)
        if label == "second":
            rescore_all(store, pb, NOW)
        counter = StatementCounter(store.engine)
        prof = cProfile.Profile()
        prof.enable()
        report = rescore_all(store, pb, NOW)
        prof.disable()
        counter.close()
        box.drop()
        console.print(f"{label} rescore of {rows:,} leads under cProfile: {report.seconds:.1f} s "
                      f"({rows / report.seconds:,.0f} leads/s with the profiler's overhead); {report}")
        console.print(f"SQL statements: {counter.total:,} = {counter.total / rows:.3f} per lead: "
                      f"{dict(counter.counts.most_common(12))}")
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(35)
        console.print(out.getvalue().split("\n", 6)[-1])


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="leads (default 100,000; 10,000 with --quick)")
    parser.add_argument("--runs", type=int, default=3, help="runs per store, each on a fresh database")
    parser.add_argument("--quick", action="store_true", help="10,000 leads")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--baseline", type=int, default=5000, help="leads for the refresh_lead comparison (0: none)")
    parser.add_argument("--profile", action="store_true", help="profile one SQLite rescore (default 10,000 leads)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    if args.profile:
        with tempfile.TemporaryDirectory() as tmpdir:
            profile(args.rows or 10_000, args.seed, Path(tmpdir))
        return
    n_rows = args.rows or (10_000 if args.quick else 100_000)
    pg_url = None if args.no_postgres else (
        os.environ.get("LEADFLOW_BENCH_POSTGRES_URL") or os.environ.get("LEADFLOW_TEST_POSTGRES_URL"))
    kinds = ["sqlite"] + (["postgresql"] if pg_url else [])

    rng = random.Random(args.seed)
    accounts = make_accounts(rng, args.accounts)
    leads, activities = make_leads(rng, n_rows, accounts)
    console.print(f"{n_rows:,} leads, {len(activities):,} activities, {len(accounts):,} accounts, "
                  f"{args.runs} run(s) on {', '.join(kinds)}")
    results: list[dict[str, Any]] = []
    baseline: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for kind in kinds:
            outcomes = []
            for run in range(args.runs):
                box = fresh_store(kind, pg_url, tmp)
                store = box.store
                try:
                    seconds = seed(store, accounts, leads, activities)
                    outcome = run_rescore(store)
                finally:
                    box.drop()
                console.print(f"  {kind} run {run + 1}: seeded in {seconds:.1f} s; " + "; ".join(
                    f"{label} {outcome[label]['seconds']:.2f} s ({outcome[label]['leads_per_s']:,} leads/s, "
                    f"{outcome[label]['history_rows']:,} history rows)" for label, _ in RUNS))
                outcomes.append(outcome)
            for label, now in RUNS:
                seconds = statistics.median(o[label]["seconds"] for o in outcomes)
                one = outcomes[0][label]
                results.append({
                    "store": kind, "run": label, "now": now.isoformat(), "leads": one["leads"],
                    "seconds": round(seconds, 3), "leads_per_s": round(one["leads"] / seconds),
                    "cpu_seconds": statistics.median(o[label]["cpu_seconds"] for o in outcomes),
                    "runs_seconds": [o[label]["seconds"] for o in outcomes],
                    "changed_leads": one["changed_leads"], "history_rows": one["history_rows"],
                    "history_rows_in_table": one["history_rows_in_table"],
                    "sql_statements": one["sql_statements"],
                })
                if label == "first":
                    results[-1]["statuses_after"] = outcomes[0]["statuses"]
                    results[-1]["mean_score_after"] = outcomes[0]["mean_score"]
        if args.baseline:
            box = fresh_store("sqlite", None, tmp)
            store = box.store
            try:
                seed(store, accounts, leads[: args.baseline],
                     [a for a in activities if a["subject_id"] <= leads[min(args.baseline, n_rows) - 1]["id"]])
                baseline = {"store": "sqlite", **run_refresh_lead(store, args.baseline)}
            finally:
                box.drop()
            console.print("  refresh_lead per lead: " + "; ".join(
                f"{label} {b['leads']:,} leads in {b['seconds']:.2f} s ({b['leads_per_s']:,} leads/s)"
                for label, b in baseline.items() if label != "store"))

    table = Table(title=f"rescore_all, {n_rows:,} leads (median of {args.runs} run(s), fresh database each)")
    for column in ("store", "run", "leads", "seconds", "leads/s", "CPU s", "changed leads", "history rows",
                   "SQL statements"):
        table.add_column(column, justify="left" if column in ("store", "run") else "right")
    for r in results:
        table.add_row(r["store"], r["run"], f"{r['leads']:,}", f"{r['seconds']:.2f}", f"{r['leads_per_s']:,}",
                      f"{r['cpu_seconds']:.2f}", f"{r['changed_leads']:,}", f"{r['history_rows']:,}",
                      f"{r['sql_statements']:,}")
    for label, b in (baseline or {}).items():
        if label != "store":
            table.add_row("sqlite", f"{label}, refresh_lead per lead", f"{b['leads']:,}", f"{b['seconds']:.2f}",
                          f"{b['leads_per_s']:,}", "", "", "", "")
    console.print(table)
    sqlite_rows = {r["run"]: r for r in results if r["store"] == "sqlite"}
    goal = {label: {"leads_per_s": r["leads_per_s"], "met": r["leads_per_s"] >= GOAL}
            for label, r in sqlite_rows.items()}
    console.print(f"goal >= {GOAL:,} leads/s on SQLite: " + ", ".join(
        f"{label} {g['leads_per_s']:,} ({'met' if g['met'] else 'NOT met'})" for label, g in goal.items()))
    console.print(f"load average while running: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPU(s)")
    if not pg_url:
        console.print("PostgreSQL skipped: set LEADFLOW_BENCH_POSTGRES_URL to include it")
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "rows": n_rows, "runs": args.runs, "seed": args.seed, "accounts": len(accounts),
        "activities": len(activities), "now": NOW.isoformat(),
        "goal": {"sqlite_leads_per_s": GOAL, "by_run": goal},
        "environment": {"python": platform.python_version(), "sqlalchemy": sqlalchemy.__version__,
                        "sqlite": __import__("sqlite3").sqlite_version, "machine": platform.machine(),
                        "cpus": os.cpu_count(), "load_average_at_end": round(os.getloadavg()[0], 2)},
        "results": results,
        "refresh_lead_per_lead": baseline,
    }
    (RESULTS / "scoring.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
