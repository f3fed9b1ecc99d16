"""I2, R13 from the operator's command line: secrets, dead letters and replay, subscriptions, the worker."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadflow.api.app import create_app
from leadflow.cli import app
from leadflow.domain.records import Actor
from leadflow.domain.webhook_signature import sign, unix_seconds
from leadflow.playbook.load import default_playbook_path
from leadflow.settings import Settings
from leadflow.store.db import Store

runner = CliRunner()
NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def cli_env(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    monkeypatch.delenv("LEADFLOW_PLAYBOOK", raising=False)
    monkeypatch.delenv("LEADFLOW_WEBHOOK_SECRET_PURCHASES", raising=False)
    return store


@pytest.fixture
def listener() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append({"headers": dict(self.headers.items()), "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/in", seen
    server.shutdown()
    server.server_close()


def test_I2_cli_sets_a_secret_lists_a_dead_letter_and_replays_it_after_the_playbook_is_fixed(
    cli_env: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = runner.invoke(app, ["webhooks", "secret", "set", "purchases", "--now", "2026-03-02T14:00:00Z"])
    assert made.exit_code == 0, made.output
    secret = made.output.strip().split(": ", 1)[1]
    assert len(secret) == 64
    unknown = runner.invoke(app, ["webhooks", "secret", "set", "mailchimp"])
    assert unknown.exit_code == 2 and "mailchimp" in unknown.output

    body = json.dumps({"account": {"email": "bill@gmail.com", "last_name": "Lumbergh", "organisation": "Initech"}})
    application = create_app(Settings(database_url=cli_env.url))
    application.state.now = lambda: NOW
    ts = unix_seconds(NOW)
    with TestClient(application) as client:
        answer = client.post("/webhooks/purchases", content=body, headers={
            "X-Leadflow-Signature": sign(secret, ts, body.encode()), "X-Leadflow-Timestamp": str(ts),
            "X-Leadflow-Delivery": "p-7"})
    assert answer.status_code == 422
    dl_id = answer.json()["dead_letter"]

    listed = runner.invoke(app, ["webhooks", "dead-letters", "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.output.splitlines()]
    assert (row["id"], row["source"], row["delivery"], row["field"]) == (dl_id, "purchases", "p-7", "company")
    still = runner.invoke(app, ["webhooks", "replay", dl_id, "--now", "2026-03-02T16:00:00Z"])
    assert still.exit_code == 1 and "still failing" in still.output

    document = yaml.safe_load(default_playbook_path().read_text())
    purchases = next(s for s in document["webhooks"]["sources"] if s["name"] == "purchases")
    purchases["fields"]["account.organisation"] = "company"
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(yaml.safe_dump(document, sort_keys=False))
    monkeypatch.setenv("LEADFLOW_PLAYBOOK", str(fixed))
    replayed = runner.invoke(app, ["webhooks", "replay", "--all", "--now", "2026-03-02T16:05:00Z"])
    assert replayed.exit_code == 0, replayed.output
    assert f"{dl_id}: processed" in replayed.output and '"account"' in replayed.output
    assert runner.invoke(app, ["webhooks", "dead-letters", "--json"]).output.strip() == ""
    again = runner.invoke(app, ["webhooks", "replay", dl_id])
    assert again.exit_code == 2 and "already replayed" in again.output


def test_R13_cli_subscribes_and_the_worker_delivers_once(
    cli_env: Store, listener: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = listener
    made = runner.invoke(app, ["webhooks", "subscribe", url, "-e", "lead.*", "--description", "crm sync",
                               "--now", "2026-03-02T14:00:00Z"])
    assert made.exit_code == 0, made.output
    secret = made.output.split("secret: ", 1)[1].strip()
    with cli_env.uow() as uow:
        with uow.changing(actor=Actor.system("test"), now=NOW, rule="test", why="an event"):
            uow.emit("lead.routed", payload={"lead": "l1", "owner": "ana"})
        uow.commit()
    first = runner.invoke(app, ["worker", "--once", "--now", "2026-03-02T15:00:00Z"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["delivered"] == 1
    second = runner.invoke(app, ["worker", "--once", "--now", "2026-03-02T16:00:00Z"])
    assert json.loads(second.output)["sent"] == 0
    [got] = seen
    assert got["body"]["data"] == {"lead": "l1", "owner": "ana"}
    assert got["headers"]["X-Leadflow-Signature"] == sign(
        secret, int(got["headers"]["X-Leadflow-Timestamp"]),
        json.dumps(got["body"], sort_keys=True, separators=(",", ":")).encode())
    listed = runner.invoke(app, ["webhooks", "subscriptions"], env={"COLUMNS": "200"})
    assert "crm sync" in listed.output and secret not in listed.output
    shown = runner.invoke(app, ["webhooks", "deliveries", "--status", "delivered"], env={"COLUMNS": "200"})
    assert "lead.routed" in shown.output and "delivered" in shown.output
    bad = runner.invoke(app, ["worker", "--now", "2026-03-02T15:00:00Z"])
    assert bad.exit_code == 2 and "--once" in bad.output
    delivered = runner.invoke(app, ["webhooks", "retry", "whd_1"])
    assert delivered.exit_code == 2 and "only failed ones" in delivered.output


def test_R13_the_worker_runs_until_terminated_and_then_stops_cleanly(
    cli_env: Store, listener: tuple[str, list[dict[str, Any]]]
) -> None:
    """`make run` stops the worker with SIGTERM when the server stops; it finishes its pass and exits 0."""
    import os
    import signal
    import subprocess
    import sys
    import time

    url, seen = listener
    assert runner.invoke(app, ["webhooks", "subscribe", url, "-e", "*"]).exit_code == 0
    with cli_env.uow() as uow:
        with uow.changing(actor=Actor.system("test"), now=dt.datetime.now(dt.UTC), rule="test", why="an event"):
            uow.emit("lead.routed", payload={"lead": "l1"})
        uow.commit()
    env = {**os.environ, "LEADFLOW_DATABASE_URL": cli_env.url}
    proc = subprocess.Popen([sys.executable, "-m", "leadflow.cli", "worker"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(seen) == 1, "the running worker delivers the event"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "worker: stopped" in err
    assert json.loads(out.splitlines()[0])["delivered"] == 1
