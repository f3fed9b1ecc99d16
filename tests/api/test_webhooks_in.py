"""I2: the webhook receiver authenticates, is idempotent per delivery, refuses bad input whole
with a clear 4xx, keeps what it cannot process as a dead letter, and loses nothing in a crash."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadflow.api.app import create_app
from leadflow.domain.webhook_signature import sign, unix_seconds
from leadflow.playbook.schema import Playbook
from leadflow.services.webhooks_in import dead_letters, replay_dead_letter, set_secret
from leadflow.settings import Settings
from leadflow.store.db import Store
from leadflow.store.models import (
    Account,
    Contact,
    FieldHistory,
    Intake,
    Lead,
    OutboxEvent,
    WebhookDeadLetter,
    WebhookReceipt,
)

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
FORMS_SECRET = "forms-secret-0123456789abcdef"
PURCHASES_SECRET = "purchases-secret-0123456789"
ERROR_KEYS = {"error", "field", "detail"}


def form(email: str = "jane@acme.de", form_name: str = "contact-us", **fields: Any) -> dict[str, Any]:
    return {"form": form_name, "submitted_at": "2026-03-02T14:59:00Z",
            "fields": {"email": email, "first_name": "Jane", "last_name": "Doe", "company": "Acme GmbH",
                       "country": "Germany", "title": "CTO", **fields}}


def purchase(company: str | None = "Initech LLC", email: str = "bill@initech.example") -> dict[str, Any]:
    account: dict[str, Any] = {"email": email, "first_name": "Bill", "last_name": "Lumbergh",
                               "address": {"country": "United States", "state": "Texas"}}
    if company is not None:
        account["company_name"] = company
    return {"event": "new_subscription", "account": account, "plan": {"code": "premium"}}


def signed(body: bytes, delivery: str = "d-1", secret: str = FORMS_SECRET, at: dt.datetime = NOW) -> dict[str, str]:
    ts = unix_seconds(at)
    return {"X-Leadflow-Signature": sign(secret, ts, body), "X-Leadflow-Timestamp": str(ts),
            "X-Leadflow-Delivery": delivery, "Content-Type": "application/json"}


def encode(payload: Any) -> bytes:
    return json.dumps(payload).encode()


@pytest.fixture
def app(store: Store, playbook: Playbook) -> FastAPI:
    set_secret(store, playbook, "forms", FORMS_SECRET, NOW)
    set_secret(store, playbook, "purchases", PURCHASES_SECRET, NOW)
    application = create_app(Settings(database_url=store.url))
    application.state.now = lambda: NOW
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def counts(store: Store) -> dict[str, int]:
    """Rows in every table a delivery could write to."""
    with store.uow() as uow:
        return {m.__tablename__: uow.session.scalar(select(func.count()).select_from(m)) or 0
                for m in (Lead, Contact, Account, Intake, FieldHistory, OutboxEvent, WebhookReceipt,
                          WebhookDeadLetter)}


def post(client: TestClient, source: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(f"/webhooks/{source}", content=body, headers=headers)


# --------------------------------------------------------------------------- accepted


def test_I2_signed_form_creates_one_lead_on_the_forms_channel(client: TestClient, store: Store) -> None:
    body = encode(form())
    answer = post(client, "forms", body, signed(body))
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["channel"] == "contact_us"
    assert result["subject"]["type"] == "lead"
    with store.uow() as uow:
        lead = uow.get(Lead, result["subject"]["id"])
        assert (lead.email, lead.last_name, lead.initial_source) == ("jane@acme.de", "Doe", "Contact Us")
        intake = uow.get(Intake, result["intake"])
        assert intake.actor_id == "system:webhook:forms"


def test_I2_a_form_not_listed_flows_to_other_form(client: TestClient) -> None:
    body = encode(form(form_name="hackathon-signup", email="kim@hooli.example"))
    answer = post(client, "forms", body, signed(body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["channel"] == "other_form"


def test_I2_purchase_payload_is_mapped_by_the_playbook_field_map(client: TestClient, store: Store) -> None:
    body = encode(purchase())
    answer = post(client, "purchases", body, signed(body, secret=PURCHASES_SECRET))
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["channel"] == "pricing_purchase"
    assert result["subject"]["type"] == "account"
    with store.uow() as uow:
        account = uow.get(Account, result["subject"]["id"])
        contact = uow.session.scalars(select(Contact).where(Contact.account_id == account.id)).one()
        assert (account.name, account.type) == ("Initech LLC", "Customer")
        assert (contact.email, contact.last_name, contact.first_name) == ("bill@initech.example", "Lumbergh", "Bill")


def test_I2_same_delivery_twice_makes_one_record_and_answers_the_first_result(client: TestClient, store: Store) -> None:
    body = encode(form())
    first = post(client, "forms", body, signed(body, delivery="same"))
    before = counts(store)
    # The sender retries a minute later: a fresh signature over the same body and delivery id.
    second = post(client, "forms", body, signed(body, delivery="same", at=NOW + dt.timedelta(seconds=60)))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == first.json()
    assert second.headers["X-Leadflow-Replayed"] == "true"
    assert "X-Leadflow-Replayed" not in first.headers
    assert counts(store) == before
    assert before["leads"] == 1 and before["webhook_receipts"] == 1


def test_I2_the_secret_may_come_from_the_environment_variable_the_playbook_names(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_WEBHOOK_SECRET_FORMS", "from-the-environment-123456")
    application = create_app(Settings(database_url=store.url))
    application.state.now = lambda: NOW
    body = encode(form())
    with TestClient(application) as c:
        assert post(c, "forms", body, signed(body, secret="from-the-environment-123456")).status_code == 200
        assert post(c, "forms", body, signed(body, delivery="d-2", secret=FORMS_SECRET)).status_code == 401


def test_I2_a_rotated_secret_keeps_the_previous_one_valid_during_the_grace(
    client: TestClient, store: Store, playbook: Playbook
) -> None:
    set_secret(store, playbook, "forms", "the-new-secret-0123456789", NOW, grace=dt.timedelta(hours=1))
    body = encode(form())
    assert post(client, "forms", body, signed(body, delivery="old", secret=FORMS_SECRET)).status_code == 200
    assert post(client, "forms", body, signed(body, delivery="new", secret="the-new-secret-0123456789")).status_code \
        == 200
    set_secret(store, playbook, "forms", "the-third-secret-0123456789", NOW)  # no grace: the second one stops
    refused = post(client, "forms", body, signed(body, delivery="x", secret="the-new-secret-0123456789"))
    assert refused.status_code == 401


# --------------------------------------------------------------------------- refused: 4xx, nothing written


def refused(client: TestClient, store: Store, source: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    before = counts(store)
    answer = post(client, source, body, headers)
    assert counts(store) == before, "a refused delivery must write nothing"
    assert set(answer.json()) == ERROR_KEYS
    return answer.status_code, answer.json()


def test_I2_bad_signature_is_401_and_writes_nothing(client: TestClient, store: Store) -> None:
    body = encode(form())
    status, error = refused(client, store, "forms", body, signed(body, secret="not-the-secret-0123456789"))
    assert (status, error["field"], error["error"]) == (401, "X-Leadflow-Signature", "signature does not match")
    assert "{timestamp}" in error["detail"] or "X-Leadflow-Timestamp" in error["detail"]


def test_I2_a_body_changed_after_signing_is_401(client: TestClient, store: Store) -> None:
    headers = signed(encode(form()))
    status, error = refused(client, store, "forms", encode(form(email="mallory@evil.example")), headers)
    assert (status, error["field"]) == (401, "X-Leadflow-Signature")


def test_I2_timestamp_older_than_five_minutes_is_refused_as_a_replay(client: TestClient, store: Store) -> None:
    body = encode(form())
    status, error = refused(client, store, "forms", body, signed(body, at=NOW - dt.timedelta(minutes=5, seconds=1)))
    assert (status, error["field"]) == (401, "X-Leadflow-Timestamp")
    assert "301 s old" in error["error"]
    ok = post(client, "forms", body, signed(body, at=NOW - dt.timedelta(minutes=4, seconds=59)))
    assert ok.status_code == 200


def test_I2_missing_or_malformed_headers_are_400_naming_the_header(client: TestClient, store: Store) -> None:
    body = encode(form())
    for header, value in (("X-Leadflow-Timestamp", "yesterday"), ("X-Leadflow-Delivery", "")):
        headers = signed(body)
        headers[header] = value
        status, error = refused(client, store, "forms", body, headers)
        assert (status, error["field"]) == (400, header)
    headers = signed(body)
    del headers["X-Leadflow-Signature"]
    status, error = refused(client, store, "forms", body, headers)
    assert (status, error["field"]) == (401, "X-Leadflow-Signature")


def test_I2_malformed_json_is_400_and_writes_nothing(client: TestClient, store: Store) -> None:
    body = b'{"form": "contact-us", "fields": {"email": '
    status, error = refused(client, store, "forms", body, signed(body))
    assert (status, error["field"]) == (400, "(body)")
    assert error["error"].startswith("body is not JSON")
    array = b"[1, 2]"
    status, error = refused(client, store, "forms", array, signed(array, delivery="d-2"))
    assert (status, error["error"]) == (400, "body must be a JSON object")


def test_I2_a_body_above_the_playbook_limit_is_413_and_writes_nothing(
    client: TestClient, store: Store, playbook: Playbook
) -> None:
    limit = playbook.webhooks.body_limit(playbook.webhooks.source("purchases"))  # type: ignore[arg-type]
    payload = purchase()
    payload["padding"] = "x" * limit
    body = encode(payload)
    status, error = refused(client, store, "purchases", body, signed(body, secret=PURCHASES_SECRET))
    assert (status, error["field"]) == (413, "(body)")
    assert str(limit) in error["error"]


def test_I2_a_body_without_a_length_is_cut_off_at_the_limit(
    client: TestClient, store: Store, playbook: Playbook
) -> None:
    limit = playbook.webhooks.max_body_bytes
    body = encode({**form(), "padding": "x" * limit})

    def chunks() -> Iterator[bytes]:  # a streamed body: no Content-Length header
        for i in range(0, len(body), 4096):
            yield body[i:i + 4096]

    before = counts(store)
    answer = client.post("/webhooks/forms", content=chunks(), headers=signed(body))
    assert answer.status_code == 413
    assert counts(store) == before


def test_I2_unknown_source_is_404_and_writes_nothing(client: TestClient, store: Store) -> None:
    body = encode(form())
    status, error = refused(client, store, "mailchimp", body, signed(body))
    assert (status, error["field"]) == (404, "source")
    assert "forms" in error["detail"] and "purchases" in error["detail"]


def test_I2_a_delivery_id_reused_with_another_body_is_409(client: TestClient, store: Store) -> None:
    body = encode(form())
    assert post(client, "forms", body, signed(body, delivery="d-9")).status_code == 200
    other = encode(form(email="someone@else.example"))
    status, error = refused(client, store, "forms", other, signed(other, delivery="d-9"))
    assert (status, error["field"]) == (409, "X-Leadflow-Delivery")


# --------------------------------------------------------------------------- dead letters and crashes


def test_I2_an_unprocessable_payload_is_kept_as_a_dead_letter_and_replayed_once_fixed(
    client: TestClient, store: Store, playbook: Playbook
) -> None:
    # The billing system renamed its company field; the purchase needs a company (or a corporate domain).
    payload = purchase(company=None, email="bill@gmail.com")
    payload["account"]["organisation"] = "Initech LLC"
    body = encode(payload)
    answer = post(client, "purchases", body, signed(body, delivery="p-1", secret=PURCHASES_SECRET))
    assert answer.status_code == 422
    error = answer.json()
    assert error["field"] == "company" and error["dead_letter"].startswith("dl_")
    assert counts(store)["accounts"] == 0 and counts(store)["webhook_receipts"] == 0
    [kept] = dead_letters(store)
    assert (kept.source, kept.delivery_id, kept.field) == ("purchases", "p-1", "company")
    assert json.loads(kept.body) == payload

    # Ops fix the playbook's field map, then replay: processed once, and the sender's retry gets that result.
    source = playbook.webhooks.source("purchases")
    assert source is not None
    fixed_source = source.model_copy(update={"fields": {**source.fields, "account.organisation": "company"}})
    fixed = playbook.model_copy(update={"webhooks": playbook.webhooks.model_copy(update={
        "sources": [fixed_source if s.name == "purchases" else s for s in playbook.webhooks.sources]})})
    replayed = replay_dead_letter(store, fixed, kept.id, NOW + dt.timedelta(hours=1))
    assert replayed.status == 200
    assert replayed.body["result"]["subject"]["type"] == "account"
    assert dead_letters(store) == []
    [done] = dead_letters(store, include_replayed=True)
    assert (done.status, done.attempts) == ("replayed", 2)
    retry = post(client, "purchases", body, signed(body, delivery="p-1", secret=PURCHASES_SECRET))
    assert (retry.status_code, retry.json()) == (200, replayed.body)
    assert counts(store)["accounts"] == 1


def test_I2_a_repeated_unprocessable_delivery_keeps_one_dead_letter(client: TestClient, store: Store) -> None:
    payload = form()
    payload["fields"]["employees"] = -5
    body = encode(payload)
    first = post(client, "forms", body, signed(body, delivery="bad"))
    second = post(client, "forms", body, signed(body, delivery="bad"))
    assert (first.status_code, second.status_code) == (422, 422)
    assert first.json()["field"] == "employees"
    [kept] = dead_letters(store)
    assert kept.attempts == 2
    assert counts(store)["leads"] == 0


class LosesAnswers:
    """The server process dies after its work is done but before the answer reaches the sender."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.lose = True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.lose:
            await self.app(scope, receive, send)
            return

        async def nowhere(message: Any) -> None:
            return None

        await self.app(scope, receive, nowhere)
        raise ConnectionResetError("the connection died before the answer was sent")


def test_I2_a_crash_between_storing_and_answering_loses_nothing(app: FastAPI, store: Store) -> None:
    flaky = LosesAnswers(app)
    body = encode(form())
    with TestClient(flaky) as client:  # type: ignore[arg-type]
        with pytest.raises(ConnectionResetError):
            client.post("/webhooks/forms", content=body, headers=signed(body, delivery="c-1"))
        stored = counts(store)
        assert (stored["leads"], stored["webhook_receipts"]) == (1, 1)  # committed before the answer
        flaky.lose = False
        retry = client.post("/webhooks/forms", content=body,
                            headers=signed(body, delivery="c-1", at=NOW + dt.timedelta(seconds=30)))
    assert retry.status_code == 200
    assert retry.headers["X-Leadflow-Replayed"] == "true"
    assert retry.json()["result"]["subject"]["type"] == "lead"
    assert counts(store) == stored


def test_I2_the_receiver_is_documented_in_openapi_with_the_signed_text(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/webhooks/{source}"]["post"]
    assert '"{timestamp}.{raw body}"' in operation["description"]
    assert {p["name"] for p in operation["parameters"]} >= {"x-leadflow-signature", "x-leadflow-timestamp",
                                                            "x-leadflow-delivery"}


def test_I2_many_copies_of_one_delivery_at_once_make_one_record(store: Store, playbook: Playbook) -> None:
    """Senders retry while the first attempt is still running: every copy gets the one result."""
    import threading

    from leadflow.services.webhooks_in import receive

    set_secret(store, playbook, "forms", FORMS_SECRET, NOW)
    body = encode(form())
    headers = signed(body, delivery="burst")
    answers: list[Any] = []
    start = threading.Barrier(4)

    def send() -> None:
        start.wait()
        answers.append(receive(store, playbook, "forms", headers, body, NOW))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status for a in answers] == [200] * 4, [a.body for a in answers]
    assert len({json.dumps(a.body, sort_keys=True) for a in answers}) == 1
    stored = counts(store)
    assert (stored["leads"], stored["webhook_receipts"], stored["webhook_dead_letters"]) == (1, 1, 0)


def test_I2_a_new_handler_kind_is_one_registration(
    app: FastAPI, client: TestClient, store: Store, playbook: Playbook, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadflow.playbook.schema import WebhookSourceDef
    from leadflow.services.webhooks_in import HANDLERS

    seen: list[tuple[str, dict[str, Any]]] = []

    def engagement(uow: Any, pb: Playbook, payload: dict[str, Any], delivery: Any) -> dict[str, Any]:
        seen.append((delivery.delivery_id, payload))
        return {"handled": payload["event"]}

    monkeypatch.setitem(HANDLERS, "sequence_engagement", engagement)
    source = WebhookSourceDef(name="outreach", kind="sequence_engagement", secret_env="OUTREACH_SECRET")
    app.state.playbook = playbook.model_copy(update={"webhooks": playbook.webhooks.model_copy(
        update={"sources": [*playbook.webhooks.sources, source]})})
    monkeypatch.setenv("OUTREACH_SECRET", "outreach-secret-0123456789")
    body = encode({"event": "email.replied", "prospect": "jane@acme.de"})
    answer = post(client, "outreach", body, signed(body, delivery="e-1", secret="outreach-secret-0123456789"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == {"handled": "email.replied"}
    assert seen == [("e-1", {"event": "email.replied", "prospect": "jane@acme.de"})]


def test_I2_a_body_that_is_not_utf8_is_400_and_writes_nothing(client: TestClient, store: Store) -> None:
    body = json.dumps(form()).encode("utf-16")
    status, error = refused(client, store, "forms", body, signed(body))
    assert (status, error["field"]) == (400, "(body)")


# --------------------------------------------------------------------------- the engagement tool (W1)


def test_W1_engagement_tool_events_arrive_signed_through_the_webhook_receiver(
    client: TestClient, store: Store, playbook: Playbook
) -> None:
    """Outreach posts sequence events to /webhooks/engagement: the first step done moves an MQL to Accepted,
    in the receiver's transaction; the same delivery again is answered from its receipt."""
    from builders import SETUP, a_lead, a_user, save
    from leadflow.services.sequences import create_sequence

    secret = "engagement-secret-0123456789"
    set_secret(store, playbook, "engagement", secret, NOW)
    with store.uow() as uow:
        save(uow, NOW, a_user(id="sdr1", role="SDR"),
             a_lead(id="l-seq", email="mia@acme.de", status="MQL", owner_type="user", owner_id="sdr1"))
    with store.uow() as uow:
        sequence_id = create_sequence(uow, "MQL follow-up", ["email", "call", "email"], SETUP, NOW).id
        uow.commit()
    event = {"type": "step_completed", "email": "mia@acme.de", "sequence_id": sequence_id, "step": 1,
             "occurred_at": "2026-03-02T14:30:00Z", "actor_id": "sdr1"}
    body = encode(event)
    first = post(client, "engagement", body, signed(body, "ev-1", secret))
    assert first.status_code == 200, first.text
    assert first.json()["result"]["status"] == "Accepted"
    again = post(client, "engagement", body, signed(body, "ev-1", secret))
    assert again.status_code == 200 and again.headers.get("X-Leadflow-Replayed") == "true"
    with store.uow() as uow:
        lead = uow.get(Lead, "l-seq")
        assert lead.status == "Accepted"
        assert any(h.field == "status" and h.rule == "w1-first-step-accepted" for h in uow.history("lead", "l-seq"))
    unsigned = post(client, "engagement", body, signed(body, "ev-2", "wrong-secret-0123456789"))
    assert unsigned.status_code == 401
