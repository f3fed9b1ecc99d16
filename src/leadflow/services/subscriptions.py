"""Subscriptions and opt-outs (W6): who is on which list, who opted out, and the one gate every email to a person
goes through (`may_send`, `queue_email`), so opted-out records get no non-operational email.

Opt-out is the SFDC "Opt Out" checkbox (permanent, until opted in again); the temporary opt-out is the "30-Day Opt
Out" checkbox, stored as `opt_out_until` and ended by the daily `opt-out-end` job. Every change is field history
under a `w6-...` rule; every email queued is an outbox event `email.person` carrying its `operational` flag.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from leadflow.domain import working
from leadflow.domain.normalise import normalise_email
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services.jobs import job
from leadflow.store.db import Store
from leadflow.store.models import Contact, Lead, OutboxEvent, Subscription
from leadflow.store.uow import UnitOfWork

Person = Lead | Contact
PEOPLE: tuple[type[Lead] | type[Contact], ...] = (Lead, Contact)

OPT_OUT_RULE = "w6-opt-out"
TEMPORARY_RULE = "w6-30-day-opt-out"
OPT_IN_RULE = "w6-opt-in"
END_RULE = "w6-30-day-opt-out-end"
OPT_OUT_END_JOB = "opt-out-end"
EMAIL_EVENT = "email.person"


def opt_out(uow: UnitOfWork, pb: Playbook, person: Person, actor: Actor, now: dt.datetime, *,
            temporary: bool = False) -> Person:
    """Opt a person out of every non-operational email: for good, or for the playbook's temporary days."""
    with uow.changing(actor=actor, now=now):
        if temporary:
            until = working.temporary_opt_out_end(pb, now)
            uow.set_field(person, "opt_out_until", until, rule=TEMPORARY_RULE,
                          why=f"30-day opt-out until {until:%Y-%m-%d %H:%M} UTC (W6)")
        else:
            uow.set_field(person, "opt_out", True, rule=OPT_OUT_RULE, why="opted out of non-operational email (W6)")
    return person


def opt_in(uow: UnitOfWork, person: Person, actor: Actor, now: dt.datetime) -> Person:
    """Clear both opt-outs (the person asked to hear from us again)."""
    with uow.changing(actor=actor, now=now):
        uow.set_field(person, "opt_out", False, rule=OPT_IN_RULE, why="opted in again (W6)")
        uow.set_field(person, "opt_out_until", None, rule=OPT_IN_RULE, why="opted in again (W6)")
    return person


def _list_name(pb: Playbook, list_name: str) -> str:
    lists = pb.working.subscriptions.lists
    if lists and list_name not in lists:
        raise InvalidInput(f"unknown list '{list_name}'; lists: {', '.join(lists)}", "list")
    return list_name


def subscribe(uow: UnitOfWork, pb: Playbook, email: str, list_name: str, now: dt.datetime) -> Subscription:
    """Put an address on a list (again); a second subscribe changes nothing."""
    address = normalise_email(email)
    if address is None:
        raise InvalidInput(f"'{email}' is not an email address", "email")
    name = _list_name(pb, list_name)
    sub = uow.session.scalars(
        select(Subscription).where(Subscription.email == address, Subscription.list_name == name)
    ).first()
    if sub is None:
        sub = Subscription(email=address, list_name=name, subscribed_at=now)
        uow.session.add(sub)
    elif sub.unsubscribed_at is not None:
        sub.unsubscribed_at = None
        sub.subscribed_at = now
    uow.session.flush()
    return sub


def unsubscribe(uow: UnitOfWork, pb: Playbook, email: str, list_name: str, now: dt.datetime) -> Subscription:
    """Take an address off a list (the one-click unsubscribe of 004)."""
    address = normalise_email(email) or email.strip().lower()
    name = _list_name(pb, list_name)
    sub = uow.session.scalars(
        select(Subscription).where(Subscription.email == address, Subscription.list_name == name)
    ).first()
    if sub is None:
        raise InvalidInput(f"{address} is not on the {name} list", "email")
    if sub.unsubscribed_at is None:
        sub.unsubscribed_at = now
    uow.session.flush()
    return sub


def _lists_of(uow: UnitOfWork, email: str | None) -> frozenset[str]:
    if not email:
        return frozenset()
    rows = uow.session.scalars(
        select(Subscription.list_name)
        .where(Subscription.email == email.lower(), Subscription.unsubscribed_at.is_(None))
    )
    return frozenset(rows)


def facts_of(uow: UnitOfWork, person: Person) -> working.SendFacts:
    return working.SendFacts(
        email=person.email, opt_out=bool(person.opt_out), opt_out_until=person.opt_out_until,
        lists=_lists_of(uow, person.email),
    )


def may_send(uow: UnitOfWork, pb: Playbook, person: Person, kind: str, now: dt.datetime) -> working.SendDecision:
    """W6: may an email of `kind` go to `person` now?"""
    return working.may_send(pb, kind, facts_of(uow, person), now)


def queue_email(uow: UnitOfWork, pb: Playbook, person: Person, kind: str, payload: dict[str, Any],
                now: dt.datetime) -> tuple[working.SendDecision, OutboxEvent | None]:
    """The one way an email to a person is queued: through `may_send`; a withheld one is not queued at all.
    Must run inside a change context (the outbox row belongs to the change that caused it)."""
    decision = may_send(uow, pb, person, kind, now)
    if not decision.allowed:
        return decision, None
    row = uow.emit(EMAIL_EVENT, entity=person, payload={
        "to": person.email, "kind": kind, "operational": decision.operational, "why": decision.why, **payload,
    })
    return decision, row


def send_to_list(uow: UnitOfWork, pb: Playbook, list_name: str, kind: str, payload: dict[str, Any],
                 actor: Actor, now: dt.datetime) -> dict[str, Any]:
    """Queue one email of `kind` to every subscriber of a list, withholding opted-out people (W6)."""
    name = _list_name(pb, list_name)
    subscribers = list(uow.session.scalars(
        select(Subscription.email).where(Subscription.list_name == name, Subscription.unsubscribed_at.is_(None))
        .order_by(Subscription.email)
    ))
    sent: list[str] = []
    withheld: dict[str, str] = {}
    with uow.changing(actor=actor, now=now, rule="w6-list-send", why=f"{kind} to the {name} list"):
        for email in subscribers:
            people = _people_with(uow, email)
            decisions = [working.may_send(pb, kind, facts_of(uow, p), now) for p in people] or [
                working.may_send(pb, kind, working.SendFacts(email=email, lists=_lists_of(uow, email)), now)
            ]
            refused = next((d for d in decisions if not d.allowed), None)
            if refused is not None:
                withheld[email] = refused.why
                continue
            uow.emit(EMAIL_EVENT, entity=people[0] if people else None, payload={
                "to": email, "kind": kind, "operational": decisions[0].operational, "list": name, **payload,
            })
            sent.append(email)
    return {"list": name, "kind": kind, "sent": sent, "withheld": withheld}


def _people_with(uow: UnitOfWork, email: str) -> list[Person]:
    """Every live lead and contact with this address (an opt-out on any of them counts)."""
    people: list[Person] = []
    for model in PEOPLE:
        people += list(uow.session.scalars(
            select(model).where(model.email == email, model.merged_into_id.is_(None)).order_by(model.id)
        ))
    return people


@job(OPT_OUT_END_JOB)
def opt_out_end_job(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
    """W6: every temporary opt-out whose 30 days are over ends (history names the rule); idempotent."""
    ended = 0
    with store.uow() as uow:
        with uow.changing(actor=Actor.system(OPT_OUT_END_JOB), now=now, rule=END_RULE):
            for model in PEOPLE:
                stmt = select(model).where(model.opt_out_until.is_not(None), model.opt_out_until <= now)
                due: list[Person] = list(uow.session.scalars(stmt.order_by(model.id)))
                for person in due:
                    until = person.opt_out_until
                    uow.set_field(person, "opt_out_until", None, rule=END_RULE,
                                  why=f"the 30-day opt-out ended {until:%Y-%m-%d %H:%M} UTC (W6)")
                    ended += 1
        uow.commit()
    return {"ended": ended}

