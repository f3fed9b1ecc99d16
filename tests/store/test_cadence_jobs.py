"""W7 on a real store: in the legacy playbook, Attempt 1-4 without response for 21 days auto-update to Nurture,
counted from entering the Attempt status; the job is idempotent per period."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from builders import a_lead, save
from leadflow.domain.records import Actor
from leadflow.playbook.load import load_playbook
from leadflow.services.cadence_jobs import TIMEOUT_JOB
from leadflow.services.jobs import run_once
from leadflow.services.lifecycle import transition
from leadflow.store.db import Store
from leadflow.store.models import FieldHistory, Lead

UTC = dt.UTC
DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 2, 1, 15, 0, tzinfo=UTC)
LEGACY = Path(__file__).resolve().parents[2] / "playbooks" / "gitlab-legacy.yaml"
RUN = dt.datetime(2026, 3, 1, 8, 30, tzinfo=UTC)  # 00:30 in Los Angeles, 28 days after T0


def test_W7_attempts_without_response_for_21_days_go_to_nurture(store: Store) -> None:
    legacy = load_playbook(LEGACY)
    with store.uow() as uow:
        save(uow, T0, a_lead(id="stale", status="Attempt 2", owner_type="user", owner_id="bdr"),
             a_lead(id="moved", status="Attempt 1", owner_type="user", owner_id="bdr"),
             a_lead(id="talking", status="Progressing", owner_type="user", owner_id="bdr"))
    with store.uow() as uow:  # a second message 10 days before the run: its 21 days start again
        transition(uow, legacy, uow.get(Lead, "moved"), "Attempt 2", None, Actor.user("bdr"), RUN - 10 * DAY)
        uow.commit()
    summary = run_once(store, legacy, TIMEOUT_JOB, RUN)
    assert "'w7-attempt-to-nurture': 1" in summary
    with store.uow() as uow:
        statuses = {lead.id: (lead.status, lead.owner_id) for lead in uow.session.scalars(select(Lead))}
        assert statuses == {"stale": ("Nurture", "Nurture Queue"), "moved": ("Attempt 2", "bdr"),
                            "talking": ("Progressing", "bdr")}
        (h,) = uow.session.scalars(select(FieldHistory).where(FieldHistory.entity_id == "stale",
                                                              FieldHistory.field == "status"))
        assert (h.old_value, h.new_value, h.rule) == ("Attempt 2", "Nurture", "w7-attempt-to-nurture")
        assert h.why is not None and "since 2026-02-01" in h.why
    assert "already ran" in run_once(store, legacy, TIMEOUT_JOB, RUN + dt.timedelta(hours=3))
    later = run_once(store, legacy, TIMEOUT_JOB, RUN + 11 * DAY)
    assert "'w7-attempt-to-nurture': 1" in later  # "moved" reached its 21 days
