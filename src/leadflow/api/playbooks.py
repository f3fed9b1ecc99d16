"""Playbook versions over HTTP: check, activate (validated, stored with author and time, atomic), list, restore."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from leadflow.api.deps import Ctx, ctx
from leadflow.api.errors import ERROR_RESPONSES
from leadflow.errors import InvalidInput
from leadflow.playbook.load import parse_playbook
from leadflow.services.playbooks import activate_playbook, list_versions, restore_playbook
from leadflow.store.models import PlaybookVersion

router = APIRouter(prefix="/playbooks", tags=["playbooks"], responses=ERROR_RESPONSES)


class PlaybookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, max_length=2_000_000, description="The playbook's YAML text.")
    source: str = Field(default="api", min_length=1, max_length=500, description="Where it came from.")


class CheckOut(BaseModel):
    ok: bool
    name: str
    version: int


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    sha256: str
    source: str
    author: str | None
    loaded_at: dt.datetime
    activated_at: dt.datetime | None
    active: bool


def _no_nul(body: PlaybookIn) -> None:
    for name in ("yaml", "source"):
        if "\x00" in getattr(body, name):
            raise InvalidInput("may not contain a NUL (0x00) character", name)


@router.post("/check", response_model=CheckOut)
def check(body: PlaybookIn, c: Annotated[Ctx, Depends(ctx("playbook.read"))]) -> Any:
    """Validate a playbook without storing it: ok, or 422 naming every problem's YAML path."""
    _no_nul(body)
    pb = parse_playbook(body.yaml, body.source)
    return CheckOut(ok=True, name=pb.name, version=pb.version)


@router.get("", response_model=list[VersionOut])
def versions(c: Annotated[Ctx, Depends(ctx("playbook.read"))]) -> Any:
    """Every stored version, newest first; exactly one is active."""
    return [VersionOut.model_validate(v) for v in list_versions(c.uow)]


@router.post("", response_model=VersionOut, status_code=201)
def activate(body: PlaybookIn, c: Annotated[Ctx, Depends(ctx("playbook.activate"))]) -> Any:
    """Validate, store (with you as author) and activate a playbook in one transaction; the old one is kept."""
    _no_nul(body)
    row = activate_playbook(c.uow, body.yaml, body.source, c.principal.user_id, c.now)
    c.uow.commit()
    return VersionOut.model_validate(row)


@router.post("/{version_id}/activate", response_model=VersionOut)
def restore(version_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
            c: Annotated[Ctx, Depends(ctx("playbook.activate"))]) -> Any:
    """Make a stored version the active one again (restore)."""
    row: PlaybookVersion = restore_playbook(c.uow, version_id, c.principal.user_id, c.now)
    c.uow.commit()
    return VersionOut.model_validate(row)
