"""R13: outbox events reach subscribers as signed POSTs, retried with exponential backoff, marked
failed after N tries, and never sent twice after a success; against a real local HTTP server."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import delete, select

from leadflow.domain.records import Actor
from leadflow.domain.webhook_signature import sign
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.webhooks_out import claim, fan_out, run_once, set_active, subscribe
from leadflow.store.db import Store
from leadflow.store.models import OutboxEvent, WebhookDelivery

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
SECRET = "subscriber-secret-0123456789"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Subscriber:
    """A real HTTP server on localhost that answers with scripted statuses (then 200)."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    state = Subscriber()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(Received(self.path, {k: v for k, v in self.headers.items()}, body))
            status = state.script.pop(0) if state.script else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/leadflow"
    yield state
    server.shutdown()
    server.server_close()


def emit(store: Store, event_type: str, at: dt.datetime = NOW, **payload: Any) -> int:
    with store.uow() as uow:
        with uow.changing(actor=Actor.system("test"), now=at, rule="test", why="an event to deliver"):
            row = uow.emit(event_type, payload=payload)
        uow.commit()
        return row.id


def the_deliveries(store: Store) -> list[WebhookDelivery]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def with_delivery(pb: Playbook, **policy: Any) -> Playbook:
    return pb.model_copy(update={"webhooks": pb.webhooks.model_copy(
        update={"delivery": pb.webhooks.delivery.model_copy(update=policy)})})


def test_R13_worker_posts_each_wanted_event_signed_with_the_subscription_secret(
    store: Store, playbook: Playbook, subscriber: Subscriber
) -> None:
    sub = subscribe(store, subscriber.url, ["lead.*"], NOW, secret=SECRET)
    emit(store, "lead.routed", owner="ana", lead="l1")
    emit(store, "account.purchase", account="a1")  # not wanted by this subscriber
    summary = run_once(store, playbook, NOW)
    assert summary == {"queued": 1, "sent": 1, "delivered": 1, "retrying": 0, "failed": 0}
    [got] = subscriber.received
    assert got.path == "/hooks/leadflow"
    assert got.headers["X-Leadflow-Event"] == "lead.routed"
    timestamp = int(got.headers["X-Leadflow-Timestamp"])
    assert timestamp == int(NOW.timestamp())
    assert got.headers["X-Leadflow-Signature"] == sign(SECRET, timestamp, got.body)
    document = json.loads(got.body)
    assert (document["type"], document["data"]) == ("lead.routed", {"owner": "ana", "lead": "l1"})
    [delivery] = the_deliveries(store)
    assert got.headers["X-Leadflow-Delivery"] == f"whd_{delivery.id}"
    assert (delivery.status, delivery.attempts, delivery.subscription_id) == ("delivered", 1, sub.id)


def test_R13_failures_are_retried_with_exponential_backoff_then_delivered(
    store: Store, playbook: Playbook, subscriber: Subscriber
) -> None:
    subscribe(store, subscriber.url, ["*"], NOW, secret=SECRET)
    emit(store, "lead.routed", owner="ana")
    subscriber.script = [500, 503]
    base = playbook.webhooks.delivery.backoff_seconds
    assert run_once(store, playbook, NOW)["retrying"] == 1
    [first] = the_deliveries(store)
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
    assert first.next_attempt_at == NOW + dt.timedelta(seconds=base)
    assert "HTTP 500" in (first.last_error or "")
    assert run_once(store, playbook, NOW + dt.timedelta(seconds=base - 1))["sent"] == 0  # not due yet
    second_try = NOW + dt.timedelta(seconds=base)
    assert run_once(store, playbook, second_try)["retrying"] == 1
    [second] = the_deliveries(store)
    assert second.next_attempt_at == second_try + dt.timedelta(seconds=2 * base)  # base * 2**(tries - 1)
    third_try = second_try + dt.timedelta(seconds=2 * base)
    assert run_once(store, playbook, third_try)["delivered"] == 1
    [done] = the_deliveries(store)
    assert (done.status, done.attempts, done.delivered_at, done.last_error) == ("delivered", 3, third_try, None)
    ids = {r.headers["X-Leadflow-Delivery"] for r in subscriber.received}
    assert len(subscriber.received) == 3 and len(ids) == 1  # one delivery id on every retry
    assert len({r.body for r in subscriber.received}) == 1


def test_R13_a_delivery_is_marked_failed_after_the_playbook_number_of_tries(
    store: Store, playbook: Playbook, subscriber: Subscriber
) -> None:
    pb = with_delivery(playbook, max_attempts=3, backoff_seconds=10)
    subscribe(store, subscriber.url, ["lead.routed"], NOW, secret=SECRET)
    emit(store, "lead.routed")
    subscriber.script = [500] * 10
    at = NOW
    outcomes = []
    for _ in range(5):
        summary = run_once(store, pb, at)
        outcomes.append((summary["retrying"], summary["failed"]))
        at += dt.timedelta(hours=1)
    assert outcomes == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    [failed] = the_deliveries(store)
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert len(subscriber.received) == 3


def test_R13_an_event_is_never_sent_twice_to_a_subscriber_after_a_success(
    store: Store, playbook: Playbook, subscriber: Subscriber
) -> None:
    emit(store, "lead.routed", lead="before")  # queued before the subscription: not sent
    subscribe(store, subscriber.url, ["*"], NOW, secret=SECRET)
    emit(store, "lead.routed", lead="after")
    at = NOW
    for _ in range(4):
        run_once(store, playbook, at)
        at += dt.timedelta(days=1)
    assert fan_out(store, at) == 0
    assert [json.loads(r.body)["data"]["lead"] for r in subscriber.received] == ["after"]
    assert [d.status for d in the_deliveries(store)] == ["delivered"]


def test_R13_a_second_subscriber_gets_its_own_copy(store: Store, playbook: Playbook, subscriber: Subscriber) -> None:
    subscribe(store, subscriber.url, ["lead.routed"], NOW, secret=SECRET)
    subscribe(store, subscriber.url + "/other", ["lead.*"], NOW, secret="another-secret-0123456789")
    emit(store, "lead.routed")
    assert run_once(store, playbook, NOW)["delivered"] == 2
    assert sorted(r.path for r in subscriber.received) == ["/hooks/leadflow", "/hooks/leadflow/other"]


def test_R13_a_claimed_delivery_is_not_taken_by_another_worker_until_its_lease_ends(
    store: Store, playbook: Playbook, subscriber: Subscriber
) -> None:
    subscribe(store, subscriber.url, ["*"], NOW, secret=SECRET)
    emit(store, "lead.routed")
    fan_out(store, NOW)
    policy = playbook.webhooks.delivery
    [mine] = claim(store, policy, NOW)
    assert claim(store, policy, NOW + dt.timedelta(seconds=policy.lease_seconds - 1)) == []
    # The first worker died mid-send: after the lease the delivery is tried again, as a new attempt.
    [again] = claim(store, policy, NOW + dt.timedelta(seconds=policy.lease_seconds))
    assert (again.delivery_id, again.attempts) == (mine.delivery_id, 2)


def test_R13_an_unreachable_subscriber_is_retried_with_the_error_kept(store: Store, playbook: Playbook) -> None:
    subscribe(store, "http://127.0.0.1:9/nothing-listens-here", ["*"], NOW, secret=SECRET)
    emit(store, "lead.routed")
    assert run_once(store, with_delivery(playbook, timeout_seconds=2), NOW)["retrying"] == 1
    [delivery] = the_deliveries(store)
    assert delivery.last_status_code is None and "ConnectError" in (delivery.last_error or "")


def test_R13_a_paused_subscription_is_sent_nothing_until_resumed(
    store: Store, playbook: Playbook, subscriber: Subscriber
) -> None:
    sub = subscribe(store, subscriber.url, ["*"], NOW, secret=SECRET)
    set_active(store, sub.id, False)
    emit(store, "lead.routed")
    assert run_once(store, playbook, NOW)["sent"] == 0
    set_active(store, sub.id, True)
    assert run_once(store, playbook, NOW)["delivered"] == 1


def test_R13_deleting_an_outbox_event_removes_its_pending_deliveries(
    store: Store, playbook: Playbook, subscriber: Subscriber
) -> None:
    """The spam deletion job removes a deleted person's unsent events; their deliveries go with them."""
    subscribe(store, subscriber.url, ["*"], NOW, secret=SECRET)
    event_id = emit(store, "lead.routed")
    fan_out(store, NOW)
    with store.uow() as uow:
        uow.session.execute(delete(OutboxEvent).where(OutboxEvent.id == event_id))
        uow.commit()
    assert the_deliveries(store) == []
    assert run_once(store, playbook, NOW)["sent"] == 0


def test_R13_a_subscription_needs_an_http_url_and_event_types(store: Store) -> None:
    with pytest.raises(InvalidInput) as bad_url:
        subscribe(store, "ftp://example.org/x", ["*"], NOW)
    assert bad_url.value.field == "url"
    with pytest.raises(InvalidInput) as bad_types:
        subscribe(store, "https://example.org/x", ["Lead Routed!"], NOW)
    assert bad_types.value.field == "event_types"
    generated = subscribe(store, "https://example.org/x", ["lead.*"], NOW)
    assert len(generated.secret) == 64


def subscription_row(store: Store, sub_id: str) -> Any:
    from leadflow.store.models import WebhookSubscription

    with store.uow() as uow:
        return uow.get(WebhookSubscription, sub_id)


def test_R13_settled_events_are_not_scanned_again(store: Store, playbook: Playbook, subscriber: Subscriber) -> None:
    settle = playbook.webhooks.delivery.settle_seconds
    sub = subscribe(store, subscriber.url, ["*"], NOW, secret=SECRET)
    ids = [emit(store, "lead.routed", n=i) for i in range(3)]
    run_once(store, playbook, NOW)
    marked = subscription_row(store, sub.id)
    assert (marked.mark_outbox_id, marked.settled_outbox_id) == (ids[-1], sub.after_outbox_id)
    run_once(store, playbook, NOW + dt.timedelta(seconds=settle - 1))
    assert subscription_row(store, sub.id).settled_outbox_id == sub.after_outbox_id  # too early to settle
    run_once(store, playbook, NOW + dt.timedelta(seconds=settle))
    assert subscription_row(store, sub.id).settled_outbox_id == ids[-1]
    # Below the cursor nothing is looked at again (a lost delivery row would not be recreated).
    with store.uow() as uow:
        uow.session.execute(delete(WebhookDelivery))
        uow.commit()
    assert fan_out(store, NOW + dt.timedelta(days=1), settle_seconds=settle) == 0
    later = emit(store, "lead.routed", n=3)
    assert fan_out(store, NOW + dt.timedelta(days=1), settle_seconds=settle) == 1
    assert [d.outbox_id for d in the_deliveries(store)] == [later]


def test_R13_an_event_committed_after_a_newer_one_is_still_delivered(
    store: Store, playbook: Playbook, subscriber: Subscriber
) -> None:
    if store.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: outbox ids are never committed out of order")
    settle = playbook.webhooks.delivery.settle_seconds
    sub = subscribe(store, subscriber.url, ["*"], NOW, secret=SECRET)
    with store.uow() as slow:  # a long transaction takes an id first and commits last
        with slow.changing(actor=Actor.system("test"), now=NOW, rule="test", why="slow"):
            early = slow.emit("lead.routed", payload={"n": "slow"})
        quick = emit(store, "lead.routed", n="quick")
        assert early.id < quick
        run_once(store, playbook, NOW)
        assert subscription_row(store, sub.id).mark_outbox_id == quick
        slow.commit()
    run_once(store, playbook, NOW + dt.timedelta(seconds=settle))
    assert subscription_row(store, sub.id).settled_outbox_id == quick
    assert sorted(json.loads(r.body)["data"]["n"] for r in subscriber.received) == ["quick", "slow"]


def test_R13_workers_claiming_at_once_never_take_the_same_delivery(store: Store, playbook: Playbook) -> None:
    if store.engine.dialect.name == "sqlite":
        pytest.skip("several workers share the load on PostgreSQL (SKIP LOCKED); SQLite has one writer")
    subscribe(store, "http://127.0.0.1:9/x", ["*"], NOW, secret=SECRET)
    for i in range(40):
        emit(store, "lead.routed", n=i)
    fan_out(store, NOW)
    policy = playbook.webhooks.delivery.model_copy(update={"batch_size": 7})
    taken: list[int] = []
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        while True:
            got = claim(store, policy, NOW)
            if not got:
                return
            taken.extend(c.delivery_id for c in got)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 40 and len(set(taken)) == 40


def test_R13_a_failed_delivery_can_be_retried_but_a_delivered_one_cannot(
    store: Store, playbook: Playbook, subscriber: Subscriber
) -> None:
    from leadflow.services.webhooks_out import retry_failed

    pb = with_delivery(playbook, max_attempts=1)
    subscribe(store, subscriber.url, ["*"], NOW, secret=SECRET)
    emit(store, "lead.routed")
    subscriber.script = [500]
    assert run_once(store, pb, NOW)["failed"] == 1
    [failed] = the_deliveries(store)
    retry_failed(store, failed.id, NOW + dt.timedelta(hours=1))
    assert run_once(store, pb, NOW + dt.timedelta(hours=1))["delivered"] == 1
    with pytest.raises(InvalidInput) as refused:
        retry_failed(store, failed.id, NOW + dt.timedelta(hours=2))
    assert "delivered" in refused.value.message
    assert run_once(store, pb, NOW + dt.timedelta(hours=2))["sent"] == 0
    assert len(subscriber.received) == 2
