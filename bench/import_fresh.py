"""CSV list import into a populated database, by a new process (I3, M1): what `leadflow import` does.

bench/import.py imports 100,000 rows in one process, which has normalised every candidate it reads by the
time it reads it again. A user's `leadflow import` is a new process against a database that already holds
people: every stored candidate the duplicate search reads is new to it. The stored keys (`email_key`,
`phone_key`, migration 0015) let it read a candidate's address and number without checking them again.

The database: a fresh migrated SQLite file with bench/import.py's demo organisation and 2,000 accounts,
into which the first --stored rows of bench/import.py's generated list are imported (same seed). Then, for
each of --runs runs, interleaved, on a copy of it:

- keys: a new Python process imports the next --rows rows (`import_leads`, event_scan, with history), then,
  in the same process, the --rows rows after them (a warmed process, for comparison);
- no keys (the baseline, as before 0015): the same, on a copy whose `email_key` and `phone_key` were set to
  NULL first, so the search normalises every stored candidate as it reads it.

Each figure is rows/s of `import_leads` alone (not the interpreter's start), the median of the runs.

    .venv/bin/python bench/import_fresh.py [--stored 60000] [--rows 1500] [--runs 3] [--seed 7]

Writes bench/results/import_fresh.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))
bench_import = importlib.import_module("import")  # bench/import.py: the generated list and the seeded store

RESULTS = Path(__file__).with_name("results")
console = Console(highlight=False, width=150)


def child(db: Path, first: Path, second: Path) -> None:
    """In the new process: import `first`, then `second`; print rows/s of each as JSON."""
    from leadflow.domain.records import Actor
    from leadflow.playbook.load import cached_playbook
    from leadflow.services.imports import import_leads
    from leadflow.store.db import Store

    store = Store(f"sqlite:///{db}")
    pb = cached_playbook(None)
    out = {}
    for name, path in (("fresh", first), ("warmed", second)):
        start = time.perf_counter()
        report = import_leads(store, pb, path, channel="event_scan", actor=Actor.system("bench-import"),
                              now=bench_import.NOW, campaign="Bench Event")
        out[name] = report.rows / (time.perf_counter() - start)
        out[f"{name}_created"] = report.created
    store.dispose()
    print(json.dumps(out))


def populated(tmp: Path, stored: int, rows: int, seed: int) -> tuple[Path, Path, Path, float]:
    """The populated database and the two lists to import into it; and the set-up's rows/s."""
    from leadflow.domain.records import Actor
    from leadflow.playbook.load import cached_playbook
    from leadflow.services.imports import import_leads

    rng = bench_import.random.Random(seed)
    companies = bench_import.make_companies(rng, 2000)
    data, _ = bench_import.make_rows(rng, stored + 2 * rows, companies)
    paths = [tmp / "stored.csv", tmp / "first.csv", tmp / "second.csv"]
    for path, part in zip(paths, (data[:stored], data[stored:stored + rows], data[stored + rows:]), strict=True):
        bench_import.write_csv(path, part)
    dbs = bench_import.Databases("sqlite", None, tmp, bench_import.account_rows(companies))
    store, name = dbs.fresh()
    start = time.perf_counter()
    with console.status(f"importing the {stored:,} stored rows"):
        import_leads(store, cached_playbook(None), paths[0], channel="event_scan",
                     actor=Actor.system("bench-import"), now=bench_import.NOW, campaign="Bench Event")
    rate = stored / (time.perf_counter() - start)
    store.dispose()
    db = tmp / "populated.db"
    shutil.move(tmp / f"{name}.db", db)
    return db, paths[1], paths[2], rate


def one_run(db: Path, first: Path, second: Path, tmp: Path, keys: bool) -> dict[str, float]:
    work = tmp / f"run_{'keys' if keys else 'nokeys'}.db"
    shutil.copyfile(db, work)
    if not keys:
        engine = create_engine(f"sqlite:///{work}")
        with engine.begin() as conn:
            for table in ("leads", "contacts"):
                conn.execute(text(f"UPDATE {table} SET email_key = NULL, phone_key = NULL"))
        engine.dispose()
    done = subprocess.run([sys.executable, __file__, "--child", str(work), str(first), str(second)],
                          check=True, capture_output=True, text=True)
    work.unlink()
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stored", type=int, default=60000, help="rows imported before the measured lists")
    parser.add_argument("--rows", type=int, default=1500, help="rows of each measured list")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*(Path(p) for p in args.child))
        return
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        db, first, second, setup_rate = populated(tmp, args.stored, args.rows, args.seed)
        runs: dict[str, list[dict[str, float]]] = {"keys": [], "no keys": []}
        for i in range(args.runs):
            for label in (("keys", "no keys") if i % 2 == 0 else ("no keys", "keys")):
                runs[label].append(one_run(db, first, second, tmp, keys=label == "keys"))
    results = []
    for label, measured in runs.items():
        results.append({
            "variant": label,
            "runs": len(measured),
            "fresh_rows_per_s": round(statistics.median(r["fresh"] for r in measured), 1),
            "warmed_rows_per_s": round(statistics.median(r["warmed"] for r in measured), 1),
            "all_runs": measured,
        })
    base = next(r for r in results if r["variant"] == "no keys")
    for r in results:
        r["fresh_ratio_to_no_keys"] = round(r["fresh_rows_per_s"] / base["fresh_rows_per_s"], 3)
        r["warmed_ratio_to_no_keys"] = round(r["warmed_rows_per_s"] / base["warmed_rows_per_s"], 3)
    table = Table(title=f"Import of {args.rows:,} rows into {args.stored:,} stored, by a new process "
                        f"(SQLite, median of {args.runs})")
    for column in ("variant", "fresh rows/s", "ratio", "then warmed rows/s", "ratio", "runs (fresh)"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for r in results:
        table.add_row(r["variant"], f"{r['fresh_rows_per_s']:,.0f}", f"{r['fresh_ratio_to_no_keys']:.2f}",
                      f"{r['warmed_rows_per_s']:,.0f}", f"{r['warmed_ratio_to_no_keys']:.2f}",
                      " / ".join(f"{m['fresh']:,.0f}" for m in r["all_runs"]))
    console.print(table)
    console.print(f"(set-up: {args.stored:,} rows imported at {setup_rate:,.0f} rows/s in one process)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "import_fresh.json").write_text(json.dumps({
        "benchmark": "import_fresh", "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code": bench_import.code_version(), "python": platform.python_version(), "machine": platform.machine(),
        "stored_rows": args.stored, "rows": args.rows, "seed": args.seed, "setup_rows_per_s": round(setup_rate, 1),
        "results": results,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
