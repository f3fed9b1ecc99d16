"""`leadflow webhooks ...` and `leadflow worker`: secrets, dead letters, subscriptions, delivery (I2, R13).

The shared CLI helpers (error handling, `--now`, the store) live in `leadflow.cli`, which imports
this module to register it; they are looked up when a command runs, not at import.
"""

from __future__ import annotations

import json
import secrets as secrets_lib
import signal
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

F = TypeVar("F", bound=Callable[..., Any])

webhooks_app = typer.Typer(help="Webhooks in (I2) and out (R13).", no_args_is_help=True)
secret_app = typer.Typer(help="The signing secrets of incoming sources.", no_args_is_help=True)
webhooks_app.add_typer(secret_app, name="secret")

NowOption = Annotated[str | None, typer.Option("--now", help="ISO time to act at (default: the current UTC time).")]


def _refusals(fn: F) -> F:
    """Every leadflow refusal becomes one line and exit status 2, as in the rest of the CLI."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from leadflow.cli import handles_errors

        return handles_errors(fn)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _print(text: str) -> None:
    from leadflow.cli import out

    out.print(text, markup=False)


def _table(table: Table) -> None:
    from leadflow.cli import out

    out.print(table)


# --------------------------------------------------------------------------- incoming (I2)


@secret_app.command("set")
@_refusals
def secret_set(
    source: Annotated[str, typer.Argument(help="A source of the playbook's webhooks section.")],
    value: Annotated[str | None, typer.Option("--value", help="The secret (default: a new random one).")] = None,
    grace_minutes: Annotated[int, typer.Option(help="Minutes the replaced secret stays valid.", min=0)] = 0,
    now: NowOption = None,
) -> None:
    """Set a source's signing secret; it is printed once, to give to the sender."""
    import datetime as dt

    from leadflow.cli import current_playbook, open_store, parse_now
    from leadflow.services.webhooks_in import set_secret

    secret = value or secrets_lib.token_hex(32)
    with open_store() as store:
        set_secret(store, current_playbook(), source, secret, parse_now(now), dt.timedelta(minutes=grace_minutes))
    _print(f"{source}: {secret}")


@webhooks_app.command("dead-letters")
@_refusals
def dead_letters_command(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, with the body.")] = False,
) -> None:
    """List deliveries that could not be processed, with the reason (open ones by default)."""
    from leadflow.cli import open_store
    from leadflow.services.webhooks_in import dead_letters

    with open_store() as store:
        rows = dead_letters(store, source, include_replayed=all_)
    if as_json:
        for r in rows:
            _print(json.dumps({"id": r.id, "source": r.source, "delivery": r.delivery_id, "status": r.status,
                               "received_at": r.received_at.isoformat(), "attempts": r.attempts, "field": r.field,
                               "reason": r.reason, "body": json.loads(r.body)}))
        return
    table = Table("id", "source", "delivery", "received", "tries", "status", "field", "reason")
    for r in rows:
        table.add_row(r.id, r.source, r.delivery_id, r.received_at.isoformat(timespec="seconds"), str(r.attempts),
                      r.status, r.field or "", r.reason)
    _table(table)
    _print(f"{len(rows)} dead letter(s)")


@webhooks_app.command("replay")
@_refusals
def replay_command(
    ids: Annotated[list[str] | None, typer.Argument(help="Dead letter ids (see `webhooks dead-letters`).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every open dead letter.")] = False,
    source: Annotated[str | None, typer.Option(help="With --all: only this source.")] = None,
    now: NowOption = None,
) -> None:
    """Process kept payloads again with the playbook in force; exit 1 if any still fails."""
    from leadflow.cli import current_playbook, open_store, parse_now
    from leadflow.errors import InvalidInput
    from leadflow.services.webhooks_in import dead_letters, replay_dead_letter

    if not ids and not all_:
        raise InvalidInput("name dead letter ids or use --all", "ids")
    at = parse_now(now)
    failed = 0
    with open_store() as store:
        todo = list(ids or []) or [r.id for r in dead_letters(store, source)]
        pb = current_playbook()
        for dl_id in todo:
            answer = replay_dead_letter(store, pb, dl_id, at)
            ok = answer.status == 200
            failed += 0 if ok else 1
            shown = answer.body.get("result") if ok else {"error": answer.body.get("error"),
                                                          "field": answer.body.get("field")}
            _print(f"{dl_id}: {'processed' if ok else 'still failing'} {json.dumps(shown, default=str)}")
    if failed:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- outgoing (R13)


@webhooks_app.command("subscribe")
@_refusals
def subscribe_command(
    url: Annotated[str, typer.Argument(help="Where to POST events (http or https).")],
    event: Annotated[list[str], typer.Option("--event", "-e", help="Event type, `prefix.*` or `*` (repeatable).")],
    secret: Annotated[str | None, typer.Option(help="Signing secret (default: a new random one).")] = None,
    description: Annotated[str, typer.Option(help="Who this is for.")] = "",
    now: NowOption = None,
) -> None:
    """Send outbox events of these types, queued from now on, to URL; prints the signing secret once."""
    from leadflow.cli import open_store, parse_now
    from leadflow.services.webhooks_out import subscribe

    with open_store() as store:
        sub = subscribe(store, url, event, parse_now(now), secret=secret, description=description)
    _print(f"{sub.id}: {sub.url} events {', '.join(sub.event_types)}\nsecret: {sub.secret}")


@webhooks_app.command("subscriptions")
@_refusals
def subscriptions_command() -> None:
    """List subscribers (secrets are not shown)."""
    from leadflow.cli import open_store
    from leadflow.services.webhooks_out import subscriptions

    with open_store() as store:
        rows = subscriptions(store)
    table = Table("id", "url", "events", "active", "since", "description")
    for s in rows:
        table.add_row(s.id, s.url, ", ".join(s.event_types), "yes" if s.active else "no",
                      s.created_at.isoformat(timespec="seconds"), s.description)
    _table(table)


@webhooks_app.command("pause")
@_refusals
def pause_command(subscription: Annotated[str, typer.Argument(help="Subscription id.")]) -> None:
    """Stop sending to a subscriber; its deliveries wait until it is resumed."""
    from leadflow.cli import open_store
    from leadflow.services.webhooks_out import set_active

    with open_store() as store:
        set_active(store, subscription, False)
    _print(f"{subscription}: paused")


@webhooks_app.command("resume")
@_refusals
def resume_command(subscription: Annotated[str, typer.Argument(help="Subscription id.")]) -> None:
    """Send to a paused subscriber again."""
    from leadflow.cli import open_store
    from leadflow.services.webhooks_out import set_active

    with open_store() as store:
        set_active(store, subscription, True)
    _print(f"{subscription}: active")


@webhooks_app.command("deliveries")
@_refusals
def deliveries_command(
    status: Annotated[str | None, typer.Option(help="pending, sending, delivered or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """The newest outgoing deliveries with their tries and last error."""
    from leadflow.cli import open_store
    from leadflow.services.webhooks_out import deliveries

    with open_store() as store:
        rows = deliveries(store, status, limit)
    table = Table("id", "event", "subscription", "status", "tries", "next try", "last error")
    for d in rows:
        table.add_row(f"whd_{d.id}", d.event_type, d.subscription_id, d.status, str(d.attempts),
                      d.next_attempt_at.isoformat(timespec="seconds"), (d.last_error or "")[:80])
    _table(table)


@webhooks_app.command("retry")
@_refusals
def retry_command(
    delivery: Annotated[str, typer.Argument(help="A failed delivery, e.g. whd_42.")],
    now: NowOption = None,
) -> None:
    """Try a failed outgoing delivery again, with a fresh number of tries."""
    from leadflow.cli import open_store, parse_now
    from leadflow.errors import InvalidInput
    from leadflow.services.webhooks_out import retry_failed

    number = delivery.removeprefix("whd_")
    if not number.isdigit():
        raise InvalidInput(f"'{delivery}' is not a delivery id (whd_<number>)", "delivery")
    with open_store() as store:
        retry_failed(store, int(number), parse_now(now))
    _print(f"{delivery}: pending")


@_refusals
def worker(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (for cron and tests).")] = False,
    now: NowOption = None,
) -> None:
    """Deliver outbox events to webhook subscribers until stopped (SIGTERM/Ctrl-C finish the pass)."""
    import datetime as dt

    from leadflow.cli import current_playbook, open_store, parse_now
    from leadflow.errors import InvalidInput
    from leadflow.services.webhooks_out import run_forever, run_once

    if now is not None and not once:
        raise InvalidInput("--now is for a single pass: add --once", "now")
    pb = current_playbook()
    with open_store() as store:
        if once:
            _print(json.dumps(run_once(store, pb, parse_now(now))))
            return
        stopping: list[int] = []

        def stop(signum: int, frame: Any) -> None:
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(f"worker: delivering webhooks (poll {pb.webhooks.delivery.poll_seconds}s)", file=sys.stderr, flush=True)
        run_forever(store, pb, lambda: dt.datetime.now(dt.UTC), lambda: bool(stopping),
                    report=lambda s: _print(json.dumps(s)),
                    on_error=lambda e: print(f"worker: pass failed, retrying: {type(e).__name__}: {e}"[:500],
                                             file=sys.stderr, flush=True))
        print("worker: stopped", file=sys.stderr, flush=True)
