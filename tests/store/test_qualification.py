"""S11 Soft-BANT on stored leads, under the legacy playbook that states it (004)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builders import a_lead, save
from leadflow.cli import app
from leadflow.domain.records import Actor
from leadflow.playbook.load import load_playbook
from leadflow.services.qualification import record_bant
from leadflow.store.db import Store
from leadflow.store.models import Lead

LEGACY = Path(__file__).resolve().parents[2] / "playbooks" / "gitlab-legacy.yaml"


def test_S11_two_of_four_marks_the_lead_ready_to_pass(store: Store, now: dt.datetime) -> None:
    pb = load_playbook(LEGACY)
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", status="Progressing"))
    with store.uow() as uow:
        first = record_bant(uow, pb, uow.get(Lead, "l1"), {"budget": True}, Actor.user("ana"), now)
        uow.commit()
    assert not first.qualified
    with store.uow() as uow:
        second = record_bant(uow, pb, uow.get(Lead, "l1"), {"need": True, "timeline": False}, Actor.user("ana"),
                             now + dt.timedelta(hours=1))
        uow.commit()
    assert second.qualified
    with store.uow() as uow:
        lead = uow.get(Lead, "l1")
        assert lead.bant == {"budget": True, "authority": None, "need": True, "timeline": False}
        assert lead.ready_to_pass is True
        rows = [h for h in uow.history("lead", "l1") if h.field == "ready_to_pass"]
        assert [(h.new_value, h.rule) for h in rows] == [(True, "soft-bant")]


def test_S11_the_default_playbook_has_no_soft_bant_so_nothing_is_ready(store: Store, playbook: object,
                                                                       now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1"))
    with store.uow() as uow:
        verdict = record_bant(uow, playbook, uow.get(Lead, "l1"),  # type: ignore[arg-type]
                              {"budget": True, "authority": True, "need": True}, Actor.user("ana"), now)
        uow.commit()
    assert not verdict.qualified and "no Soft-BANT" in verdict.why


def test_S11_cli_records_answers(store: Store, now: dt.datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    monkeypatch.setenv("LEADFLOW_PLAYBOOK", str(LEGACY))
    from leadflow.playbook.load import _cached

    _cached.cache_clear()
    with store.uow() as uow:
        save(uow, now, a_lead(id="l1", status="Progressing"))
    ok = CliRunner().invoke(app, ["lead", "bant", "l1", "--budget", "yes", "--authority", "yes"])
    assert ok.exit_code == 0, ok.output
    assert "ready to pass" in ok.output
    bad = CliRunner().invoke(app, ["lead", "bant", "l1", "--need", "maybe"])
    assert bad.exit_code == 2 and "need" in bad.output
