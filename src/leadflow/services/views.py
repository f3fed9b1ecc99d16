"""Read models for people: a lead with its fields and history, ready to print or serialise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect

from leadflow.store.models import FieldHistory, Lead
from leadflow.store.uow import UnitOfWork, to_json


@dataclass(frozen=True)
class LeadView:
    fields: dict[str, Any]
    history: list[tuple[str, str, str, str, str, str, str]]


def _short(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def history_row(h: FieldHistory) -> tuple[str, str, str, str, str, str, str]:
    return (
        h.changed_at.strftime("%Y-%m-%d %H:%M:%S"),
        h.field,
        _short(h.old_value),
        _short(h.new_value),
        f"{h.actor_type}:{h.actor_id}",
        h.rule or "",
        h.why or "",
    )


def lead_view(uow: UnitOfWork, lead_id: str) -> LeadView:
    """A lead's fields (status and owner first) and its full field history."""
    lead = uow.get(Lead, lead_id)
    fields: dict[str, Any] = {
        "status": lead.status,
        "reason": lead.status_reason,
        "owner": f"{lead.owner_type}:{lead.owner_id}" if lead.owner_type else None,
    }
    for attr in inspect(Lead).column_attrs:
        if attr.key not in ("status", "status_reason", "owner_type", "owner_id"):
            fields[attr.key] = to_json(getattr(lead, attr.key))
    return LeadView(fields=fields, history=[history_row(h) for h in uow.history("lead", lead_id)])
