"""`simulate --replay` on both stores (issue 6): stored open leads re-decided under a changed playbook, the
differences listed and counted, and nothing written."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from builders import a_lead, a_user, save
from leadflow.cli import app
from leadflow.playbook.load import default_playbook_path, load_playbook
from leadflow.playbook.schema import Playbook
from leadflow.services.replay import begin_read_only, end_read_only, replay
from leadflow.store.db import Store
from leadflow.store.models import FieldHistory, Lead, OutboxEvent, RoundRobinCredit, RoutingDecision

runner = CliRunner()


def changed_playbook(tmp_path: Path, change: Any) -> Path:
    """A copy of the default playbook with `change(data)` applied, dumped to a tmp file."""
    data = yaml.safe_load(default_playbook_path().read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def without_trial_rule(data: dict[str, Any]) -> None:
    data["routing"]["rules"] = [r for r in data["routing"]["rules"] if r["id"] != "trial"]


def lead(**fields: Any) -> Lead:
    values: dict[str, Any] = {"status": "MQL", "region": "EMEA", "segment": "Unknown", "score": 95,
                              "country": "Netherlands", "owner_type": "queue", "owner_id": "SDR Queue"}
    values.update(fields)
    return a_lead(**values)


@pytest.fixture
def world(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now,
             a_user(id="sales-admin", role="Sales Admin", region="US East"),
             a_user(id="bdr-a", role="BDR", region="EMEA"),
             a_user(id="sdr-emea", role="SDR", region="EMEA"),
             lead(id="trial-1", channel="trial_saas", email="=HYPERLINK(\"x\")@t1.example"),
             lead(id="trial-2", channel="trial_self_managed", email="t2@t2.example"),
             lead(id="contact-1", channel="contact_us", email="c1@c1.example"),
             lead(id="trial-low", channel="trial_saas", score=5, status="Inquiry", email="low@low.example"),
             lead(id="trial-dq", channel="trial_saas", status="Disqualified", email="dq@dq.example"),
             lead(id="trial-qualified", channel="trial_saas", status="Qualified", email="q@q.example"),
             lead(id="trial-merged", channel="trial_saas", merged_into_id="trial-1", email="m@m.example"),
             lead(id="trial-converted", channel="trial_saas", converted_at=now, email="cv@cv.example"))


def counts(store: Store) -> dict[str, int]:
    with store.uow() as uow:
        return {m.__name__: uow.session.scalar(select(func.count()).select_from(m)) or 0
                for m in (FieldHistory, Lead, OutboxEvent, RoutingDecision, RoundRobinCredit)}


def run(store: Store, old: Playbook, new: Playbook, now: dt.datetime) -> Any:
    with store.uow() as uow:
        report = replay(uow, old, new, now=now)
        assert not (uow.session.new or uow.session.dirty or uow.session.deleted)
        assert not uow.session.info.get("wrote")
    return report


def test_R1_replay_changed_rule_changes_only_the_affected_leads(
        store: Store, playbook: Playbook, now: dt.datetime, world: None, tmp_path: Path) -> None:
    before = counts(store)
    new = load_playbook(changed_playbook(tmp_path, without_trial_rule))
    report = run(store, playbook, new, now)
    # open: trial-1, trial-2, contact-1 and trial-low (below the threshold: not routed, under both)
    assert report.considered == 4 and report.not_routed == 1
    assert [(r.lead_id, r.old_rule, r.old_target, r.new_rule, r.new_target) for r in report.rows] == [
        ("trial-1", "trial", "pool:inbound-bdr/EMEA", "sdr-queue", "queue:SDR Queue"),
        ("trial-2", "trial", "pool:inbound-bdr/EMEA", "sdr-queue", "queue:SDR Queue"),
    ]
    assert report.counts == [("pool:inbound-bdr/EMEA", "queue:SDR Queue", "sdr-queue", 2)]
    assert counts(store) == before  # nothing written: no history, decision, outbox or round-robin credit


def test_R1_replay_changed_pool_is_reported_as_pool_and_region(
        store: Store, playbook: Playbook, now: dt.datetime, world: None, tmp_path: Path) -> None:
    def trial_to_regional_sdr(data: dict[str, Any]) -> None:
        rule = next(r for r in data["routing"]["rules"] if r["id"] == "trial")
        rule["assign"] = {"pool": "regional-sdr"}

    before = counts(store)
    report = run(store, playbook, load_playbook(changed_playbook(tmp_path, trial_to_regional_sdr)), now)
    assert {r.lead_id for r in report.rows} == {"trial-1", "trial-2"}
    assert report.counts == [("pool:inbound-bdr/EMEA", "pool:regional-sdr/EMEA", "trial", 2)]
    assert counts(store) == before


def test_R1_replay_unchanged_playbook_has_no_differences(
        store: Store, playbook: Playbook, now: dt.datetime, world: None, tmp_path: Path) -> None:
    before = counts(store)
    same = load_playbook(changed_playbook(tmp_path, lambda data: None))
    report = run(store, playbook, same, now)
    assert report.considered == 4 and report.rows == [] and report.counts == []
    assert counts(store) == before


def test_R1_replay_csv_escapes_cells(
        store: Store, playbook: Playbook, now: dt.datetime, world: None, tmp_path: Path) -> None:
    report = run(store, playbook, load_playbook(changed_playbook(tmp_path, without_trial_rule)), now)
    buffer = io.StringIO()
    report.write_csv(buffer)
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert rows[0][:2] == ["lead_id", "email"]
    assert rows[1][:2] == ["trial-1", "'=HYPERLINK(\"x\")@t1.example"]


def test_R1_replay_read_only_transaction_refuses_writes(store: Store, now: dt.datetime, world: None) -> None:
    with store.uow() as uow:
        begin_read_only(uow)
        try:
            with pytest.raises(Exception):  # noqa: B017 - the driver's own error (read-only transaction)
                uow.session.execute(Lead.__table__.update().values(score=1))
        finally:
            end_read_only(uow)
    with store.uow() as uow:  # the connection is writable again afterwards
        assert uow.session.scalar(select(func.min(Lead.score))) == 5


def test_R1_replay_cli_prints_counts_and_writes_csv(
        store: Store, now: dt.datetime, world: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    monkeypatch.delenv("LEADFLOW_PLAYBOOK", raising=False)
    before = counts(store)
    out = tmp_path / "changes.csv"
    result = runner.invoke(app, ["simulate", "--replay", "--playbook", str(changed_playbook(tmp_path,
                                 without_trial_rule)), "--csv", str(out), "--now", "2026-03-02T15:00:00Z"],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "2 of 4 open leads would change" in result.output
    assert "pool:inbound-bdr/EMEA" in result.output and "queue:SDR Queue" in result.output
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert [r[0] for r in rows] == ["lead_id", "trial-1", "trial-2"]
    assert counts(store) == before


def test_R1_replay_cli_needs_a_playbook(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    result = runner.invoke(app, ["simulate", "--replay"])
    assert result.exit_code == 2
