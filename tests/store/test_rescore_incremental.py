"""W8 + S1-S5, S10: after a first full run, the nightly rescore derives only the leads whose figures can have
changed since its previous run -- and leaves nothing for a full rescore to change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from builders import SETUP, a_lead, an_account, save
from leadflow.playbook.schema import Playbook
from leadflow.services.jobs import run_job
from leadflow.services.rescore import leads_to_rescore, rescore_all
from leadflow.store.db import Store
from leadflow.store.models import Account, Activity, Lead

UTC = dt.UTC
DAY = dt.timedelta(days=1)
T = dt.datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # 03:00 in Los Angeles: the 2 March period
NEXT = T + DAY


def act(lead_id: str, kind: str, at: dt.datetime) -> Activity:
    return Activity(subject_type="lead", subject_id=lead_id, type=kind, at=at)


def _world(store: Store) -> None:
    with store.uow() as uow:
        save(uow, T - 200 * DAY,
             an_account(id="top", name="Top AG", type="Customer", segment="Large", region="EMEA",
                        derivations={"segment": {"value": "Large"}}),
             an_account(id="sub", name="Sub GmbH", type="Prospect", parent_id="top", segment="Large",
                        region="EMEA", derivations={"segment": {"value": "Large"}}),
             a_lead(id="fading", title="CTO"), act("fading", "event_scan", T - 90 * DAY + dt.timedelta(hours=12)),
             a_lead(id="ending"), act("ending", "demo_request", T - 60 * DAY + dt.timedelta(hours=12)),
             a_lead(id="future"), act("future", "content_download", T + dt.timedelta(hours=12)),
             a_lead(id="matched", matched_account_id="sub", matched_at=T - 100 * DAY),
             a_lead(id="edited", title="Student"),
             a_lead(id="quiet", title="Developer"), act("quiet", "page_visit", T - 150 * DAY))


def _snapshot(store: Store) -> dict[str, dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(Lead.__table__).order_by(Lead.id)).mappings().all()
    return {r["id"]: {k: v for k, v in r.items() if k != "updated_at"} for r in rows}


def test_W8_the_nightly_rescore_derives_only_what_changed_and_misses_nothing(store: Store,
                                                                             playbook: Playbook) -> None:
    _world(store)
    first = run_job(store, playbook, "rescore", T)
    assert first.result["mode"] == "all" and first.result["leads"] == 6
    with store.uow() as uow:  # changes during the day
        with uow.changing(actor=SETUP, now=T + dt.timedelta(hours=2), why="test"):
            uow.set_field(uow.get(Lead, "edited"), "title", "VP Engineering", rule="edit", why="test")
            uow.set_field(uow.get(Account, "top"), "type", "Former Customer", rule="edit", why="test")
        uow.commit()
    with store.uow() as uow:
        wanted = leads_to_rescore(uow, playbook, T, NEXT)
    assert wanted == {"fading", "ending", "future", "matched", "edited"}  # not "quiet"

    before = _snapshot(store)["matched"]
    nightly = run_job(store, playbook, "rescore", NEXT)
    assert nightly.result["mode"] == "incremental" and nightly.result["leads"] == 5
    assert nightly.result["since"] == T.isoformat()
    with store.uow() as uow:
        assert uow.get(Lead, "ending").derivations["active"]["active"] is False
        matched = uow.get(Lead, "matched")  # its parent account is no longer a customer (L6)
        assert (matched.lc_customer_hierarchy_account, matched.lc_former_customer_account) != (
            before["lc_customer_hierarchy_account"], before["lc_former_customer_account"])
    after = _snapshot(store)
    full = rescore_all(store, playbook, NEXT)
    assert full.leads == 6 and full.changed_leads == 0 and full.history_rows == 0
    again = _snapshot(store)
    # every field as a full run leaves it; of the explanations only the ones that describe the last
    # change ("score 30 -> 30") read differently, as after any second rescore (bench/scoring.py "second")
    assert {(i, k) for i in after for k in after[i] if after[i][k] != again[i][k] and k != "derivations"} == set()
    transitions = ("mql", "routing")
    assert {i: {k: v for k, v in after[i]["derivations"].items() if k not in transitions} for i in after} == \
        {i: {k: v for k, v in again[i]["derivations"].items() if k not in transitions} for i in again}


def test_W8_a_changed_playbook_makes_the_nightly_rescore_derive_every_lead(store: Store,
                                                                           playbook: Playbook) -> None:
    _world(store)
    run_job(store, playbook, "rescore", T)
    stricter = playbook.model_copy(update={"scoring": playbook.scoring.model_copy(update={"mql_threshold": 120})})
    nightly = run_job(store, stricter, "rescore", NEXT)
    assert nightly.result["mode"] == "all: playbook changed" and nightly.result["leads"] == 6
