"""A2/I1: the HTTP intake's group commit (services/intake_batcher.py) on both stores.

A group of queued intakes goes through one batch and one transaction; each caller gets what the per-row
intake would have answered, stored before it is answered: created and updated people, a refused row that
changes nothing, another channel handling and a replayed delivery through the per-row intake, in order.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from builders import a_user, save
from leadflow.domain.records import Actor
from leadflow.errors import LeadflowError
from leadflow.playbook.schema import Playbook
from leadflow.services import batch_intake
from leadflow.services.intake import IntakeEnv, IntakeResult, intake
from leadflow.services.intake_batcher import IntakeBatcher, _Job
from leadflow.services.intake_models import parse_lead
from leadflow.services.setup import install_playbook, read_playbook
from leadflow.store.db import Store
from leadflow.store.models import FieldHistory, Intake, Lead, RoutingDecision, Subscription, User
from leadflow.store.uow import to_json

WEB = Actor.user("ops")

PAYLOADS: list[dict[str, Any]] = [
    {"channel": "contact_us", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@analytical.example",
     "company": "Analytical Engines", "country": "Germany", "title": "Engineer", "phone": "+49 30 1234567"},
    {"channel": "event_scan", "first_name": "Grace", "last_name": "Hopper", "email": "grace@cobol.example",
     "company": "Cobol Systems Inc.", "country": "USA", "title": "VP Engineering"},
    # the same person again, in the same group: an update of the lead the first row made
    {"channel": "contact_us", "first_name": "Ada", "last_name": "Lovelace", "email": "ADA@analytical.example",
     "company": "Analytical Engines", "country": "Germany", "title": "CTO"},
    {"channel": "contact_us", "last_name": "Nobody", "email": "not-an-address"},  # refused (I4)
    {"channel": "newsletter", "email": "reader@news.example"},  # subscription: the per-row intake
    {"channel": "contact_us", "first_name": "Alan", "last_name": "Turing", "email": "alan@bombe.example",
     "company": "Bombe Ltd", "country": "UK", "delivery_id": "form-7"},
    {"channel": "contact_us", "first_name": "Alan", "last_name": "Turing", "email": "alan@bombe.example",
     "company": "Bombe Ltd", "country": "UK", "delivery_id": "form-7"},  # the same delivery: a replay
    {"channel": "contact_us", "first_name": "Edsger", "last_name": "Dijkstra", "email": "edsger@paths.example",
     "company": "Shortest Paths BV", "country": "Netherlands"},
]


def _world(store: Store, pb: Playbook, text: str, source: str, now: dt.datetime) -> None:
    with store.uow() as uow:
        install_playbook(uow, pb, text, source, now)
        uow.commit()
    with store.uow() as uow:
        save(uow, now, a_user(id="sales-admin", name="Sales Admin", role="Sales Admin", region=None),
             a_user(id="ops", role="Ops", region="EMEA"), a_user(id="ana", role="SDR", region="EMEA"),
             a_user(id="bo", role="SDR", region="AMER"))


def _batcher(store: Store, pb: Playbook, now: dt.datetime) -> IntakeBatcher:
    return IntakeBatcher(store, lambda uow: pb, lambda: now)


def _one_by_one(store: Store, pb: Playbook, now: dt.datetime) -> list[IntakeResult | LeadflowError]:
    out: list[IntakeResult | LeadflowError] = []
    for payload in PAYLOADS:
        with store.uow() as uow:
            try:
                out.append(intake(uow, IntakeEnv(uow, pb), parse_lead(payload), WEB, now))
                uow.commit()
            except LeadflowError as exc:
                out.append(exc)
    return out


def _grouped(batcher: IntakeBatcher) -> list[IntakeResult | BaseException]:
    jobs = [_Job(parse_lead(p), WEB) for p in PAYLOADS]
    batcher._group(jobs)  # one group, as when they all waited behind the one before
    out: list[IntakeResult | BaseException] = []
    for job in jobs:
        exc = job.future.exception(timeout=0)
        out.append(exc if exc is not None else job.future.result(timeout=0))
    return out


def _comparable(result: IntakeResult | BaseException) -> Any:
    """What a caller sees, ids and decision numbers aside."""
    if isinstance(result, BaseException):
        return (type(result).__name__, getattr(result, "field", None), str(result))
    text = json.dumps({
        "outcome": result.outcome, "subject_type": result.subject_type, "replayed": result.replayed,
        "spam": result.spam, "duplicate_of": result.duplicate_of, "match": result.matched_account(),
        "steps": to_json(result.steps),
    }, sort_keys=True, default=str)
    text = re.sub(r"\b(ld|ct|in|cm|act|acc|op)_[0-9a-f]{12}\b", r"\1_id", text)
    return json.loads(re.sub(r'"decision": \d+', '"decision": 0', text))


def test_A2_a_group_of_intakes_answers_what_one_by_one_intakes_answer(
    store: Store, tmp_path: Path, sqlite_template: Path, now: dt.datetime
) -> None:
    pb, text, source = read_playbook(None)
    shutil.copy(sqlite_template, tmp_path / "reference.db")
    reference = Store(f"sqlite:///{tmp_path / 'reference.db'}")
    try:
        _world(reference, pb, text, source, now)
        expected = _one_by_one(reference, pb, now)
    finally:
        reference.dispose()
    _world(store, pb, text, source, now)
    batcher = _batcher(store, pb, now)
    got = _grouped(batcher)
    assert [_comparable(r) for r in got] == [_comparable(r) for r in expected]
    assert batcher.groups == 1 and batcher.taken == len(PAYLOADS)
    created, _, updated, refused, subscribed, first, replay, last = got
    assert isinstance(refused, LeadflowError) and refused.field == "email"
    assert isinstance(created, IntakeResult) and isinstance(updated, IntakeResult)
    assert updated.outcome == "updated" and updated.subject_id == created.subject_id
    assert updated.duplicate_of == {"type": "lead", "id": created.subject_id}
    assert isinstance(replay, IntakeResult) and isinstance(first, IntakeResult)
    assert replay.replayed and replay.intake_id == first.intake_id
    assert isinstance(subscribed, IntakeResult) and isinstance(last, IntakeResult)
    with store.uow() as uow:  # stored before answered: every answer names a stored intake
        ids = {r.intake_id for r in got if isinstance(r, IntakeResult)}
        assert set(uow.session.scalars(select(Intake.id).where(Intake.id.in_(ids)))) == ids
        assert uow.session.scalar(select(func.count()).select_from(Lead)) == 4
        assert uow.session.scalar(select(func.count()).select_from(Subscription)) == 1
        assert uow.session.scalar(select(func.count()).where(Lead.email == "not-an-address")) == 0
        lead = uow.session.get(Lead, created.subject_id)
        assert lead is not None
        rules = list(uow.session.scalars(select(FieldHistory.rule).where(FieldHistory.entity_id == lead.id)))
        assert rules and "intake:contact_us" in rules  # its history names the rules, as one by one
        step = created.step("routing")
        if step is not None and step.get("decision") is not None:
            assert uow.session.get(RoutingDecision, step["decision"]) is not None


def test_A2_a_group_whose_transaction_fails_is_taken_again_one_at_a_time(
    store: Store, now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pb, text, source = read_playbook(None)
    _world(store, pb, text, source, now)

    def broken(self: batch_intake.Batch) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(batch_intake.Batch, "write", broken)
    batcher = _batcher(store, pb, now)
    got = _grouped(batcher)
    assert batcher.groups == 0  # the group was never committed
    assert [type(r).__name__ for r in got] == ["IntakeResult", "IntakeResult", "IntakeResult", "InvalidInput",
                                                "IntakeResult", "IntakeResult", "IntakeResult", "IntakeResult"]
    with store.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Lead)) == 4


def test_A2_a_submitted_intake_is_answered_by_the_writer_thread(store: Store, now: dt.datetime) -> None:
    pb, text, source = read_playbook(None)
    _world(store, pb, text, source, now)
    batcher = IntakeBatcher(store, lambda uow: pb, lambda: now, idle_seconds=0.2)
    futures = [batcher.submit(parse_lead(p), WEB) for p in PAYLOADS]
    outcomes = []
    for f in futures:
        try:
            outcomes.append(f.result(timeout=60).outcome)
        except LeadflowError as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes[0] == "created" and outcomes[2] == "updated" and outcomes[3] == "InvalidInput"
    assert batcher.taken == len(PAYLOADS) and 1 <= batcher.groups <= len(PAYLOADS)


def _tokens(store: Store, now: dt.datetime) -> dict[str, str]:
    """API tokens for the group's callers: a live one, a revoked one, one of a role without `intake` and
    one of a user deactivated since."""
    from leadflow.services.auth import create_token, revoke_token

    with store.uow() as uow:
        save(uow, now, a_user(id="csm", role="CSM", region="EMEA"), a_user(id="gone", role="Ops", region="EMEA"))
    with store.uow() as uow:
        tokens = {name: create_token(uow, user, name, "test", now) for name, user in
                  [("live", "ops"), ("revoked", "ops"), ("csm", "csm"), ("gone", "gone")]}
        revoke_token(uow, tokens["revoked"].id, now)
        user = uow.session.get(User, "gone")
        assert user is not None
        with uow.changing(actor=Actor.user("admin"), now=now, rule="test:deactivate"):
            user.active = False
        uow.commit()
    return {name: issued.token for name, issued in tokens.items()} | {"unknown": "lf_not-a-token"}


AUTH_CASES = [("live", None), ("revoked", "this API token was revoked"), ("unknown", "unknown API token"),
              ("csm", "role CSM may not intake (playbook permissions)"), ("gone", "user gone is inactive"),
              ("live", None)]


def _authenticated_group(batcher: IntakeBatcher, tokens: dict[str, str]) -> list[IntakeResult | BaseException]:
    jobs = [_Job(parse_lead({**PAYLOADS[0], "email": f"{name}{i}@tokens.example", "last_name": f"Token{i}"}),
                 None, tokens[name]) for i, (name, _) in enumerate(AUTH_CASES)]
    batcher._group(jobs)
    return [job.future.exception(timeout=0) or job.future.result(timeout=0) for job in jobs]


@pytest.mark.parametrize("whole_group_fails", [False, True])
def test_P5_a_group_checks_each_intakes_api_token_in_its_own_transaction(
    store: Store, now: dt.datetime, monkeypatch: pytest.MonkeyPatch, whole_group_fails: bool
) -> None:
    pb, text, source = read_playbook(None)
    _world(store, pb, text, source, now)
    tokens = _tokens(store, now)
    if whole_group_fails:  # then each intake is taken alone, and checked alone

        def broken(self: batch_intake.Batch) -> None:
            raise RuntimeError("the disk is full")

        monkeypatch.setattr(batch_intake.Batch, "write", broken)
    got = _authenticated_group(_batcher(store, pb, now), tokens)
    for result, (name, refused) in zip(got, AUTH_CASES, strict=True):
        if refused is None:
            assert isinstance(result, IntakeResult) and result.outcome == "created", (name, result)
        else:
            assert isinstance(result, LeadflowError) and result.message == refused, (name, result)
            assert result.status_code == (403 if name == "csm" else 401)
    with store.uow() as uow:  # the refused changed nothing; the taken were taken in by the token's user
        emails = set(uow.session.scalars(select(Lead.email).where(Lead.email.like("%@tokens.example"))))
        assert emails == {"live0@tokens.example", "live5@tokens.example"}
        ids = {r.intake_id for r in got if isinstance(r, IntakeResult)}
        assert set(uow.session.scalars(select(Intake.actor_id).where(Intake.id.in_(ids)))) == {"user:ops"}


def test_P5_an_intake_is_submitted_with_an_actor_or_a_token(store: Store, now: dt.datetime) -> None:
    batcher = _batcher(store, read_playbook(None)[0], now)
    with pytest.raises(ValueError, match="not both"):
        batcher.submit(parse_lead(PAYLOADS[0]))
    with pytest.raises(ValueError, match="not both"):
        batcher.submit(parse_lead(PAYLOADS[0]), WEB, token="lf_x")
