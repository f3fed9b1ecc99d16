"""`POST /webhooks/{source}`: signed, idempotent deliveries from outside systems (I2).

This endpoint does not use the API's tokens: each source authenticates with its own HMAC secret.
The body is read with the source's size limit before anything else is done with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from leadflow.domain.webhook_signature import DELIVERY_HEADER, SCHEME, SIGNATURE_HEADER, TIMESTAMP_HEADER
from leadflow.playbook.schema import Playbook
from leadflow.services.webhooks_in import BODY_FIELD, Answer, receive, refusal
from leadflow.store.db import Store

router = APIRouter(tags=["webhooks"])

DESCRIPTION = f"""
Receive one delivery from an outside system (a form tool, the billing system's Buy Now purchases).

**Signature.** The request carries `{SIGNATURE_HEADER}: sha256=<hex>` where `<hex>` is
HMAC-SHA256 with the source's secret over the text `"{{timestamp}}.{{raw body}}"` (the decimal
Unix time, a dot, then the raw request body bytes), and `{TIMESTAMP_HEADER}: <timestamp>`.
Requests whose timestamp is older than the playbook's tolerance (5 minutes by default) are
refused as replays. {SCHEME}.

**Idempotency.** `{DELIVERY_HEADER}` names the delivery. The same delivery sent again makes
no second record: it is answered 200 with the first result and `X-Leadflow-Replayed: true`.
The same id with another body is refused (409).

**Errors** are `{{"error", "field", "detail"}}`: 404 unknown source, 413 body above the source's
`max_body_bytes`, 400 missing headers or malformed JSON, 401 bad or stale signature; none of
these writes anything. An authentic payload that cannot be processed is kept as a dead letter
(422, with `dead_letter`), listed by `leadflow webhooks dead-letters` and replayed by
`leadflow webhooks replay`.
"""

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}, "detail": {"type": "string"}},
}
ERROR_CONTENT = {"application/json": {"schema": ERROR_SCHEMA}}


def _now_provider(request: Request) -> Callable[[], dt.datetime]:
    """The clock: `app.state.now` when set (tests control it), else the current UTC time."""
    provider = getattr(request.app.state, "now", None)
    return provider if callable(provider) else (lambda: dt.datetime.now(dt.UTC))


def _response(answer: Answer) -> JSONResponse:
    headers = {"X-Leadflow-Replayed": "true"} if answer.replayed else {}
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


@router.post(
    "/webhooks/{source}",
    summary="Receive a signed webhook delivery (I2)",
    description=DESCRIPTION,
    responses={
        200: {"description": "Processed (or the stored answer to a repeated delivery)."},
        400: {"description": "Missing header or malformed JSON", "content": ERROR_CONTENT},
        401: {"description": "Bad or stale signature", "content": ERROR_CONTENT},
        404: {"description": "Unknown source", "content": ERROR_CONTENT},
        409: {"description": "Delivery id reused with another body", "content": ERROR_CONTENT},
        413: {"description": "Body above the source's limit", "content": ERROR_CONTENT},
        422: {"description": "Authentic but not processable: kept as a dead letter"},
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def receive_webhook(
    source: str,
    request: Request,
    x_leadflow_signature: Annotated[str | None, Header(description="sha256=<hex HMAC>")] = None,
    x_leadflow_timestamp: Annotated[str | None, Header(description="Unix seconds when signed")] = None,
    x_leadflow_delivery: Annotated[str | None, Header(description="The delivery's id (idempotency key)")] = None,
) -> JSONResponse:
    store: Store = request.app.state.store
    pb: Playbook = request.app.state.playbook
    now = _now_provider(request)()
    found = pb.webhooks.source(source)
    if found is not None:
        limit = pb.webhooks.body_limit(found)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _response(refusal(413, BODY_FIELD, f"body is {declared} bytes; this source accepts at most {limit}",
                                     "the limit is the playbook's webhooks max_body_bytes"))
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:  # stop reading: a body without (or lying about) its length
                return _response(refusal(413, BODY_FIELD, f"body is over {limit} bytes, the most this source accepts",
                                         "the limit is the playbook's webhooks max_body_bytes"))
    else:
        body = bytearray()
    answer = await run_in_threadpool(receive, store, pb, source, request.headers, bytes(body), now)
    return _response(answer)
