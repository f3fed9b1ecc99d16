"""The operator CLI on a real database: init, lead show, lead transition, bad data (A4, L1-L5)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from builders import a_lead, a_user, save
from leadflow.cli import app
from leadflow.store.db import Store
from leadflow.store.models import Lead, Queue

runner = CliRunner()


@pytest.fixture
def cli_env(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    monkeypatch.delenv("LEADFLOW_PLAYBOOK", raising=False)
    return store


def test_L2_init_without_demo_loads_playbook_and_its_queues(cli_env: Store) -> None:
    result = runner.invoke(app, ["init", "--no-demo", "--now", "2026-03-02T15:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "GitLab handbook (default)" in result.output
    again = runner.invoke(app, ["init", "--no-demo", "--now", "2026-03-02T16:00:00Z"])
    assert again.exit_code == 0 and "already in force" in again.output
    with cli_env.uow() as uow:
        names = set(uow.session.scalars(Queue.__table__.select().with_only_columns(Queue.id)))
    assert {"Raw Queue", "Inquiry Queue", "Disqualified Queue", "Recycle Queue", "Ineligible Queue",
            "Inactive User Queue", "SDR Queue"} <= names


def test_L5_cli_transition_moves_and_show_prints_history(cli_env: Store, now: dt.datetime) -> None:
    with cli_env.uow() as uow:
        save(uow, now, a_user(id="ana"), a_lead(id="l1", status="Accepted", owner_type="user", owner_id="ana"))
    moved = runner.invoke(app, ["lead", "transition", "l1", "--to", "Recycle", "--reason", "No response",
                                "--as", "ana", "--now", "2026-03-03T09:00:00Z"])
    assert moved.exit_code == 0, moved.output
    assert "Accepted -> Recycle (No response)" in moved.output
    assert "queue:Recycle Queue" in moved.output
    shown = runner.invoke(app, ["lead", "show", "l1"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "Recycle Queue" in shown.output and "transition:Accepted->Recycle" in shown.output
    assert "user:ana" in shown.output


def test_L3_cli_refusal_is_one_line_and_changes_nothing(cli_env: Store, now: dt.datetime) -> None:
    with cli_env.uow() as uow:
        save(uow, now, a_lead(id="l1", status="MQL"))
    refused = runner.invoke(app, ["lead", "transition", "l1", "--to", "Disqualified"])
    assert refused.exit_code == 2
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "reason" in lines[0] and "Disqualified" in lines[0]
    with cli_env.uow() as uow:
        assert uow.get(Lead, "l1").status == "MQL"


def test_L5_cli_unknown_lead_is_a_clear_error(cli_env: Store) -> None:
    result = runner.invoke(app, ["lead", "show", "nope"])
    assert result.exit_code == 2
    assert "no lead with id 'nope'" in result.output


def test_L4_cli_bad_data_fires_the_rule(cli_env: Store, now: dt.datetime) -> None:
    with cli_env.uow() as uow:
        save(uow, now, a_lead(id="l1", status="Accepted", bad_data_reasons=["Bad phone number"]))
    result = runner.invoke(app, ["lead", "bad-data", "l1", "--reason", "Bounced email"])
    assert result.exit_code == 0, result.output
    assert "rule bad-data-phone-and-email: Disqualified - Bad Data" in result.output


def test_L8_cli_shows_legacy_status_mapping(cli_env: Store) -> None:
    result = runner.invoke(app, ["playbook", "legacy-status", "Nurture"])
    assert result.exit_code == 0
    assert json.loads(result.output) == {"status": "Recycle", "reason": "No response"}
