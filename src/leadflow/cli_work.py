"""Commands for working leads: sequences and engagement events (W1), activities and the SLA report (W3), passing
(W4), opt-outs and lists (W6). Registered on the main app by `cli.py` (`register(app, lead_app)`); importing this
module also registers the W1-W7 jobs, so `leadflow jobs run NAME` finds them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.table import Table

import leadflow.services.cadence_jobs
import leadflow.services.passing
import leadflow.services.sequences
import leadflow.services.sla_jobs
import leadflow.services.subscriptions  # noqa: F401  (the imports above register the W1-W7 jobs)
from leadflow.cli import NowOption, current_playbook, handles_errors, open_store, out, parse_now
from leadflow.domain.records import Actor
from leadflow.errors import LeadflowError

sequence_app = typer.Typer(help="Sequences and engagement-tool events (W1).", no_args_is_help=True)
sla_app = typer.Typer(help="The follow-up SLA (W3).", no_args_is_help=True)
subscription_app = typer.Typer(help="Mailing lists (W6).", no_args_is_help=True)

ActorOption = Annotated[str, typer.Option("--as", help="User id acting (default: the operator).")]


def _actor(actor: str) -> Actor:
    return Actor.user(actor) if actor else Actor.system("cli")


def _time(value: str | None, field: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LeadflowError(f"'{value}' is not an ISO date-time", field) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _person(uow: Any, person_id: str) -> Any:
    from leadflow.services.sequences import find_person

    return find_person(uow, person_id, None)


# --------------------------------------------------------------------------- sequences (W1)


@sequence_app.command("create")
@handles_errors
def sequence_create(
    name: Annotated[str, typer.Argument(help="Sequence name.")],
    step: Annotated[list[str], typer.Option("--step", help="A step, in order (repeat the option).")],
    actor: ActorOption = "",
    now: NowOption = None,
) -> None:
    """Create a sequence with its steps."""
    from leadflow.services.sequences import create_sequence

    with open_store() as store, store.uow() as uow:
        seq = create_sequence(uow, name, step, _actor(actor), parse_now(now))
        uow.commit()
        out.print(f"{seq.id}: {seq.name} ({len(seq.steps)} steps)", markup=False)


@sequence_app.command("list")
@handles_errors
def sequence_list() -> None:
    """Every sequence with its steps and how many people are running it."""
    from sqlalchemy import func, select

    from leadflow.store.models import Sequence, SequenceEnrollment

    with open_store() as store, store.uow() as uow:
        running: dict[str, int] = {
            seq_id: count for seq_id, count in uow.session.execute(
                select(SequenceEnrollment.sequence_id, func.count()).where(SequenceEnrollment.state == "active")
                .group_by(SequenceEnrollment.sequence_id)
            )
        }
        table = Table(title="sequences", title_justify="left")
        for column in ("id", "name", "steps", "running"):
            table.add_column(column, overflow="fold")
        for seq in uow.session.scalars(select(Sequence).order_by(Sequence.name)):
            steps = ", ".join(f"{s.get('step')}. {s.get('name')}" for s in seq.steps or [])
            table.add_row(seq.id, seq.name, steps, str(running.get(seq.id, 0)))
    out.print(table)


@sequence_app.command("enroll")
@handles_errors
def sequence_enroll(
    person_id: Annotated[str, typer.Argument(help="Lead or contact id.")],
    sequence: Annotated[str, typer.Option("--sequence", help="Sequence id.")],
    owner: Annotated[str | None, typer.Option("--owner", help="User running it (default: the owner).")] = None,
    actor: ActorOption = "",
    now: NowOption = None,
) -> None:
    """Enroll a lead or contact in a sequence."""
    from leadflow.services.sequences import enroll

    with open_store() as store, store.uow() as uow:
        row = enroll(uow, current_playbook(), _person(uow, person_id), sequence, _actor(actor), parse_now(now),
                     owner_id=owner)
        uow.commit()
        out.print(f"{row.id}: {row.subject_type} {row.subject_id} in {row.sequence_id} (owner {row.owner_id})",
                  markup=False)


@sequence_app.command("event")
@handles_errors
def sequence_event(
    event_type: Annotated[str, typer.Argument(help="step_completed | email_replied | sequence_finished | "
                                                   "person_inactive")],
    person: Annotated[str | None, typer.Option("--person", help="Lead or contact id.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="Or the person's email.")] = None,
    sequence: Annotated[str | None, typer.Option("--sequence", help="Sequence id.")] = None,
    step: Annotated[int | None, typer.Option("--step", help="Step number (1 = the first).")] = None,
    occurred_at: Annotated[str | None, typer.Option("--occurred-at", help="When it happened (ISO).")] = None,
    event_id: Annotated[str | None, typer.Option("--event-id", help="The tool's event id (idempotency).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="User who did the step.")] = None,
    now: NowOption = None,
) -> None:
    """Apply an engagement-tool event, as the API and the inbound webhook do (prints the outcome as JSON)."""
    from leadflow.services.sequences import handle_engagement_event

    payload: dict[str, Any] = {"type": event_type}
    for key, value in (("person_id", person), ("email", email), ("sequence_id", sequence), ("step", step),
                       ("occurred_at", occurred_at), ("event_id", event_id), ("actor_id", by)):
        if value is not None:
            payload[key] = value
    with open_store() as store:
        outcome = handle_engagement_event(store, current_playbook(), payload, parse_now(now))
    out.print(json.dumps(outcome, indent=2, default=str), markup=False)


# --------------------------------------------------------------------------- lead commands (W1, W3, W4, W6)


def lead_pass(
    lead_id: Annotated[str, typer.Argument(help="Lead or contact id.")],
    to: Annotated[str, typer.Option("--to", help="User id of the sales owner.")],
    window_days: Annotated[int | None, typer.Option("--window-days", help="Days before the passer is reminded.")]
    = None,
    note: Annotated[str, typer.Option("--note", help="The introduction to the new owner.")] = "",
    actor: ActorOption = "",
    now: NowOption = None,
) -> None:
    """Pass a qualified lead to sales (W4): Qualified, new owner, notified; reminder if they do nothing."""
    from leadflow.services.passing import pass_lead

    with open_store() as store, store.uow() as uow:
        person = _person(uow, lead_id)
        row = pass_lead(uow, current_playbook(), person, to, _actor(actor), parse_now(now), window_days=window_days,
                        note=note)
        uow.commit()
        out.print(f"{person.id}: {person.status}, owner user:{to}; reminder to {row.passed_by} at "
                  f"{row.remind_at:%Y-%m-%d %H:%M} UTC if no action", markup=False)


def lead_opt_out(
    lead_id: Annotated[str, typer.Argument(help="Lead or contact id.")],
    temporary: Annotated[bool, typer.Option("--30-days", help="The 30-day opt-out that ends by itself.")] = False,
    undo: Annotated[bool, typer.Option("--undo", help="Opt the person in again.")] = False,
    actor: ActorOption = "",
    now: NowOption = None,
) -> None:
    """Opt a person out of every non-operational email (W6), for good or for 30 days; --undo opts in."""
    from leadflow.services.subscriptions import opt_in, opt_out

    with open_store() as store, store.uow() as uow:
        person = _person(uow, lead_id)
        if undo:
            opt_in(uow, person, _actor(actor), parse_now(now))
        else:
            opt_out(uow, current_playbook(), person, _actor(actor), parse_now(now), temporary=temporary)
        uow.commit()
        until = f" until {person.opt_out_until:%Y-%m-%d %H:%M} UTC" if person.opt_out_until else ""
        out.print(f"{person.id}: opt_out={person.opt_out}{until}", markup=False)


def lead_inactive(
    lead_id: Annotated[str, typer.Argument(help="Lead or contact id.")],
    actor: ActorOption = "",
    now: NowOption = None,
) -> None:
    """Mark a person Inactive (no longer at the company): their running sequences finish (W1)."""
    from leadflow.services.sequences import mark_inactive

    with open_store() as store, store.uow() as uow:
        person = _person(uow, lead_id)
        applied = mark_inactive(uow, current_playbook(), person, _actor(actor), parse_now(now))
        uow.commit()
        finished = sum(len(r.get("finished", [])) for r in applied["rules"])
        out.print(f"{person.id}: inactive; {finished} running sequence(s) finished", markup=False)


def lead_activity(
    lead_id: Annotated[str, typer.Argument(help="Lead or contact id.")],
    activity_type: Annotated[str, typer.Option("--type", help="call, email_sent, meeting, ...")],
    at: Annotated[str | None, typer.Option("--at", help="When it happened (default: --now).")] = None,
    actor: ActorOption = "",
    now: NowOption = None,
) -> None:
    """Log an activity on a person; the first follow-up answers the SLA (W3)."""
    from leadflow.services.sla_jobs import log_activity

    with open_store() as store, store.uow() as uow:
        person = _person(uow, lead_id)
        log_activity(uow, current_playbook(), person, activity_type, _actor(actor), parse_now(now),
                     at=_time(at, "at"))
        uow.commit()
        first = person.sla_first_response_at
        out.print(f"{person.id}: {activity_type} logged" + (f"; SLA first response {first:%Y-%m-%d %H:%M} UTC"
                                                            if first else ""), markup=False)


# --------------------------------------------------------------------------- SLA report (W3)


@sla_app.command("report")
@handles_errors
def sla_report_command(
    since: Annotated[str | None, typer.Option("--since", help="Due at or after (ISO).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Due before (ISO).")] = None,
    state: Annotated[str | None, typer.Option("--state", help="met | late | breached | open")] = None,
    now: NowOption = None,
) -> None:
    """Due time, first response and breach of every Contact Us / services request, and the compliance."""
    from leadflow.services.sla_jobs import sla_report, sla_summary

    with open_store() as store, store.uow() as uow:
        rows = sla_report(uow, parse_now(now), since=_time(since, "since"), until=_time(until, "until"), state=state)
    summary = sla_summary(rows)
    rate = "n/a" if summary["compliance"] is None else f"{summary['compliance']:.1%}"
    table = Table(title=f"SLA: {summary['total']} records; met {summary['met']}, late {summary['late']}, "
                        f"breached {summary['breached']}, open {summary['open']}; compliance {rate}",
                  title_justify="left")
    for column in ("record", "name", "channel", "region", "owner", "due (UTC)", "first response", "breached", "state"):
        table.add_column(column, overflow="fold")

    def fmt(value: dt.datetime | None) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value else ""

    for r in rows:
        table.add_row(f"{r.entity} {r.id}", r.name, r.channel or "", r.region or "", r.owner or "", fmt(r.due_at),
                      fmt(r.first_response_at), fmt(r.breached_at), r.state)
    out.print(table)


# --------------------------------------------------------------------------- lists (W6)


@subscription_app.command("add")
@handles_errors
def subscription_add(
    email: Annotated[str, typer.Argument(help="Email address.")],
    list_name: Annotated[str, typer.Option("--list", help="newsletter, security-notices, ...")],
    now: NowOption = None,
) -> None:
    """Subscribe an address to a list."""
    from leadflow.services.subscriptions import subscribe

    with open_store() as store, store.uow() as uow:
        sub = subscribe(uow, current_playbook(), email, list_name, parse_now(now))
        uow.commit()
        out.print(f"{sub.email}: on {sub.list_name}", markup=False)


@subscription_app.command("remove")
@handles_errors
def subscription_remove(
    email: Annotated[str, typer.Argument(help="Email address.")],
    list_name: Annotated[str, typer.Option("--list", help="newsletter, security-notices, ...")],
    now: NowOption = None,
) -> None:
    """Unsubscribe an address from a list."""
    from leadflow.services.subscriptions import unsubscribe

    with open_store() as store, store.uow() as uow:
        sub = unsubscribe(uow, current_playbook(), email, list_name, parse_now(now))
        uow.commit()
        out.print(f"{sub.email}: off {sub.list_name}", markup=False)


def register(app: typer.Typer, lead_app: typer.Typer) -> None:
    """Add the working-lead commands to the main app and to `leadflow lead`."""
    app.add_typer(sequence_app, name="sequence")
    app.add_typer(sla_app, name="sla")
    app.add_typer(subscription_app, name="subscription")
    lead_app.command("pass")(handles_errors(lead_pass))
    lead_app.command("opt-out")(handles_errors(lead_opt_out))
    lead_app.command("inactive")(handles_errors(lead_inactive))
    lead_app.command("activity")(handles_errors(lead_activity))
