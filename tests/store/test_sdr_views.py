"""W5: the SDR views S1 High Priority, S1, S2 and S3 (with the S3 leads to sequence), each narrowed by the
caller's visibility filter (P4) and by viewer."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Select
from typer.testing import CliRunner

from builders import a_lead, a_user, save
from leadflow.cli import app
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.views import view
from leadflow.store.db import Store
from leadflow.store.models import Activity, Lead, Sequence, SequenceEnrollment, Task

DAY = dt.timedelta(days=1)
runner = CliRunner()


def _world(uow_store: Store, now: dt.datetime) -> None:
    mine = {"owner_type": "user", "owner_id": "sdr1"}
    theirs = {"owner_type": "user", "owner_id": "sdr2"}
    with uow_store.uow() as uow:
        save(uow, now - 10 * DAY, a_user(id="sdr1", role="SDR"), a_user(id="sdr2", role="SDR"),
             Sequence(id="seq1", name="Follow up"),
             a_lead(id="hp", status="MQL", high_priority=True, score=150, mql_date=now - 2 * DAY, **mine),
             a_lead(id="hp-done", status="Disqualified", high_priority=True, **mine),
             a_lead(id="mql-old", status="MQL", score=100, mql_date=now - 5 * DAY, **mine),
             a_lead(id="mql-new", status="MQL", score=100, mql_date=now - 1 * DAY, **theirs),
             a_lead(id="mql-merged", status="MQL", merged_into_id="mql-old", merged_into_type="lead", **mine),
             a_lead(id="called", status="Accepted", region="Public Sector", **mine),
             a_lead(id="not-called", status="Accepted", **mine),
             a_lead(id="q-seq", status="Qualifying", **mine),
             a_lead(id="q-task", status="Qualifying", **mine),
             a_lead(id="q-meeting", status="Qualifying", **mine),
             a_lead(id="q-past-meeting", status="Qualifying", **theirs),
             a_lead(id="q-nothing", status="Qualifying", **theirs),
             Activity(subject_type="lead", subject_id="called", type="call", at=now - DAY),
             Activity(subject_type="lead", subject_id="not-called", type="email_sent", at=now - DAY),
             SequenceEnrollment(sequence_id="seq1", subject_type="lead", subject_id="q-seq", state="active",
                                enrolled_at=now - DAY),
             SequenceEnrollment(sequence_id="seq1", subject_type="lead", subject_id="q-nothing", state="finished",
                                enrolled_at=now - 9 * DAY),
             Task(subject_type="lead", subject_id="q-task", subject="send pricing", status="open"),
             Task(subject_type="lead", subject_id="q-nothing", subject="old", status="done"),
             Task(subject_type="lead", subject_id="q-meeting", kind="meeting", subject="IQM", status="open",
                  due_at=now + 2 * DAY),
             Task(subject_type="lead", subject_id="q-past-meeting", kind="meeting", subject="IQM", status="open",
                  due_at=now - 2 * DAY))


def ids(store: Store, pb: Playbook, name: str, now: dt.datetime, **kw: object) -> list[str]:
    return [r.id for r in view(store, pb, name, now, **kw).rows]  # type: ignore[arg-type]


def test_W5_s1_high_priority_lists_open_high_priority_leads(store: Store, playbook: Playbook,
                                                            now: dt.datetime) -> None:
    _world(store, now)
    assert ids(store, playbook, "s1-high", now) == ["hp"]


def test_W5_s1_lists_mqls_oldest_first_without_merged_records(store: Store, playbook: Playbook,
                                                              now: dt.datetime) -> None:
    _world(store, now)
    assert ids(store, playbook, "s1", now) == ["mql-old", "hp", "mql-new"]
    assert ids(store, playbook, "s1", now, viewer="sdr2") == ["mql-new"]


def test_W5_s2_lists_existing_leads_with_a_logged_phone_call(store: Store, playbook: Playbook,
                                                             now: dt.datetime) -> None:
    _world(store, now)
    assert ids(store, playbook, "s2", now) == ["called"]


def test_W5_s3_lists_qualifying_leads_and_marks_those_to_sequence(store: Store, playbook: Playbook,
                                                                  now: dt.datetime) -> None:
    _world(store, now)
    rows = {r.id: r for r in view(store, playbook, "s3", now).rows}
    assert set(rows) == {"q-seq", "q-task", "q-meeting", "q-past-meeting", "q-nothing"}
    assert rows["q-seq"].active_sequence and not rows["q-seq"].to_sequence
    assert rows["q-task"].open_task and not rows["q-task"].to_sequence
    assert rows["q-meeting"].future_meeting and not rows["q-meeting"].to_sequence
    assert rows["q-past-meeting"].to_sequence and rows["q-nothing"].to_sequence  # a past meeting does not count
    assert sorted(ids(store, playbook, "s3-to-sequence", now)) == ["q-nothing", "q-past-meeting"]
    # the same lead a week later: its meeting is past, so it must be sequenced
    assert "q-meeting" in ids(store, playbook, "s3-to-sequence", now + 7 * DAY)


def test_W5_every_view_applies_the_callers_visibility_filter(store: Store, playbook: Playbook,
                                                             now: dt.datetime) -> None:
    _world(store, now)

    def hide_public_sector(stmt: Select) -> Select:  # type: ignore[type-arg]
        return stmt.where(Lead.__table__.c.region.is_distinct_from("Public Sector"))

    shown = view(store, playbook, "s2", now, filter=hide_public_sector)
    assert shown.rows == [] and shown.total == 0
    assert view(store, playbook, "s2", now).total == 1
    assert view(store, playbook, "s3", now, filter=hide_public_sector).total == 5


def test_W5_a_page_says_how_many_leads_the_view_holds(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    _world(store, now)
    page = view(store, playbook, "s3", now, limit=2)
    assert len(page.rows) == 2 and page.total == 5


def test_W5_an_unknown_view_names_the_field(store: Store, playbook: Playbook, now: dt.datetime) -> None:
    with pytest.raises(InvalidInput) as caught:
        view(store, playbook, "s9", now)
    assert caught.value.field == "name" and "s1-high" in str(caught.value)


def test_W5_cli_prints_a_view_as_a_table_or_json(store: Store, now: dt.datetime,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    monkeypatch.delenv("LEADFLOW_PLAYBOOK", raising=False)
    _world(store, now)
    table = runner.invoke(app, ["view", "s3-to-sequence", "--now", now.isoformat()])
    assert table.exit_code == 0, table.output
    assert "q-nothing" in table.stdout and "q-seq" not in table.stdout
    as_json = runner.invoke(app, ["view", "s1", "--json", "--viewer", "sdr1", "--now", now.isoformat()])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["total"] == 2 and [r["id"] for r in data["rows"]] == ["mql-old", "hp"]
    bad = runner.invoke(app, ["view", "s9"])
    assert bad.exit_code == 2 and "unknown view" in bad.output
