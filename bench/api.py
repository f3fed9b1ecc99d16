"""Intake over HTTP: requests/s and p50/p99 ms with 32 concurrent clients, beside the framework's ceiling.

For each store (SQLite in a temp file; PostgreSQL when LEADFLOW_BENCH_POSTGRES_URL or LEADFLOW_TEST_POSTGRES_URL
is set, in a throw-away database) the demo organisation is loaded (`leadflow init`'s), an admin API token made,
and `leadflow serve`'s app started with uvicorn (one worker) on 127.0.0.1. `wrk -c32 -t2 -d10s --latency`
then POSTs a Contact Us person (a new person at a new company, with a phone of its own, every request; Bearer
token, JSON) to
/intake/contact_us: the whole
pipeline (normalise, spam, duplicates, match, score, route, history, outbox) and one commit per request.
Beside it, in the same run, a bare FastAPI endpoint that echoes the same JSON payload (one worker, same wrk
flags) is the framework ceiling. Each figure is the median of 3 runs; non-2xx answers are counted and must be 0.

Goal (the issue): intake requests/s >= 40 % of the echo ceiling.

    .venv/bin/python bench/api.py [--runs 3] [--duration 10] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

RESULTS = Path(__file__).with_name("results")
GOAL_SHARE = 0.40
WRK = "/usr/bin/wrk"
CONNECTIONS, THREADS = 32, 2

# The bare ceiling: the same JSON in, the same JSON out, nothing else (run as `api:echo_app`).
echo_app = FastAPI()


@echo_app.post("/intake/{channel}")
def echo(channel: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"channel": channel, **payload}


LUA = r"""
local counter = 0
local thread_count = 0
local threads = {}
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end
function init(args)
  run = args[1]
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer TOKEN"
function request()
  counter = counter + 1
  local body = string.format(
    '{"first_name":"Bench","last_name":"Person%d","email":"bench@company-%s-%d-%d.example",' ..
    '"company":"Company %s %d %d","country":"Germany","title":"Engineer","phone":"+49 30 %d%06d"}',
    counter, run, tid, counter, run, tid, counter, tid + 1, counter)
  return wrk.format(nil, nil, nil, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(url: str) -> str:
    """Migrate, load the playbook and the demo organisation; return an admin token."""
    from sqlalchemy import select

    from leadflow.services.auth import create_token
    from leadflow.services.demo import seed_demo
    from leadflow.services.setup import initialise, read_playbook
    from leadflow.store.db import Store
    from leadflow.store.models import User

    now = dt.datetime.now(dt.UTC)
    store = Store(url)
    pb, text, source = read_playbook(None)
    initialise(store, pb, text, source, now)
    seed_demo(store, pb, now)
    with store.uow() as uow:
        admin = uow.session.scalars(select(User.id).where(User.role == "Admin", User.active.is_(True))).first()
        assert admin is not None
        token = create_token(uow, admin, "bench", "bench", now).token
        uow.commit()
    store.dispose()
    return token


def serve(app: str, env: dict[str, str], port: int, factory: bool) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--log-level", "warning", "--no-access-log", "--app-dir", str(Path(__file__).parent)]
    if factory:
        cmd.append("--factory")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health" if factory else f"http://127.0.0.1:{port}/docs", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server {app} did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


AUTH_ONLY_LUA = 'wrk.headers["Authorization"] = "Bearer TOKEN"\n'


def run_wrk(port: int, token: str, duration: int, tag: str, path: str = "/intake/contact_us") -> dict[str, float]:
    lua = LUA if path.startswith("/intake") else AUTH_ONLY_LUA
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua.replace("TOKEN", token).replace("%%", "%"))
    cmd = [WRK, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--timeout", "60s", "--latency",
           "-s", script.name, f"http://127.0.0.1:{port}{path}", "--", tag]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    Path(script.name).unlink()
    text = result.stdout
    if "Latency Distribution" not in text:
        raise RuntimeError(f"wrk gave no latency distribution:\n{text}\n{result.stderr}")
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", text, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),  # type: ignore[union-attr]
        "p50_ms": to_ms(latency["50"]),
        "p99_ms": to_ms(latency["99"]),
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),  # type: ignore[union-attr]
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
    }


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}


def pg_database(base: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text

    name = f"leadflow_bench_api_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.rsplit("/", 1)[0] + f"/{name}", drop


def bench_target(label: str, url: str | None, runs: int, duration: int) -> list[dict[str, Any]]:
    env = dict(os.environ)
    port = free_port()
    token = "none"
    if url is not None:
        token = prepare(url)
        env["LEADFLOW_DATABASE_URL"] = url
    proc = serve("leadflow.api.app:create_app" if url else "api:echo_app", env, port, factory=url is not None)
    try:
        run_wrk(port, token, 2, "warmup")
        measured = [run_wrk(port, token, duration, f"r{i}{uuid.uuid4().hex[:6]}") for i in range(runs)]
        rows = [{"target": label, "runs": runs, **median_of(measured), "all_runs": measured}]
        if url is not None:  # the API's own share: authenticate, resolve the playbook, answer (GET /auth/me)
            probe = [run_wrk(port, token, duration, "me", "/auth/me") for _ in range(runs)]
            rows.append({"target": label.replace("intake", "GET /auth/me"), "runs": runs, **median_of(probe),
                         "all_runs": probe})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--quick", action="store_true", help="1 run of 3 s each, results not written")
    args = parser.parse_args()
    runs, duration = (1, 3) if args.quick else (args.runs, args.duration)

    from rich.console import Console
    from rich.table import Table

    rows: list[dict[str, Any]] = bench_target("echo (bare FastAPI)", None, runs, duration)
    with tempfile.TemporaryDirectory() as tmp:
        rows += bench_target("intake, sqlite", f"sqlite:///{tmp}/bench.db", runs, duration)
    pg = os.environ.get("LEADFLOW_BENCH_POSTGRES_URL") or os.environ.get("LEADFLOW_TEST_POSTGRES_URL")
    if pg:
        url, drop = pg_database(pg)
        try:
            rows += bench_target("intake, postgresql", url, runs, duration)
        finally:
            drop()
    ceiling = rows[0]["rps"]
    for row in rows[1:]:
        row["share_of_echo"] = round(row["rps"] / ceiling, 3)
        if row["target"].startswith("intake"):
            row["goal_share"] = GOAL_SHARE
            row["goal_met"] = row["share_of_echo"] >= GOAL_SHARE
    table = Table(title=f"HTTP intake, wrk -t{THREADS} -c{CONNECTIONS} -d{duration}s, median of {runs}",
                  title_justify="left")
    for column in ("target", "requests/s", "p50 ms", "p99 ms", "non-2xx", "of echo", "goal >= 40 %"):
        table.add_column(column, justify="right" if column != "target" else "left")
    for row in rows:
        share = row.get("share_of_echo")
        table.add_row(row["target"], f"{row['rps']:.0f}", f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}",
                      str(int(row["non_2xx"])), f"{share:.1%}" if share is not None else "100%",
                      ("met" if row["goal_met"] else "not met") if "goal_met" in row else "")
    Console(width=120).print(table)
    if args.quick:
        print(json.dumps([{k: v for k, v in r.items() if k != "all_runs"} for r in rows], indent=1))
        return
    RESULTS.mkdir(exist_ok=True)
    out = {"bench": "api", "wrk": f"-t{THREADS} -c{CONNECTIONS} -d{duration}s --latency", "runs": runs,
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count()}, "results": rows}
    (RESULTS / "api.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
