"""One error shape for every refusal: `{"error": code, "field": name or null, "detail": human reason}`.

The status says what kind: 401 no valid token, 403 not permitted, 404 not found (or not visible, P4),
409 conflict or stale write, 422 invalid input, 428 an update without If-Match. Nothing is changed.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException

from leadflow.errors import LeadflowError, PlaybookError

log = logging.getLogger("leadflow.api")

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 422: "invalid", 428: "precondition_required", 500: "internal"}


class ErrorOut(BaseModel):
    """Every error answer of the API."""

    error: str
    field: str | None
    detail: str


def body(status: int, field: str | None, detail: str) -> JSONResponse:
    content = ErrorOut(error=CODES.get(status, "error"), field=field, detail=detail).model_dump()
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(status_code=status, content=content, headers=headers)


# The error answers every operation documents (the OpenAPI schema lists them, schemathesis checks them).
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorOut, "description": CODES[status]} for status in (401, 403, 404, 409, 422)
}
# For routes whose success is not JSON (a CSV export): FastAPI would document a `model` under the route's own
# media type, but errors are always JSON, so they are named here with their content type.
JSON_ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"description": CODES[status],
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
    for status in (401, 403, 404, 409, 422)
}


def _field(loc: Any) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def install(app: FastAPI) -> None:
    """Map every exception family to the one shape."""

    @app.exception_handler(PlaybookError)
    async def _playbook(request: Request, exc: PlaybookError) -> JSONResponse:
        detail = "; ".join(f"{path}: {reason}" for path, reason in exc.issues) or exc.message
        return body(422, exc.field, detail)

    @app.exception_handler(LeadflowError)
    async def _refusal(request: Request, exc: LeadflowError) -> JSONResponse:
        return body(exc.status_code, exc.field, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        return body(422, _field(first.get("loc", ())), str(first.get("msg")))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return body(exc.status_code, None, str(exc.detail))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        return body(409, None, "conflicts with a stored record (a unique value is taken, or a reference is missing)")

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> JSONResponse:
        if "locked" in str(exc.orig).lower() or "deadlock" in str(exc.orig).lower():
            return body(409, None, "another change to the same records was being written; read again and retry")
        log.exception("database error")
        return body(500, None, "database error")
