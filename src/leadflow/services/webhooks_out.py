"""Sending outbox events to subscribers (R13): signed POSTs, retried with backoff, never twice.

One pass of the worker (`run_once`): fan out the outbox events each active subscription wants
into `webhook_deliveries` (unique per event and subscription; a per-subscription cursor that
settles `settle_seconds` behind keeps each pass from rescanning the whole outbox), claim the deliveries that are
due (`FOR UPDATE SKIP LOCKED` on PostgreSQL, plus a conditional update, so two workers never
take the same one), POST each with httpx outside any transaction, then record the outcome. A
claim is a lease: a worker that dies mid-send leaves its delivery to be retried after
`lease_seconds`. A delivered row is never claimed again. A failed try waits
`backoff_seconds * 2**(tries - 1)` (at most `max_backoff_seconds`); after `max_attempts` tries
the delivery is marked failed.

Every request carries X-Leadflow-Signature (sha256= HMAC over "{timestamp}.{raw body}" with the
subscription's secret), X-Leadflow-Timestamp, X-Leadflow-Delivery (the same on every retry, so
the receiver can deduplicate) and X-Leadflow-Event.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets as secrets_lib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import ColumnElement, exists, false, func, or_, select, true, update

from leadflow.domain.webhook_signature import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    unix_seconds,
)
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook, WebhookDeliveryDef
from leadflow.store.db import Store
from leadflow.store.models import OutboxEvent, WebhookDelivery, WebhookSubscription

EVENT_PATTERN = re.compile(r"^(\*|[a-z0-9_-]+(\.[a-z0-9_-]+)*(\.\*)?)$")
DUE = ("pending", "sending")  # `sending` rows whose lease ran out are due again


# --------------------------------------------------------------------------- subscriptions


def subscribe(
    store: Store,
    url: str,
    event_types: list[str],
    now: dt.datetime,
    secret: str | None = None,
    description: str = "",
) -> WebhookSubscription:
    """A new subscriber for events queued from now on; its secret is generated unless given."""
    parsed = httpx.URL(url)
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise InvalidInput(f"'{url}' is not an http(s) URL", "url")
    types = [t.strip() for t in event_types if t.strip()]
    if not types:
        raise InvalidInput("name at least one event type (e.g. lead.routed, lead.*, or *)", "event_types")
    bad = [t for t in types if not EVENT_PATTERN.match(t)]
    if bad:
        raise InvalidInput(f"not an event type or pattern: {', '.join(bad)}", "event_types")
    if secret is not None and not 16 <= len(secret) <= 200:
        raise InvalidInput("a secret has 16 to 200 characters", "secret")
    with store.uow() as uow:
        newest = uow.session.scalar(select(func.max(OutboxEvent.id))) or 0
        row = WebhookSubscription(url=url, event_types=types, secret=secret or secrets_lib.token_hex(32),
                                  active=True, description=description, created_at=now, after_outbox_id=newest,
                                  settled_outbox_id=newest)
        uow.session.add(row)
        uow.session.flush()
        uow.commit()
    return row


def subscriptions(store: Store) -> list[WebhookSubscription]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.created_at,
                                                                             WebhookSubscription.id)))


def set_active(store: Store, subscription_id: str, active: bool) -> WebhookSubscription:
    """Pause or resume a subscriber; a paused one is sent nothing (its pending deliveries wait)."""
    with store.uow() as uow:
        row = uow.get(WebhookSubscription, subscription_id, "subscription")
        row.active = active
        uow.session.flush()
        uow.commit()
    return row


def deliveries(store: Store, status: str | None = None, limit: int = 100) -> list[WebhookDelivery]:
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    with store.uow() as uow:
        return list(uow.session.scalars(stmt))


def retry_failed(store: Store, delivery_id: int, now: dt.datetime) -> WebhookDelivery:
    """Give a failed delivery a fresh set of tries from now (a delivered one is never sent again)."""
    with store.uow() as uow:
        row = uow.session.get(WebhookDelivery, delivery_id)
        if row is None:
            raise InvalidInput(f"no delivery whd_{delivery_id}", "delivery")
        if row.status != "failed":
            raise InvalidInput(f"delivery whd_{delivery_id} is {row.status}; only failed ones are retried", "delivery")
        row.status, row.attempts, row.next_attempt_at = "pending", 0, now
        uow.session.flush()
        uow.commit()
    return row


def type_filter(patterns: list[str]) -> ColumnElement[bool]:
    """SQL for "the event type matches one of these": exact names, `prefix.*`, or `*`."""
    if "*" in patterns:
        return true()
    exact = [p for p in patterns if not p.endswith(".*")]
    prefixes = [p[:-1] for p in patterns if p.endswith(".*")]
    conditions: list[ColumnElement[bool]] = [OutboxEvent.event_type.in_(exact)] if exact else []
    conditions += [OutboxEvent.event_type.startswith(p, autoescape=True) for p in prefixes]
    return or_(*conditions) if conditions else false()


# --------------------------------------------------------------------------- the worker's pass


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds the lease of, with everything needed to send it."""

    delivery_id: int
    attempts: int
    url: str
    secret: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None


def fan_out(store: Store, now: dt.datetime, limit: int = 1000, settle_seconds: int = 900) -> int:
    """Queue a delivery for every (available event, active subscription) that wants it and has none.

    Each pass scans the events above the subscription's settled cursor; the cursor moves up to an
    id seen `settle_seconds` earlier once a complete scan has run since (see WebhookSubscription).
    """
    made = 0
    with store.uow() as uow:
        newest = uow.session.scalar(select(func.max(OutboxEvent.id))) or 0
        for sub in uow.session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True))):
            has_delivery = exists().where(WebhookDelivery.outbox_id == OutboxEvent.id,
                                          WebhookDelivery.subscription_id == sub.id)
            start = max(sub.after_outbox_id, sub.settled_outbox_id)
            stmt = (
                select(OutboxEvent.id, OutboxEvent.event_type)
                .where(OutboxEvent.id > start, OutboxEvent.available_at <= now, type_filter(sub.event_types),
                       ~has_delivery)
                .order_by(OutboxEvent.id)
                .limit(limit)
            )
            rows = uow.session.execute(stmt).all()
            for event_id, event_type in rows:
                uow.session.add(WebhookDelivery(outbox_id=event_id, subscription_id=sub.id, event_type=event_type,
                                                status="pending", attempts=0, next_attempt_at=now, created_at=now))
                made += 1
            complete = len(rows) < limit
            if complete and sub.mark_outbox_id is not None:  # an event not yet available holds the cursor back
                complete = not uow.session.scalar(select(exists().where(
                    OutboxEvent.id > start, OutboxEvent.id <= sub.mark_outbox_id, OutboxEvent.available_at > now)))
            _advance_cursor(sub, newest, complete, now, dt.timedelta(seconds=settle_seconds))
        uow.session.flush()
        uow.commit()
    return made


def _advance_cursor(sub: WebhookSubscription, newest: int, complete: bool, now: dt.datetime,
                    settle: dt.timedelta) -> None:
    """Settle the mark once a complete scan ran `settle` after it was taken; then take a new mark."""
    if complete and sub.mark_outbox_id is not None and sub.mark_at is not None and sub.mark_at + settle <= now:
        sub.settled_outbox_id = max(sub.settled_outbox_id, sub.mark_outbox_id)
        sub.mark_outbox_id, sub.mark_at = None, None
    if sub.mark_outbox_id is None and newest > max(sub.after_outbox_id, sub.settled_outbox_id):
        sub.mark_outbox_id, sub.mark_at = newest, now


def event_body(event: OutboxEvent) -> bytes:
    """The JSON sent for an outbox event: the same bytes on every retry."""
    document = {
        "id": f"evt_{event.id}",
        "type": event.event_type,
        "created_at": event.created_at.astimezone(dt.UTC).isoformat(),
        "entity": {"type": event.entity_type, "id": event.entity_id} if event.entity_id else None,
        "change_id": event.change_id,
        "data": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def claim(store: Store, policy: WebhookDeliveryDef, now: dt.datetime) -> list[Claimed]:
    """Take the lease of up to `batch_size` due deliveries of active subscriptions."""
    lease_until = now + dt.timedelta(seconds=policy.lease_seconds)
    claimed: list[Claimed] = []
    with store.uow() as uow:
        stmt = (
            select(WebhookDelivery, OutboxEvent, WebhookSubscription)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.outbox_id)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.status.in_(DUE), WebhookDelivery.next_attempt_at <= now,
                   WebhookSubscription.active.is_(True))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(policy.batch_size)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        )
        for delivery, event, sub in uow.session.execute(stmt).all():
            # Conditional: only the worker that still sees the row as it read it takes it (SQLite has no row locks).
            taken = uow.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id, WebhookDelivery.attempts == delivery.attempts,
                       WebhookDelivery.status.in_(DUE))
                .values(status="sending", attempts=delivery.attempts + 1, next_attempt_at=lease_until)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(Claimed(delivery.id, delivery.attempts + 1, sub.url, sub.secret,
                                       event.event_type, event_body(event)))
        uow.commit()
    return claimed


def send(client: httpx.Client, item: Claimed, now: dt.datetime) -> Outcome:
    """POST one delivery, signed; any 2xx is a success, anything else (or no answer) a failure."""
    timestamp = unix_seconds(now)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "leadflow-webhooks",
        SIGNATURE_HEADER: sign(item.secret, timestamp, item.body),
        TIMESTAMP_HEADER: str(timestamp),
        DELIVERY_HEADER: f"whd_{item.delivery_id}",
        EVENT_HEADER: item.event_type,
    }
    try:
        response = client.post(item.url, content=item.body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:1000])
    if 200 <= response.status_code < 300:
        return Outcome(True, response.status_code, None)
    return Outcome(False, response.status_code, f"HTTP {response.status_code}: {response.text[:500]}")


def backoff(policy: WebhookDeliveryDef, attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed try: base, 2·base, 4·base, ... at most the cap."""
    seconds = policy.backoff_seconds * 2 ** max(attempts - 1, 0)
    return dt.timedelta(seconds=min(seconds, policy.max_backoff_seconds))


def record(store: Store, policy: WebhookDeliveryDef, item: Claimed, outcome: Outcome, now: dt.datetime) -> str:
    """Write the try's outcome, if this worker still holds the lease; returns the new status."""
    values: dict[str, Any]
    if outcome.ok:
        status, values = "delivered", {"delivered_at": now, "last_error": None}
    elif item.attempts >= policy.max_attempts:
        status, values = "failed", {"last_error": outcome.error}
    else:
        status, values = "pending", {"next_attempt_at": now + backoff(policy, item.attempts),
                                     "last_error": outcome.error}
    with store.uow() as uow:
        done = uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == item.delivery_id, WebhookDelivery.status == "sending",
                   WebhookDelivery.attempts == item.attempts)
            .values(status=status, last_status_code=outcome.status_code, **values)
            .execution_options(synchronize_session=False)
        )
        uow.commit()
    return status if done.rowcount == 1 else "lease-lost"  # type: ignore[attr-defined]


def run_once(store: Store, pb: Playbook, now: dt.datetime, client: httpx.Client | None = None) -> dict[str, int]:
    """One pass: fan out, claim, send, record. Returns how many of each happened."""
    policy = pb.webhooks.delivery
    queued = fan_out(store, now, settle_seconds=policy.settle_seconds)
    summary = {"queued": queued, "sent": 0, "delivered": 0, "retrying": 0, "failed": 0}
    items = claim(store, policy, now)
    if not items:
        return summary
    own = client is None
    http = client or httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False)
    try:
        for item in items:
            outcome = send(http, item, now)
            status = record(store, policy, item, outcome, now)
            summary["sent"] += 1
            key = {"delivered": "delivered", "pending": "retrying", "failed": "failed"}.get(status)
            if key:
                summary[key] += 1
    finally:
        if own:
            http.close()
    return summary


def run_forever(
    store: Store,
    pb: Playbook,
    clock: Callable[[], dt.datetime],
    should_stop: Callable[[], bool],
    report: Callable[[dict[str, int]], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> None:
    """Poll until `should_stop()`: a pass, then a nap of `poll_seconds` when there was nothing to send."""
    policy = pb.webhooks.delivery
    with httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False) as http:
        while not should_stop():
            try:
                summary = run_once(store, pb, clock(), http)
            except Exception as exc:  # a locked or restarting database: say so, wait, try again
                summary = {"sent": 0}
                if on_error is not None:
                    on_error(exc)
            if report is not None and any(summary.values()):
                report(summary)
            if summary["sent"] == 0:
                waited = 0.0
                while waited < policy.poll_seconds and not should_stop():
                    time.sleep(0.1)
                    waited += 0.1


__all__ = ["claim", "fan_out", "record", "run_forever", "run_once", "send", "subscribe"]
