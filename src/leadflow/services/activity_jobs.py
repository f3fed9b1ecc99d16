"""The `active-until` job (S10, W8): Active windows end as time passes, so passive records are marked.

A record's `active_until` is the end of its latest Active window (`domain.activity.active_until`); it
is Active while `now <= active_until`. Nothing else happens when a window ends, so this daily job
recomputes the window and `not_to_engage` (a GitLab.com record stops being engageable when it goes
passive) for every lead and contact whose stored window ended since the job's previous run (every
ended window on the first run, so it catches up after downtime). Only values that differ are
written, under the same rule names derive uses (`active-window`, `not-to-engage`); the explanation
in `derivations` is refreshed. A window that ended before the previous run was already handled and
is not selected again; merged-away records are left as they are.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from leadflow.domain import activity as activity_rules
from leadflow.domain.records import Actor
from leadflow.playbook.schema import Playbook
from leadflow.services.jobs import job
from leadflow.store.db import Store
from leadflow.store.models import Activity, Contact, JobRun, Lead
from leadflow.store.uow import UnitOfWork, to_json

ACTIVE_JOB = "active-until"
ACTIVE_RULE = "active-window"
ENGAGE_RULE = "not-to-engage"
CHUNK = 500


def previous_run(uow: UnitOfWork, now: dt.datetime, run_id: int | None) -> dt.datetime | None:
    """When the job last ran to the end before `now` (None: never)."""
    stmt = select(func.max(JobRun.started_at)).where(
        JobRun.job == ACTIVE_JOB, JobRun.finished_at.is_not(None), JobRun.started_at < now
    )
    if run_id is not None:
        stmt = stmt.where(JobRun.id != run_id)
    return uow.session.scalar(stmt)


@job(ACTIVE_JOB)
def active_until_job(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
    """Recompute the Active window and not-to-engage of records whose window ended since the last run."""
    with store.uow() as uow:
        since = previous_run(uow, now, run_id)
    summary = recompute_ended_windows(store, pb, now, since)
    summary["since"] = to_json(since)
    return summary


def recompute_ended_windows(store: Store, pb: Playbook, now: dt.datetime, since: dt.datetime | None) -> dict[str, Any]:
    """Every lead and contact whose `active_until` lies in [since, now): re-derive S10, write changes only."""
    rules = activity_rules.ActivityRules.from_playbook(pb)
    totals = {"checked": 0, "passive": 0, "active_until_changed": 0, "not_to_engage_changed": 0}
    for model, kind in ((Lead, "lead"), (Contact, "contact")):
        with store.uow() as uow:
            stmt = select(model.id).where(
                model.active_until.is_not(None), model.active_until < now, model.merged_into_id.is_(None)
            )
            if since is not None:
                stmt = stmt.where(model.active_until >= since)
            ids = list(uow.session.scalars(stmt.order_by(model.id)))
        for start in range(0, len(ids), CHUNK):
            with store.uow() as uow:
                counts = _recompute(uow, rules, model, kind, ids[start:start + CHUNK], now)
                uow.commit()
            for key, value in counts.items():
                totals[key] += value
    return totals


def _recompute(uow: UnitOfWork, rules: activity_rules.ActivityRules, model: type[Lead] | type[Contact], kind: str,
               ids: list[str], now: dt.datetime) -> dict[str, int]:
    records: list[Lead | Contact] = list(
        uow.session.scalars(select(model).where(model.id.in_(ids)).order_by(model.id))  # type: ignore[arg-type]
    )
    acts: dict[str, list[tuple[str, dt.datetime]]] = defaultdict(list)
    rows = uow.session.execute(
        select(Activity.subject_id, Activity.type, Activity.at)
        .where(Activity.subject_type == kind, Activity.subject_id.in_(ids))
        .order_by(Activity.subject_id, Activity.at)
    )
    for subject_id, activity_type, at in rows:
        acts[subject_id].append((activity_type, at))
    counts = {"checked": 0, "passive": 0, "active_until_changed": 0, "not_to_engage_changed": 0}
    with uow.changing(actor=Actor.system(ACTIVE_JOB), now=now, rule=ACTIVE_RULE):
        for record in records:
            mine = acts.get(record.id, [])
            trials = (
                [(record.trial_started_at, record.trial_ends_at)]
                if record.trial_started_at and record.trial_ends_at else []
            )
            active = activity_rules.active_until(rules, mine, trials, now)
            engage = activity_rules.not_to_engage(rules, record.initial_source, mine, active.active, now=now)
            counts["checked"] += 1
            counts["passive"] += 0 if active.active else 1
            if to_json(record.active_until) != to_json(active.until):
                with uow.changing(rule=ACTIVE_RULE, why=active.why):
                    record.active_until = active.until
                counts["active_until_changed"] += 1
            if record.not_to_engage != engage.flag:
                with uow.changing(rule=ENGAGE_RULE, why=engage.why):
                    record.not_to_engage = engage.flag
                counts["not_to_engage_changed"] += 1
            record.derivations = {
                **(record.derivations or {}),
                "active": {"active": active.active, "until": to_json(active.until), "why": active.why},
                "not_to_engage": {"flag": engage.flag, "why": engage.why},
            }
    return counts
