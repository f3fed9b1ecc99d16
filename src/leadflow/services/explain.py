"""Why a lead's figures are what they are: score parts, segment, region, activity, classes.

Everything shown comes from the stored record and the explanations its derivations stored;
nothing is recomputed here, so `explain` shows what the engine decided and when.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, select

from leadflow.store.models import Account, FieldHistory, Lead
from leadflow.store.uow import UnitOfWork, to_json

CLASSIFICATIONS = {
    "lc_unknown": "Unknown",
    "lc_user": "User",
    "lc_prospect_hierarchy": "Prospect Hierarchy",
    "lc_customer_hierarchy_account": "Customer Hierarchy Account",
    "lc_former_customer_account": "Former Customer Account",
    "lc_partner_managed": "Partner Managed",
}


def explain_lead(uow: UnitOfWork, lead_id: str) -> dict[str, Any]:
    """A JSON-ready account of every derived figure of the lead and the rule behind it."""
    lead = uow.get(Lead, lead_id)
    derived = lead.derivations or {}
    account = uow.session.get(Account, lead.matched_account_id) if lead.matched_account_id else None
    out: dict[str, Any] = {
        "lead": {"id": lead.id, "name": " ".join(p for p in (lead.first_name, lead.last_name) if p),
                 "email": lead.email, "company": lead.company, "status": lead.status, "reason": lead.status_reason,
                 "owner": {"type": lead.owner_type, "id": lead.owner_id} if lead.owner_type else None},
        "score": {"total": lead.score, "source": lead.score_source or "leadflow", "parts": lead.score_parts or [],
                  "notes": (derived.get("score") or {}).get("notes", []),
                  "mql": {"mql_date": to_json(lead.mql_date), **(derived.get("mql") or {})},
                  "routing": derived.get("routing")},
        "segment": {"value": lead.segment, **(derived.get("segment") or {})},
        "region": {"value": lead.region, **(derived.get("region") or {})},
        "active": {"active_until": to_json(lead.active_until), **(derived.get("active") or {}),
                   "not_to_engage": derived.get("not_to_engage")},
        "matched_account": None,
        "classifications": {label: getattr(lead, column) for column, label in CLASSIFICATIONS.items()},
        "routing": _routing(uow, lead),
    }
    if account is not None:
        acc = account.derivations or {}
        out["matched_account"] = {
            "id": account.id, "name": account.name, "type": account.type, "confidence": lead.match_confidence,
            "evidence": lead.match_evidence, "segment": account.segment, "parent_segment": account.parent_segment,
            "segment_why": (acc.get("segment") or {}), "region": account.region,
            "region_why": (acc.get("region") or {}),
        }
    out["last_changes"] = [
        {"field": h.field, "new": h.new_value, "rule": h.rule, "why": h.why, "at": to_json(h.changed_at)}
        for h in _last_rule_changes(uow, lead)
    ]
    return out


def _routing(uow: UnitOfWork, lead: Lead) -> dict[str, Any] | None:
    """The latest routing decision with its trace, when the routing service stored one."""
    try:
        from leadflow.store.models import RoutingDecision  # type: ignore[attr-defined]
    except ImportError:
        return None
    columns = {c.key for c in inspect(RoutingDecision).column_attrs}
    order = RoutingDecision.decided_at.desc() if "decided_at" in columns else RoutingDecision.id.desc()
    row = uow.session.scalars(select(RoutingDecision).where(RoutingDecision.lead_id == lead.id).order_by(order)).first()
    if row is None:
        return None
    return {key: to_json(getattr(row, key)) for key in columns if key not in ("lead_id",)}


def _last_rule_changes(uow: UnitOfWork, lead: Lead) -> list[FieldHistory]:
    """The latest automatic change of each derived field (which rule set it, and why)."""
    fields = ("segment", "region", "score", "status", "mql_date", "active_until", "not_to_engage", "owner_id")
    rows = uow.session.scalars(
        select(FieldHistory).where(FieldHistory.entity_type == "lead", FieldHistory.entity_id == lead.id,
                                   FieldHistory.field.in_(fields)).order_by(FieldHistory.id)
    )
    latest: dict[str, FieldHistory] = {}
    for row in rows:
        latest[row.field] = row
    return [latest[f] for f in fields if f in latest]
