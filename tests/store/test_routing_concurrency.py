"""R9 under concurrency on PostgreSQL: four worker processes route one shared pool at the same time.

The round-robin credits are read with `SELECT ... FOR UPDATE`, so two workers never give the same turn:
every lead is routed exactly once, the stored credits add up to the leads routed, the out-of-office member
gets nothing, and each member's share stays within two percentage points of its weight share.
"""

from __future__ import annotations

import collections
import datetime as dt
import multiprocessing

import pytest
from sqlalchemy import func, select

from builders import a_user, save
from conftest import _truncate as truncate
from leadflow.domain.records import Actor
from leadflow.playbook.load import cached_playbook
from leadflow.store.db import Store
from leadflow.store.models import Lead, RoundRobinCredit, RoutingDecision

LEADS = 2_000
WORKERS = 4
NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
WEIGHTS = {"bdr-c1": 1, "bdr-c2": 1, "bdr-c3": 2, "bdr-c4": 1}  # available members
AWAY = "bdr-c5"  # weight 1, out of office


def route_share(url: str, lead_ids: list[str]) -> int:
    """A worker process: its own store, one committed unit of work per lead."""
    from leadflow.services.routing import route_lead  # imported in the spawned process

    pb = cached_playbook(None)
    actor = Actor.system("router")
    store = Store(url)
    routed = 0
    try:
        for lead_id in lead_ids:
            with store.uow() as uow:
                result = route_lead(uow, pb, uow.get(Lead, lead_id), actor, NOW)
                uow.commit()
            routed += int(result.routed)
    finally:
        store.dispose()
    return routed


@pytest.mark.postgres
def test_R9_four_processes_share_one_pool_fairly_on_postgresql(postgres_database: str) -> None:
    store = Store(postgres_database)
    truncate(store)  # the session's database: start from empty, whatever ran before
    try:
        with store.uow() as uow:
            users = [a_user(id=uid, role="BDR", region="EMEA", rr_weight=w) for uid, w in WEIGHTS.items()]
            users.append(a_user(id=AWAY, role="BDR", region="EMEA", rr_weight=1, out_of_office=True))
            leads = [
                Lead(id=f"rc{i:05d}", first_name="Jo", last_name=f"Trial{i}", email=f"jo{i}@trial{i}.example",
                     status="MQL" if i % 2 else "Inquiry", score=95, channel="trial_saas", region="EMEA",
                     segment="Unknown", country="Germany", owner_type="queue", owner_id="Inquiry Queue",
                     mql_date=NOW - dt.timedelta(days=1))
                for i in range(LEADS)
            ]  # no company or domain: no same-company rule, the `trial` rule gives the EMEA inbound BDR pool
            save(uow, NOW - dt.timedelta(days=1), *users, *leads)
        ids = [lead.id for lead in leads]

        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(WORKERS) as pool:
            routed = pool.starmap(route_share, [(postgres_database, ids[w::WORKERS]) for w in range(WORKERS)])
        assert sum(routed) == LEADS

        with store.uow() as uow:
            decisions = uow.session.execute(
                select(RoutingDecision.lead_id, RoutingDecision.rule, RoutingDecision.pool_id,
                       RoutingDecision.pool_key, RoutingDecision.owner_id)
            ).all()
            credits = list(uow.session.scalars(select(RoundRobinCredit)))
            lead_owners = {r.id: r.owner_id for r in uow.session.execute(select(Lead.id, Lead.owner_id))}
            lead_count = uow.session.scalar(select(func.count()).select_from(Lead))

        # every lead routed exactly once, by the trial rule, to the EMEA inbound BDR pool
        per_lead = collections.Counter(d.lead_id for d in decisions)
        assert len(per_lead) == LEADS == lead_count and set(per_lead.values()) == {1}
        assert {(d.rule, d.pool_id, d.pool_key) for d in decisions} == {("trial", "inbound-bdr", "EMEA")}
        assert all(lead_owners[d.lead_id] == d.owner_id for d in decisions)

        # no duplicate or lost turns: the locked credit bookkeeping agrees with the stored decisions
        shares = collections.Counter(d.owner_id for d in decisions)
        assigned = {c.user_id: c.assigned_total for c in credits if (c.pool_id, c.pool_key) == ("inbound-bdr", "EMEA")}
        assert sum(assigned.values()) == LEADS
        assert {u: n for u, n in assigned.items() if n} == dict(shares)

        # the away member gets nothing; each share is within 2 points of its weight share
        assert shares[AWAY] == 0 and set(shares) == set(WEIGHTS)
        total_weight = sum(WEIGHTS.values())
        for uid, weight in WEIGHTS.items():
            assert abs(shares[uid] / LEADS - weight / total_weight) <= 0.02, (uid, shares)
    finally:
        store.dispose()
