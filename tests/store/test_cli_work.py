"""The working-lead commands on a real database (W1, W3, W4, W6): the CLI calls the same services as the API."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from builders import a_lead, a_user, save
from leadflow.cli import app
from leadflow.store.db import Store
from leadflow.store.models import Lead

runner = CliRunner()
WIDE = {"COLUMNS": "220"}


@pytest.fixture
def cli_env(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    monkeypatch.delenv("LEADFLOW_PLAYBOOK", raising=False)
    return store


def test_W1_cli_sequence_create_enroll_and_events(cli_env: Store, now: dt.datetime) -> None:
    with cli_env.uow() as uow:
        save(uow, now, a_user(id="sdr"), a_lead(id="l1", status="MQL", owner_type="user", owner_id="sdr"))
    created = runner.invoke(app, ["sequence", "create", "High touch", "--step", "Email", "--step", "Call",
                                  "--now", "2026-03-02T15:00:00Z"])
    assert created.exit_code == 0, created.output
    seq = created.output.split(":")[0]
    enrolled = runner.invoke(app, ["sequence", "enroll", "l1", "--sequence", seq, "--now", "2026-03-02T15:00:00Z"])
    assert enrolled.exit_code == 0 and "(owner sdr)" in enrolled.output
    event = runner.invoke(app, ["sequence", "event", "step_completed", "--person", "l1", "--sequence", seq,
                                "--step", "1", "--event-id", "e1", "--now", "2026-03-02T16:00:00Z"])
    assert event.exit_code == 0, event.output
    assert json.loads(event.output)["status"] == "Accepted"
    listed = runner.invoke(app, ["sequence", "list"], env=WIDE)
    assert "High touch" in listed.output and "1. Email, 2. Call" in listed.output
    refused = runner.invoke(app, ["sequence", "event", "step_completed", "--person", "l1", "--sequence", seq])
    assert refused.exit_code == 2
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "step" in lines[0]


def test_W3_W4_W6_cli_activity_pass_opt_out_and_sla_report(cli_env: Store, now: dt.datetime) -> None:
    due = now + dt.timedelta(days=1)
    with cli_env.uow() as uow:
        save(uow, now, a_user(id="sdr"), a_user(id="ae", role="AE"),
             a_lead(id="l1", status="Qualifying", owner_type="user", owner_id="sdr", channel="contact_us",
                    sla_due_at=due))
    logged = runner.invoke(app, ["lead", "activity", "l1", "--type", "call", "--as", "sdr",
                                 "--now", "2026-03-02T17:00:00Z"])
    assert logged.exit_code == 0 and "SLA first response 2026-03-02 17:00" in logged.output
    report = runner.invoke(app, ["sla", "report", "--now", "2026-03-04T00:00:00Z"], env=WIDE)
    assert report.exit_code == 0, report.output
    assert "met 1" in report.output and "compliance 100.0%" in report.output
    passed = runner.invoke(app, ["lead", "pass", "l1", "--to", "ae", "--as", "sdr", "--window-days", "2",
                                 "--now", "2026-03-02T18:00:00Z"])
    assert passed.exit_code == 0, passed.output
    assert "Qualified, owner user:ae; reminder to sdr at 2026-03-04 18:00 UTC" in passed.output
    opted = runner.invoke(app, ["lead", "opt-out", "l1", "--30-days", "--now", "2026-03-02T18:00:00Z"])
    assert opted.exit_code == 0 and "until 2026-04-01 18:00 UTC" in opted.output
    job = runner.invoke(app, ["jobs", "run", "opt-out-end", "--now", "2026-04-02T08:00:00Z"])
    assert job.exit_code == 0 and "'ended': 1" in job.output
    with cli_env.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert (lead.status, lead.owner_id, lead.opt_out_until) == ("Qualified", "ae", None)
