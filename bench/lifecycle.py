"""Lifecycle write path: transitions per second with field history, against raw updates.

For each store (SQLite in a temp file; PostgreSQL when LEADFLOW_BENCH_POSTGRES_URL or
LEADFLOW_TEST_POSTGRES_URL is set) it creates N leads, then moves each Raw -> MQL ->
Accepted -> Recycle through the lifecycle service (validation, queue hand-off, history rows,
one unit of work per lead), and as a baseline runs the same three status updates as plain
SQLAlchemy Core UPDATEs with no history, in the same process. Median of 3 runs.

    .venv/bin/python bench/lifecycle.py [--leads 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import update

from leadflow.domain.records import Actor
from leadflow.playbook.load import cached_playbook
from leadflow.services.lifecycle import transition
from leadflow.store.db import Store
from leadflow.store.models import Lead

sys.path.insert(0, str(Path(__file__).parent))
from _stores import fresh_store  # noqa: E402  (the benches' shared throw-away stores)

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
STEPS = [("MQL", None), ("Accepted", None), ("Recycle", "No response")]
RESULTS = Path(__file__).with_name("results")


def seed(store: Store, n: int) -> list[str]:
    ids = [f"b{i}" for i in range(n)]
    with store.uow() as uow:
        with uow.changing(actor=Actor.system("bench"), now=NOW):
            for lead_id in ids:
                uow.add(Lead(id=lead_id, last_name="Bench", status="Raw", owner_type="queue", owner_id="Raw Queue"))
        uow.commit()
    return ids


def run_service(store: Store, ids: list[str]) -> float:
    pb = cached_playbook(None)
    actor = Actor.user("bench")
    start = time.perf_counter()
    for lead_id in ids:
        with store.uow() as uow:
            lead = uow.get(Lead, lead_id)
            for i, (to, reason) in enumerate(STEPS):
                transition(uow, pb, lead, to, reason, actor, NOW + dt.timedelta(minutes=i))
            uow.commit()
    return len(ids) * len(STEPS) / (time.perf_counter() - start)


def run_raw(store: Store, ids: list[str]) -> float:
    start = time.perf_counter()
    for lead_id in ids:
        with store.engine.begin() as conn:
            for to, reason in STEPS:
                conn.execute(update(Lead).where(Lead.id == lead_id).values(status=to, status_reason=reason))
    return len(ids) * len(STEPS) / (time.perf_counter() - start)








def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    pg_url = os.environ.get("LEADFLOW_BENCH_POSTGRES_URL") or os.environ.get("LEADFLOW_TEST_POSTGRES_URL")
    kinds = ["sqlite"] + (["postgresql"] if pg_url else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for kind in kinds:
            service, raw = [], []
            for _ in range(args.runs):
                box = fresh_store(kind, pg_url, Path(tmpdir))
                store = box.store
                ids = seed(store, args.leads)
                service.append(run_service(store, ids))
                box.drop()
                box = fresh_store(kind, pg_url, Path(tmpdir))
                store = box.store
                ids = seed(store, args.leads)
                raw.append(run_raw(store, ids))
                box.drop()
            med_service, med_raw = statistics.median(service), statistics.median(raw)
            rows.append({"store": kind, "leads": args.leads, "transitions_per_s": round(med_service),
                         "raw_updates_per_s": round(med_raw), "ratio_to_raw": round(med_service / med_raw, 3),
                         "runs": args.runs})
    table = Table(title="lifecycle transitions (median of runs)")
    for column in ("store", "leads", "transitions/s (history)", "raw updates/s", "ratio"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(r["store"], str(r["leads"]), str(r["transitions_per_s"]), str(r["raw_updates_per_s"]),
                      f"{r['ratio_to_raw']:.2f}")
    Console().print(table)
    if not pg_url:
        Console().print("PostgreSQL skipped: set LEADFLOW_BENCH_POSTGRES_URL to include it")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lifecycle.json").write_text(json.dumps({"results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
