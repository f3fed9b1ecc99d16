"""Merging people (M3): lead into lead, lead into contact, field by field by playbook rule.

The survivor keeps the oldest Initial Source (D6) and every other field by the playbook's
merge rules, each choice written to its history with the rule and where the value came from.
The merged-away record is kept, pointing at the survivor (`merged_into_*`), with its own
history intact; the survivor's history view includes it. Activities, tasks, campaign
memberships, sequence enrollments, intakes and subscriptions move to the survivor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect, select, update

from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.lifecycle import refresh_classifications
from leadflow.store.models import (
    Activity,
    CampaignMember,
    Contact,
    FieldHistory,
    Intake,
    Lead,
    SequenceEnrollment,
    Subscription,
    Task,
)
from leadflow.store.uow import CREATED, UnitOfWork, to_json

Person = Lead | Contact
# Bookkeeping columns that describe the record itself, never the person: not merged.
NOT_MERGED = frozenset(
    {
        "id",
        "created_at",
        "updated_at",
        "merged_into_id",
        "merged_into_type",
        "account_id",
        "converted_contact_id",
        "converted_account_id",
        "converted_opportunity_id",
        "converted_at",
    }
)


@dataclass(frozen=True)
class FieldChoice:
    field: str
    rule: str
    value: Any
    source: str  # "survivor" or "lead:ID"


@dataclass(frozen=True)
class MergeResult:
    survivor_type: str
    survivor_id: str
    merged_type: str
    merged_id: str
    choices: tuple[FieldChoice, ...]


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _set_times(uow: UnitOfWork, person: Person) -> dict[str, dt.datetime]:
    """When each field last got its current value, from the record's own history."""
    times: dict[str, dt.datetime] = {}
    for row in uow.history(person.__entity__, person.id):
        if row.field == CREATED:
            for name in row.new_value or {}:
                times[name] = row.changed_at
        else:
            times[row.field] = row.changed_at
    return times


def _choose(
    rule: str,
    field: str,
    mine: Any,
    theirs: Any,
    my_time: dt.datetime | None,
    their_time: dt.datetime | None,
    survivor: Person,
    merged: Person,
) -> tuple[Any, str]:
    """The surviving value and where it came from."""
    other = f"{merged.__entity__}:{merged.id}"
    if rule == "survivor":
        return mine, "survivor"
    if rule == "union":
        combined = list(mine or []) + [v for v in (theirs or []) if v not in (mine or [])]
        return combined, "both"
    if rule == "any_true":
        return bool(mine) or bool(theirs), other if (theirs and not mine) else "survivor"
    if rule == "max":
        if theirs is not None and (mine is None or theirs > mine):
            return theirs, other
        return mine, "survivor"
    if rule in ("oldest", "oldest_non_empty"):
        if field == "initial_source":
            mine_at, theirs_at = survivor.initial_source_at, merged.initial_source_at
            older = theirs_at is not None and (mine_at is None or theirs_at < mine_at)
            return (theirs, other) if (not _empty(theirs) and (older or _empty(mine))) else (mine, "survivor")
        if _empty(theirs):
            return mine, "survivor"
        if _empty(mine):
            return theirs, other
        if isinstance(mine, dt.datetime) and isinstance(theirs, dt.datetime):
            return (theirs, other) if theirs < mine else (mine, "survivor")
        older = their_time is not None and (my_time is None or their_time < my_time)
        return (theirs, other) if older else (mine, "survivor")
    # newest_non_empty
    if _empty(theirs):
        return mine, "survivor"
    if _empty(mine):
        return theirs, other
    newer = their_time is not None and (my_time is None or their_time > my_time)
    return (theirs, other) if newer else (mine, "survivor")


def merge(
    uow: UnitOfWork, pb: Playbook, survivor: Person, merged: Person, actor: Actor, now: dt.datetime
) -> MergeResult:
    """Merge `merged` into `survivor` (a contact always survives a lead)."""
    if isinstance(survivor, Lead) and isinstance(merged, Contact):
        survivor, merged = merged, survivor
    if isinstance(merged, Contact):
        raise InvalidInput("contacts are merged by merging leads into them; merge a lead into a contact", "merged")
    if survivor.__entity__ == merged.__entity__ and survivor.id == merged.id:
        raise InvalidInput("a record cannot be merged into itself", "merged")
    for record, name in ((survivor, "survivor"), (merged, "merged")):
        if record.merged_into_id is not None:
            raise InvalidInput(
                f"{record.__entity__} {record.id} was already merged into {record.merged_into_type} "
                f"{record.merged_into_id}",
                name,
            )
    rules = pb.merge
    my_times, their_times = _set_times(uow, survivor), _set_times(uow, merged)
    survivor_columns = {a.key for a in inspect(type(survivor)).column_attrs}
    merged_columns = {a.key for a in inspect(type(merged)).column_attrs}
    # a derived column (`__derived__`) follows the fields it is derived from, never chosen on its own
    skipped = NOT_MERGED | survivor.__derived__ | merged.__derived__ | {"initial_source", "initial_source_at"}
    fields = sorted((survivor_columns & merged_columns) - skipped)
    choices: list[FieldChoice] = []
    label = f"{merged.__entity__} {merged.id}"
    with uow.changing(
        actor=actor, now=now, rule="merge", why=f"merged {label} into {survivor.__entity__} {survivor.id}"
    ):
        # Initial Source and its time move together (D6): the oldest first touch wins.
        rule = rules.fields.get("initial_source", "oldest")
        value, source = _choose(
            rule, "initial_source", survivor.initial_source, merged.initial_source, None, None, survivor, merged
        )
        choices.append(FieldChoice("initial_source", rule, value, source))
        if source != "survivor":
            with uow.changing(rule=f"merge:{rule}", why=f"initial_source from {source}: the oldest first touch (D6)"):
                survivor.initial_source = merged.initial_source
                survivor.initial_source_at = merged.initial_source_at
        for name in fields:
            rule = rules.fields.get(name, rules.default)
            mine, theirs = getattr(survivor, name), getattr(merged, name)
            value, source = _choose(
                rule, name, mine, theirs, my_times.get(name), their_times.get(name), survivor, merged
            )
            choices.append(FieldChoice(name, rule, to_json(value), source))
            if to_json(value) != to_json(mine):
                with uow.changing(rule=f"merge:{rule}", why=f"{name} from {source} ({rule.replace('_', ' ')})"):
                    setattr(survivor, name, value)
        with uow.changing(rule="merge", why=f"merged into {survivor.__entity__} {survivor.id}"):
            merged.merged_into_type = survivor.__entity__
            merged.merged_into_id = survivor.id
        _move_related(uow, merged, survivor)
        refresh_classifications(uow, pb, survivor)
        uow.session.add(
            FieldHistory(
                change_id=uow.context.change_id if uow.context else "",
                entity_type=survivor.__entity__,
                entity_id=survivor.id,
                field="(merged)",
                old_value=None,
                new_value={"type": merged.__entity__, "id": merged.id},
                changed_at=now,
                actor_type=actor.type,
                actor_id=actor.id,
                rule="merge",
                why=f"{label} merged in; its history is kept under its own id",
            )
        )
    return MergeResult(survivor.__entity__, survivor.id, merged.__entity__, merged.id, tuple(choices))


def _move_related(uow: UnitOfWork, merged: Person, survivor: Person) -> None:
    """What belongs to the person follows them to the survivor."""
    kind, new_kind = merged.__entity__, survivor.__entity__
    for model in (Activity, Task, SequenceEnrollment, Intake):
        uow.session.execute(
            update(model)
            .where(model.subject_type == kind, model.subject_id == merged.id)
            .values(subject_type=new_kind, subject_id=survivor.id)
        )
    existing = set(
        uow.session.scalars(
            select(CampaignMember.campaign_id).where(
                CampaignMember.subject_type == new_kind, CampaignMember.subject_id == survivor.id
            )
        )
    )
    for member in uow.session.scalars(
        select(CampaignMember).where(CampaignMember.subject_type == kind, CampaignMember.subject_id == merged.id)
    ):
        if member.campaign_id in existing:
            uow.session.delete(member)
        else:
            member.subject_type, member.subject_id = new_kind, survivor.id
    uow.session.execute(
        update(Subscription)
        .where(Subscription.subject_type == kind, Subscription.subject_id == merged.id)
        .values(subject_type=new_kind, subject_id=survivor.id)
    )


def history_with_merged(uow: UnitOfWork, person: Person) -> list[FieldHistory]:
    """The person's history including every record merged into it (oldest first)."""
    rows = list(uow.history(person.__entity__, person.id))
    for model in (Lead, Contact):
        children = uow.session.scalars(
            select(model).where(model.merged_into_type == person.__entity__, model.merged_into_id == person.id)
        )
        for child in children:
            rows.extend(history_with_merged(uow, child))
    return sorted(rows, key=lambda r: (r.changed_at, r.id))
