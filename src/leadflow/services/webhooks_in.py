"""Receiving webhooks (I2): authenticate, map, process each delivery once, keep what fails.

`receive` is the whole use case behind `POST /webhooks/{source}`: the source must be in the
playbook, the body within its limit, the signature (HMAC-SHA256 over `"{timestamp}.{raw body}"`)
fresh and made with the source's secret, the delivery named by `X-Leadflow-Delivery`. The
handler's result and a `webhook_receipts` row unique on (source, delivery id) are committed in
ONE transaction, so a delivery received twice (or retried after its answer was lost) is answered
with the stored result and makes one record. An authentic payload the handler refuses is kept
in `webhook_dead_letters` with the reason, to be replayed (`replay_dead_letter`) once fixed.

Handlers are pluggable by the source's `kind`: a function `(uow, pb, payload, delivery) -> dict`
registered with `@handler("kind")` or `HANDLERS["kind"] = fn`. A handler writes only through the
unit of work it is given and never commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from leadflow.domain.records import Actor
from leadflow.domain.webhook_signature import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from leadflow.errors import InvalidInput, LeadflowError, NotFound
from leadflow.playbook.schema import Playbook, WebhookSourceDef
from leadflow.store.db import Store
from leadflow.store.models import WebhookDeadLetter, WebhookReceipt, WebhookSecret
from leadflow.store.uow import UnitOfWork

MAX_DELIVERY_ID = 150
BODY_FIELD = "(body)"
SQLITE_LOCK_RETRIES = 6


@dataclass(frozen=True)
class Delivery:
    """One authentic delivery as a handler sees it: which source, which delivery, when."""

    source: WebhookSourceDef
    delivery_id: str
    now: dt.datetime


@dataclass(frozen=True)
class Answer:
    """What the receiver answers: HTTP status and JSON body; `replayed` when it is a stored answer."""

    status: int
    body: dict[str, Any]
    replayed: bool = False
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[UnitOfWork, Playbook, dict[str, Any], Delivery], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that processes payloads of sources of this `kind`."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def refusal(status: int, field_name: str | None, error: str, detail: str = "") -> Answer:
    """A 4xx answer in the one error shape: {"error", "field", "detail"}; nothing was written."""
    return Answer(status, {"error": error, "field": field_name, "detail": detail})


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# --------------------------------------------------------------------------- payload mapping


_MISSING = object()


def value_at(payload: Any, path: str) -> Any:
    """The value at a dotted path (`account.address.country`, `items.0.sku`), or _MISSING."""
    here = payload
    for part in path.split("."):
        if isinstance(here, dict) and part in here:
            here = here[part]
        elif isinstance(here, list) and part.isdigit() and int(part) < len(here):
            here = here[int(part)]
        else:
            return _MISSING
    return here


def map_payload(source: WebhookSourceDef, payload: dict[str, Any]) -> dict[str, Any]:
    """The intake fields of a payload by the source's field map (the payload itself without one)."""
    if not source.fields:
        return dict(payload)
    mapped: dict[str, Any] = {}
    for path, target in source.fields.items():
        found = value_at(payload, path)
        if found is not _MISSING and found is not None and target not in mapped:
            mapped[target] = found
    return mapped


def channel_of(source: WebhookSourceDef, payload: dict[str, Any]) -> str:
    """The intake channel: the one `channels` gives for the payload's form, else the source's `channel`."""
    if source.channel_field is not None:
        form = value_at(payload, source.channel_field)
        if isinstance(form, str | int) and str(form) in source.channels:
            return source.channels[str(form)]
        if source.channel is None:
            known = ", ".join(sorted(source.channels))
            raise InvalidInput(f"form {form!r} is not one of this source's forms ({known})", source.channel_field)
    assert source.channel is not None  # the playbook schema requires one of the two
    return source.channel


@handler("engagement")
def handle_engagement(uow: UnitOfWork, pb: Playbook, payload: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
    """W1: a sales engagement tool's event (step completed, reply, sequence finished, person inactive)."""
    from leadflow.services.sequences import apply_engagement_event

    return apply_engagement_event(uow, pb, payload, delivery.now)


@handler("intake")
def handle_intake(uow: UnitOfWork, pb: Playbook, payload: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
    """I2: the mapped payload goes through the one intake pipeline, on the source's channel."""
    from leadflow.services.intake import IntakeEnv, intake
    from leadflow.services.intake_models import parse_lead

    fields = map_payload(delivery.source, payload)
    fields["channel"] = channel_of(delivery.source, payload)
    # The intake's own idempotency key, namespaced by source so two senders' ids never collide.
    fields["delivery_id"] = f"webhook:{delivery.source.name}:{delivery.delivery_id}"
    data = parse_lead(fields)
    actor = Actor.system(f"webhook:{delivery.source.name}")
    result = intake(uow, IntakeEnv(uow, pb), data, actor, delivery.now)
    return {
        "intake": result.intake_id,
        "channel": data.channel,
        "outcome": result.outcome,
        "subject": {"type": result.subject_type, "id": result.subject_id} if result.subject_id else None,
        "spam": result.spam,
        "duplicate_of": result.duplicate_of,
        "matched_account": result.matched_account(),
    }


# --------------------------------------------------------------------------- secrets


def source_secrets(uow: UnitOfWork, source: WebhookSourceDef, now: dt.datetime,
                   environ: Mapping[str, str] | None = None) -> list[str]:
    """The secrets that may sign this source's deliveries: the stored one (and the previous one
    during its grace period), else the value of the playbook's `secret_env` variable."""
    stored = uow.session.get(WebhookSecret, source.name)
    if stored is not None:
        keep_previous = stored.previous_secret and stored.previous_until and stored.previous_until > now
        return [stored.secret, *([stored.previous_secret] if keep_previous and stored.previous_secret else [])]
    env = os.environ if environ is None else environ
    value = env.get(source.secret_env, "") if source.secret_env else ""
    return [value] if value else []


def set_secret(store: Store, pb: Playbook, source_name: str, secret: str, now: dt.datetime,
               grace: dt.timedelta = dt.timedelta(0)) -> WebhookSecret:
    """Store a source's secret; the one it replaces stays valid for `grace` (rotation without downtime)."""
    if pb.webhooks.source(source_name) is None:
        raise NotFound(f"no webhook source '{source_name}' in the playbook", "source")
    if len(secret) < 16 or len(secret) > 200:
        raise InvalidInput("a secret has 16 to 200 characters", "secret")
    with store.uow() as uow:
        row = uow.session.get(WebhookSecret, source_name)
        if row is None:
            row = WebhookSecret(source=source_name, secret=secret, set_at=now)
            uow.session.add(row)
        else:
            row.previous_secret, row.previous_until = row.secret, now + grace
            row.secret, row.set_at = secret, now
        uow.session.flush()
        uow.commit()
    return row


# --------------------------------------------------------------------------- receiving


def receive(
    store: Store,
    pb: Playbook,
    source_name: str,
    headers: Mapping[str, str],
    body: bytes,
    now: dt.datetime,
    environ: Mapping[str, str] | None = None,
) -> Answer:
    """I2: one delivery from `POST /webhooks/{source}`; every refusal is a 4xx and writes nothing."""
    source = pb.webhooks.source(source_name)
    if source is None:
        known = ", ".join(s.name for s in pb.webhooks.sources) or "none"
        return refusal(404, "source", f"unknown webhook source '{source_name}'", f"sources: {known}")
    limit = pb.webhooks.body_limit(source)
    if len(body) > limit:
        return refusal(413, BODY_FIELD, f"body is {len(body)} bytes; this source accepts at most {limit}",
                       "the limit is the playbook's webhooks max_body_bytes")
    header = _headers(headers)
    delivery_id = (header.get(DELIVERY_HEADER.lower()) or "").strip()
    if not delivery_id or len(delivery_id) > MAX_DELIVERY_ID or not delivery_id.isprintable():
        return refusal(400, DELIVERY_HEADER, f"{DELIVERY_HEADER} must name the delivery (1-{MAX_DELIVERY_ID} "
                       "printable characters)", "the same delivery sent again must carry the same id")
    with store.uow() as uow:
        secrets = source_secrets(uow, source, now, environ)
    problem = verify(secrets, header.get(TIMESTAMP_HEADER.lower()), header.get(SIGNATURE_HEADER.lower()), body, now,
                     pb.webhooks.timestamp_tolerance_seconds)
    if problem is not None:
        return refusal(400 if problem.malformed else 401, problem.field, problem.error, problem.detail)
    digest = body_sha256(body)
    stored = _stored_answer(store, source.name, delivery_id, digest)
    if stored is not None:
        return stored
    try:
        payload = json.loads(body.decode("utf-8"))  # UTF-8 only: what is kept must be what was sent
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return refusal(400, BODY_FIELD, f"body is not JSON: {getattr(exc, 'msg', str(exc))}{where}",
                       "send one UTF-8 JSON object")
    if not isinstance(payload, dict):
        return refusal(400, BODY_FIELD, "body must be a JSON object", f"got a JSON {type(payload).__name__}")
    return process(store, pb, source, delivery_id, payload, body, now)


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _stored_answer(store: Store, source: str, delivery_id: str, digest: str) -> Answer | None:
    """The answer already given to this delivery, or a 409 when its id comes back with another body."""
    with store.uow() as uow:
        receipt = uow.session.scalars(
            select(WebhookReceipt).where(WebhookReceipt.source == source, WebhookReceipt.delivery_id == delivery_id)
        ).first()
    if receipt is None:
        return None
    if receipt.body_sha256 != digest:
        return refusal(409, DELIVERY_HEADER, f"delivery '{delivery_id}' was already received with another body",
                       "a new payload needs a new delivery id")
    return Answer(receipt.status_code, receipt.response, replayed=True)


def process(
    store: Store,
    pb: Playbook,
    source: WebhookSourceDef,
    delivery_id: str,
    payload: dict[str, Any],
    body: bytes,
    now: dt.datetime,
) -> Answer:
    """Run the source's handler and store its answer in one transaction; keep a failure as a dead letter."""
    delivery = Delivery(source=source, delivery_id=delivery_id, now=now)
    digest = body_sha256(body)
    for attempt in range(SQLITE_LOCK_RETRIES + 1):
        try:
            return _process_once(store, pb, delivery, payload, digest)
        except Exception as exc:
            # The same delivery processed concurrently by another request: its answer is the answer.
            stored = _stored_answer(store, source.name, delivery_id, digest)
            if stored is not None:
                return stored
            if _sqlite_locked(exc) and attempt < SQLITE_LOCK_RETRIES:
                # SQLite has one writer: two transactions that both read then write deadlock and one
                # is refused at once. Ours rolled back whole, so trying again is safe.
                time.sleep(0.02 * 2**attempt)
                continue
            if isinstance(exc, LeadflowError):
                return _dead_letter(store, source.name, delivery_id, body, now, 422, exc.message, exc.field)
            # A defect or a database failure must not lose an authentic payload: keep it, answer 500.
            return _dead_letter(store, source.name, delivery_id, body, now, 500,
                                f"internal error: {type(exc).__name__}: {exc}"[:2000], None)
    raise AssertionError("unreachable")  # pragma: no cover


def _process_once(store: Store, pb: Playbook, delivery: Delivery, payload: dict[str, Any], digest: str) -> Answer:
    source = delivery.source
    with store.uow() as uow:
        fn = HANDLERS.get(source.kind)
        if fn is None:
            raise InvalidInput(f"no handler for kind '{source.kind}' (known: {', '.join(sorted(HANDLERS))})", "kind")
        result = json.loads(json.dumps(fn(uow, pb, payload, delivery), default=str))
        answer = {"source": source.name, "delivery": delivery.delivery_id, "result": result}
        uow.session.add(WebhookReceipt(source=source.name, delivery_id=delivery.delivery_id, body_sha256=digest,
                                       received_at=delivery.now, status_code=200, response=answer))
        _close_dead_letter(uow, source.name, delivery.delivery_id, delivery.now)
        uow.session.flush()
        uow.commit()
    return Answer(200, answer)


def _sqlite_locked(exc: Exception) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def _close_dead_letter(uow: UnitOfWork, source: str, delivery_id: str, now: dt.datetime) -> None:
    row = _find_dead_letter(uow, source, delivery_id)
    if row is not None:
        row.status, row.replayed_at, row.last_tried_at, row.attempts = "replayed", now, now, row.attempts + 1


def _find_dead_letter(uow: UnitOfWork, source: str, delivery_id: str) -> WebhookDeadLetter | None:
    stmt = select(WebhookDeadLetter).where(WebhookDeadLetter.source == source,
                                           WebhookDeadLetter.delivery_id == delivery_id)
    return uow.session.scalars(stmt).first()


def _dead_letter(store: Store, source: str, delivery_id: str, body: bytes, now: dt.datetime, status: int,
                 reason: str, field_name: str | None) -> Answer:
    """Keep (or update) the dead letter of a delivery that could not be processed, and say so."""
    with store.uow() as uow:
        row = _find_dead_letter(uow, source, delivery_id)
        if row is None:
            row = WebhookDeadLetter(source=source, delivery_id=delivery_id, body_sha256=body_sha256(body),
                                    body=body.decode("utf-8"), received_at=now, reason=reason, field=field_name,
                                    status="open", attempts=1, last_tried_at=now)
            uow.session.add(row)
        else:
            row.reason, row.field, row.status, row.last_tried_at = reason, field_name, "open", now
            row.attempts += 1
        uow.session.flush()
        uow.commit()
        dl_id = row.id
    return Answer(status, {
        "error": reason,
        "field": field_name,
        "detail": f"kept as dead letter {dl_id}; after fixing the cause, `leadflow webhooks replay {dl_id}`",
        "dead_letter": dl_id,
    })


# --------------------------------------------------------------------------- dead letters


def dead_letters(store: Store, source: str | None = None, include_replayed: bool = False) -> list[WebhookDeadLetter]:
    """Dead letters, oldest first; open ones only unless `include_replayed`."""
    stmt = select(WebhookDeadLetter).order_by(WebhookDeadLetter.received_at, WebhookDeadLetter.id)
    if source is not None:
        stmt = stmt.where(WebhookDeadLetter.source == source)
    if not include_replayed:
        stmt = stmt.where(WebhookDeadLetter.status == "open")
    with store.uow() as uow:
        return list(uow.session.scalars(stmt))


def replay_dead_letter(store: Store, pb: Playbook, dead_letter_id: str, now: dt.datetime) -> Answer:
    """Process a kept payload again with the playbook in force now (its signature was checked on receipt)."""
    with store.uow() as uow:
        row = uow.get(WebhookDeadLetter, dead_letter_id, "dead_letter")
        source_name, delivery_id, body, status = row.source, row.delivery_id, row.body, row.status
    if status != "open":
        raise InvalidInput(f"dead letter {dead_letter_id} was already replayed", "dead_letter")
    source = pb.webhooks.source(source_name)
    if source is None:
        raise NotFound(f"no webhook source '{source_name}' in the playbook in force", "source")
    raw = body.encode("utf-8")
    return process(store, pb, source, delivery_id, json.loads(raw), raw, now)
