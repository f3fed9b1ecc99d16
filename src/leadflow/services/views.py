"""Read models for people: a lead with its fields and history, ready to print or serialise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect, select

from leadflow.services.merge import history_with_merged
from leadflow.store.models import FieldHistory, Intake, Lead
from leadflow.store.uow import UnitOfWork, to_json


@dataclass(frozen=True)
class LeadView:
    fields: dict[str, Any]
    history: list[tuple[str, str, str, str, str, str, str]]
    intakes: list[tuple[str, str, str, str]]


def _short(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def history_row(h: FieldHistory, own: bool = True) -> tuple[str, str, str, str, str, str, str]:
    return (
        h.changed_at.strftime("%Y-%m-%d %H:%M:%S"),
        h.field if own else f"{h.field} [{h.entity_type} {h.entity_id}]",
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
    rows = history_with_merged(uow, lead)
    intakes = uow.session.scalars(
        select(Intake).where(Intake.subject_type == "lead", Intake.subject_id == lead_id).order_by(Intake.received_at)
    )
    return LeadView(
        fields=fields,
        history=[history_row(h, own=(h.entity_type, h.entity_id) == ("lead", lead_id)) for h in rows],
        intakes=[(i.received_at.strftime("%Y-%m-%d %H:%M:%S"), i.channel, i.outcome, _steps(i.steps)) for i in intakes],
    )


def _steps(steps: list[dict[str, Any]]) -> str:
    """One line per step: its name and what it found."""
    lines = []
    for step in steps:
        rest = {k: v for k, v in step.items() if k != "step" and v not in (None, [], {}, "")}
        lines.append(f"{step.get('step')}: {_short(rest)}")
    return "\n".join(lines)
