"""The operator's command line: initialise, serve, check a playbook, inspect and move leads."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

if __name__ == "__main__":  # `python -m leadflow.cli`: run the importable module, never a second copy of it
    from leadflow.cli import main as _run  # (the command modules import `leadflow.cli` and register on its app)

    _run()
    sys.exit(0)

import typer
from rich.console import Console
from rich.table import Table

from leadflow.cli_webhooks import webhooks_app, worker
from leadflow.domain.records import Actor
from leadflow.errors import LeadflowError, PlaybookError
from leadflow.playbook.load import cached_playbook, load_playbook
from leadflow.playbook.schema import Playbook
from leadflow.settings import get_settings
from leadflow.store.db import Store

app = typer.Typer(help="leadflow: lead lifecycle and routing engine.", no_args_is_help=True, add_completion=False)
playbook_app = typer.Typer(help="Check and inspect playbooks.", no_args_is_help=True)
lead_app = typer.Typer(help="Inspect and change leads.", no_args_is_help=True)
import_app = typer.Typer(help="Import lists (CSV).", no_args_is_help=True)
domain_app = typer.Typer(help="The domain block list (I6).", no_args_is_help=True)
app.add_typer(playbook_app, name="playbook")
app.add_typer(lead_app, name="lead")
app.add_typer(import_app, name="import")
app.add_typer(domain_app, name="domain")
app.add_typer(webhooks_app, name="webhooks")
app.command("worker")(worker)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])

NowOption = Annotated[str | None, typer.Option("--now", help="ISO time to act at (default: the current UTC time).")]


def fail(message: str, code: int = 2) -> None:
    """Print one readable line on stderr and exit non-zero."""
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def handles_errors(fn: F) -> F:
    """Turn every leadflow refusal into one line and exit status 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PlaybookError as exc:
            for path, reason in exc.issues:
                err.print(f"[bold red]error:[/] {path}: {reason}", soft_wrap=True)
            raise typer.Exit(2) from None
        except LeadflowError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def parse_now(value: str | None) -> dt.datetime:
    """`--now` as an aware UTC datetime; the edge is the only place that reads the clock."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LeadflowError(f"'{value}' is not an ISO date-time", "now") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def current_playbook() -> Playbook:
    return cached_playbook(get_settings().playbook)


@contextmanager
def open_store() -> Iterator[Store]:
    store = Store(get_settings().database_url)
    try:
        yield store
    finally:
        store.dispose()


# --------------------------------------------------------------------------- init / serve


@app.command()
@handles_errors
def init(
    demo: Annotated[bool, typer.Option(help="Add the demo organisation (once).")] = True,
    now: NowOption = None,
) -> None:
    """Create or upgrade the database, load the playbook and add the demo organisation."""
    from leadflow.services.demo import seed_demo
    from leadflow.services.setup import initialise, read_playbook

    settings = get_settings()
    at = parse_now(now)
    pb, text, source = read_playbook(settings.playbook)
    with open_store() as store:
        changed = initialise(store, pb, text, source, at)
        out.print(f"database ready: {settings.database_url}")
        out.print(f"playbook: {pb.name} ({'loaded' if changed else 'already in force'})")
        if demo:
            summary = seed_demo(store, pb, at)
            out.print(summary)
        from leadflow.cli_api import first_admin_token

        out.print(first_admin_token(store, at), markup=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs, health at /health)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run("leadflow.api.app:create_app", factory=True, host=host or settings.host, port=port or settings.port)


# --------------------------------------------------------------------------- playbook


@playbook_app.command("check")
def playbook_check(file: Annotated[Path, typer.Argument(help="Playbook YAML file.")]) -> None:
    """Print `ok`, or every error with its YAML path and reason (exit 2)."""
    try:
        load_playbook(file)
    except PlaybookError as exc:
        for path, reason in exc.issues:
            out.print(f"{path}: {reason}", soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    out.print("ok")


@playbook_app.command("legacy-status")
@handles_errors
def playbook_legacy_status(value: Annotated[str, typer.Argument(help="A status from any process.")]) -> None:
    """Show which status (and reason) a legacy status becomes under the playbook (L8)."""
    from leadflow.domain.lifecycle import map_legacy_status

    status, reason = map_legacy_status(current_playbook(), value)
    out.print(json.dumps({"status": status, "reason": reason}))


# --------------------------------------------------------------------------- lead


@lead_app.command("show")
@handles_errors
def lead_show(lead_id: Annotated[str, typer.Argument(help="Lead id.")]) -> None:
    """Fields, status, owner and the full history of a lead."""
    from leadflow.services.views import lead_view

    with open_store() as store, store.uow() as uow:
        view = lead_view(uow, lead_id)
    fields = Table(title=f"Lead {lead_id}", show_header=False, title_justify="left")
    fields.add_column("field", style="bold")
    fields.add_column("value")
    for key, value in view.fields.items():
        fields.add_row(key, "" if value is None else str(value))
    out.print(fields)
    if view.intakes:
        intakes = Table(title="Intake", title_justify="left")
        for column in ("when", "channel", "outcome", "steps"):
            intakes.add_column(column, overflow="fold")
        for row in view.intakes:
            intakes.add_row(*row)
        out.print(intakes)
    history = Table(title="History", title_justify="left")
    for column in ("when", "field", "old", "new", "by", "rule", "why"):
        history.add_column(column, overflow="fold")
    for row in view.history:
        history.add_row(*row)
    out.print(history)


@app.command("explain")
@handles_errors
def explain_command(
    lead_id: Annotated[str, typer.Argument(help="Lead id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Why a lead has its score, segment, region, activity, classifications and owner."""
    from rich.panel import Panel

    from leadflow.services.explain import explain_lead

    with open_store() as store, store.uow() as uow:
        data = explain_lead(uow, lead_id)
    if as_json:
        out.print(json.dumps(data, indent=2, default=str), markup=False)
        return
    lead = data["lead"]
    owner = lead["owner"]
    out.print(Panel(f"{lead['name'] or lead['email'] or lead['id']} - {lead['company'] or ''}\n"
                    f"status {lead['status']}{' (' + lead['reason'] + ')' if lead['reason'] else ''}; "
                    f"owner {owner['type'] + ':' + owner['id'] if owner else 'none'}", title=f"lead {lead['id']}"))
    score = data["score"]
    table = Table(title=f"Score {score['total']} ({score['source']})", title_justify="left")
    for column in ("rule", "points", "at", "why"):
        table.add_column(column, overflow="fold")
    for part in score["parts"]:
        points = f"{part.get('points'):+d}"
        table.add_row(str(part.get("rule")), points, str(part.get("at") or ""), str(part.get("why")))
    out.print(table)
    for note in score.get("notes") or []:
        out.print(f"  not counted: {note}", markup=False)
    facts = Table(show_header=False, title="Why", title_justify="left")
    facts.add_column("figure", style="bold")
    facts.add_column("value")
    facts.add_column("why", overflow="fold")
    mql = score.get("mql") or {}
    facts.add_row("MQL", str(mql.get("mql_date") or "no"), str(mql.get("why") or ""))
    routing = score.get("routing") or {}
    facts.add_row("routing trigger", str(routing.get("triggered", "")), str(routing.get("why") or ""))
    facts.add_row("segment", str(data["segment"].get("value")), str(data["segment"].get("why") or ""))
    facts.add_row("region", str(data["region"].get("value")), str(data["region"].get("why") or ""))
    active = data["active"]
    facts.add_row("active until", str(active.get("active_until")), str(active.get("why") or ""))
    engage = active.get("not_to_engage") or {}
    facts.add_row("not to engage", str(engage.get("flag", "")), str(engage.get("why") or ""))
    account = data["matched_account"]
    if account:
        facts.add_row("matched account", f"{account['name']} ({account['id']})",
                      f"{account['evidence']} (confidence {account['confidence']})")
        facts.add_row("account segment", str(account["segment"]), str(account["segment_why"].get("why") or ""))
        facts.add_row("parent segment", str(account["parent_segment"]), "Parent Sales Segmentation")
    for label, value in data["classifications"].items():
        facts.add_row(label, value, "lifecycle classification (L6)")
    out.print(facts)
    routing_decision = data.get("routing")
    if routing_decision:
        out.print(json.dumps(routing_decision, indent=2, default=str), markup=False)


@lead_app.command("bant")
@handles_errors
def lead_bant(
    lead_id: Annotated[str, typer.Argument(help="Lead id.")],
    budget: Annotated[str | None, typer.Option(help="yes / no / unknown")] = None,
    authority: Annotated[str | None, typer.Option(help="yes / no / unknown")] = None,
    need: Annotated[str | None, typer.Option(help="yes / no / unknown")] = None,
    timeline: Annotated[str | None, typer.Option(help="yes / no / unknown")] = None,
    actor: Annotated[str, typer.Option("--as", help="User id acting (default: the operator).")] = "",
    now: NowOption = None,
) -> None:
    """Record Soft-BANT answers; enough of them mark the lead ready to pass to sales (S11)."""
    from leadflow.services.qualification import record_bant
    from leadflow.store.models import Lead

    def answer(name: str, text: str | None) -> tuple[str, bool | None] | None:
        if text is None:
            return None
        value = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False,
                 "unknown": None, "-": None}.get(text.strip().lower(), "bad")
        if value == "bad":
            raise LeadflowError(f"'{text}' is not yes, no or unknown", name)
        return name, value  # type: ignore[return-value]

    given = dict(a for a in (answer("budget", budget), answer("authority", authority), answer("need", need),
                             answer("timeline", timeline)) if a)
    who = Actor.user(actor) if actor else Actor.system("cli")
    with open_store() as store, store.uow() as uow:
        lead = uow.get(Lead, lead_id)
        verdict = record_bant(uow, current_playbook(), lead, given, who, parse_now(now))
        uow.commit()
    out.print(f"{lead_id}: {'ready to pass' if verdict.qualified else 'not ready'}: {verdict.why}", markup=False)


@lead_app.command("transition")
@handles_errors
def lead_transition(
    lead_id: Annotated[str, typer.Argument(help="Lead id.")],
    to: Annotated[str, typer.Option("--to", help="Target status.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Reason (required for some statuses).")] = None,
    actor: Annotated[str, typer.Option("--as", help="User id acting (default: the operator).")] = "",
    now: NowOption = None,
) -> None:
    """Move a lead to another status if the playbook allows it."""
    from leadflow.services.lifecycle import transition
    from leadflow.store.models import Lead

    pb = current_playbook()
    who = Actor.user(actor) if actor else Actor.system("cli")
    with open_store() as store, store.uow() as uow:
        lead = uow.get(Lead, lead_id)
        result = transition(uow, pb, lead, to, reason, who, parse_now(now))
        uow.commit()
        line = f"{lead_id}: {result.plan.from_status} -> {result.plan.to_status}"
        if result.plan.reason:
            line += f" ({result.plan.reason})"
        if lead.owner_type:
            line += f"; owner {lead.owner_type}:{lead.owner_id}"
        for follow in result.followups:
            line += f"; then {follow.to_status} ({follow.reason}) by rule {follow.rule}"
    out.print(line, markup=False)


@lead_app.command("bad-data")
@handles_errors
def lead_bad_data(
    lead_id: Annotated[str, typer.Argument(help="Lead id.")],
    reason: Annotated[str, typer.Option("--reason", help="Bad phone number, Bounced email, ...")],
    actor: Annotated[str, typer.Option("--as", help="User id acting (default: the operator).")] = "",
    now: NowOption = None,
) -> None:
    """Record a bad-data reason; the bad-data rule (L4) fires by itself."""
    from leadflow.services.lifecycle import add_bad_data_reason
    from leadflow.store.models import Lead

    pb = current_playbook()
    who = Actor.user(actor) if actor else Actor.system("cli")
    with open_store() as store, store.uow() as uow:
        lead = uow.get(Lead, lead_id)
        fired = add_bad_data_reason(uow, pb, lead, reason, who, parse_now(now))
        uow.commit()
        line = f"{lead_id}: bad data {', '.join(lead.bad_data_reasons)}; status {lead.status}"
        for plan in fired:
            line += f" (rule {plan.rule}: {plan.to_status} - {plan.reason})"
    out.print(line, markup=False)


# --------------------------------------------------------------------------- intake and import


@app.command("intake")
@handles_errors
def intake_command(
    channel: Annotated[str, typer.Option("--channel", help="Intake channel (see the playbook's channels).")],
    actor: Annotated[str, typer.Option("--as", help="User id acting (default: the operator).")] = "",
    now: NowOption = None,
) -> None:
    """Take one person in from JSON on stdin, through the same pipeline as every channel."""
    from leadflow.services.intake import IntakeEnv, intake
    from leadflow.services.intake_models import parse_lead

    try:
        payload = json.loads(sys.stdin.read() or "{}")
    except json.JSONDecodeError as exc:
        raise LeadflowError(f"stdin is not JSON: {exc.msg} (line {exc.lineno})", "(stdin)") from None
    if isinstance(payload, dict):
        payload = {**payload, "channel": channel}
    data = parse_lead(payload)
    who = Actor.user(actor) if actor else Actor.system("cli")
    with open_store() as store, store.uow() as uow:
        result = intake(uow, IntakeEnv(uow, current_playbook()), data, who, parse_now(now))
        uow.commit()
    out.print(
        json.dumps(
            {
                "intake": result.intake_id,
                "outcome": result.outcome,
                "replayed": result.replayed,
                "subject": {"type": result.subject_type, "id": result.subject_id} if result.subject_id else None,
                "spam": result.spam,
                "duplicate_of": result.duplicate_of,
                "matched_account": result.matched_account(),
                "steps": result.steps,
            },
            indent=2,
            default=str,
        ),
        markup=False,
    )


@import_app.command("leads")
@handles_errors
def import_leads_command(
    file: Annotated[Path, typer.Argument(help="CSV file with a header row.", exists=True, dir_okay=False)],
    channel: Annotated[str, typer.Option("--channel", help="Intake channel of the list, e.g. event_scan.")],
    campaign: Annotated[str | None, typer.Option("--campaign", help="Add every person to this campaign.")] = None,
    encoding: Annotated[str, typer.Option("--encoding", help="Text encoding of the file.")] = "utf-8",
    actor: Annotated[str, typer.Option("--as", help="User id acting (default: the operator).")] = "",
    now: NowOption = None,
) -> None:
    """Import a list through the intake, streaming, with a refused-rows report beside the file."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from leadflow.services.imports import count_rows, import_leads

    who = Actor.user(actor) if actor else Actor.system("import")
    columns = (
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
    )
    with open_store() as store, Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("rows", total=count_rows(file), rate="-")

        def advance(n: int) -> None:
            progress.advance(task, n)
            speed = progress.tasks[task].speed
            progress.update(task, rate=f"{speed:,.0f}" if speed else "-")

        report = import_leads(
            store,
            current_playbook(),
            file,
            channel=channel,
            actor=who,
            now=parse_now(now),
            campaign=campaign,
            encoding=encoding,
            on_row=advance,
        )
    out.print(report.summary(), markup=False)


@app.command("match")
@handles_errors
def match_command(
    accounts: Annotated[Path, typer.Option("--accounts", help="ACCOUNTS.csv: id,name,website,parent_id,country")],
    leads: Annotated[Path, typer.Option("--leads", help="LEADS.csv: id,email,company,website,country")],
    out_file: Annotated[Path | None, typer.Option("--out", help="Write MATCHES.csv here (default: stdout).")] = None,
) -> None:
    """Match each lead of a CSV to an account (CONTRACTS §2), with the intake's matcher."""
    from leadflow.cli_match import match_command as run

    run(accounts=accounts, leads=leads, out=out_file)


@app.command("merge")
@handles_errors
def merge_command(
    survivor: Annotated[str, typer.Argument(help="Id of the record that survives (lead or contact).")],
    merged: Annotated[str, typer.Argument(help="Id of the lead merged into it.")],
    actor: Annotated[str, typer.Option("--as", help="User id acting (default: the operator).")] = "",
    now: NowOption = None,
) -> None:
    """Merge lead MERGED into SURVIVOR (a lead or a contact), keeping the oldest Initial Source (M3)."""
    from leadflow.services.merge import merge
    from leadflow.store.models import Contact, Lead

    who = Actor.user(actor) if actor else Actor.system("cli")
    with open_store() as store, store.uow() as uow:
        records = []
        for record_id, field in ((survivor, "survivor"), (merged, "merged")):
            found = uow.session.get(Lead, record_id) or uow.session.get(Contact, record_id)
            if found is None:
                raise LeadflowError(f"no lead or contact with id '{record_id}'", field)
            records.append(found)
        result = merge(uow, current_playbook(), records[0], records[1], who, parse_now(now))
        uow.commit()
    table = Table(
        title=f"{result.merged_type} {result.merged_id} merged into {result.survivor_type} {result.survivor_id}",
        title_justify="left",
    )
    for column in ("field", "rule", "value", "from"):
        table.add_column(column, overflow="fold")
    for choice in result.choices:
        if choice.value not in (None, "", [], False) or choice.source != "survivor":
            table.add_row(choice.field, choice.rule, str(choice.value), choice.source)
    out.print(table)


@domain_app.command("block")
@handles_errors
def domain_block(
    domain: Annotated[str, typer.Argument(help="Domain whose new leads are refused, e.g. spam.example")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is blocked.")] = "",
    actor: Annotated[str, typer.Option("--as", help="User id acting (default: the operator).")] = "",
    now: NowOption = None,
) -> None:
    """Add a domain to the block list: future leads from it are refused (I6)."""
    from leadflow.services.spam import block_domain

    with open_store() as store, store.uow() as uow:
        name = block_domain(uow, domain, reason, Actor.user(actor) if actor else Actor.system("cli"), parse_now(now))
        uow.commit()
    out.print(f"blocked {name}", markup=False)


@app.command("simulate")
def simulate_command(
    world: Annotated[Path | None, typer.Option("--world", help="WORLD.json: users, accounts, leads, ...")] = None,
    now: Annotated[str | None, typer.Option("--now", help="ISO time with a zone, e.g. 2026-03-02T15:00:00Z.")] = None,
    playbook: Annotated[Path | None, typer.Option("--playbook", help="Playbook YAML (default: built-in).")] = None,
    replay: Annotated[bool, typer.Option("--replay", help="Re-decide the stored open leads under --playbook "
                                         "(read only) and print what would change.")] = False,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="With --replay: write the changed leads to "
                                                  "this CSV.")] = None,
) -> None:
    """What would happen to the lead on stdin (LEAD.json) in WORLD (CONTRACTS §1): one JSON object on stdout.

    Runs the real intake in a throw-away store; never opens the configured database. Bad input: exit 2 and
    {"error": ..., "field": ...} on stderr.

    With --replay --playbook NEW.yaml: re-decides every stored open lead of the configured database under NEW
    and the configured playbook, without writing, and prints the counts per old -> new owner and rule.
    """
    if replay:
        _simulate_replay(playbook, now, csv_path)
        return
    from leadflow.errors import InvalidInput
    from leadflow.services.simulate import parse_now as simulate_now
    from leadflow.services.simulate import read_json, simulate

    def refuse(message: str, field: str | None) -> None:
        sys.stderr.write(json.dumps({"error": message, "field": field}, ensure_ascii=False) + "\n")
        raise typer.Exit(2)

    try:
        at = simulate_now(now)
        if world is None:
            raise InvalidInput("--world WORLD.json is required", "world")
        try:
            world_text = world.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read {world}: {getattr(exc, 'strerror', None) or exc}", "world") from None
        world_data = read_json(world_text, "world")
        lead_data = read_json(sys.stdin.read(), "lead")
        try:
            pb = load_playbook(playbook) if playbook else cached_playbook(None)
        except PlaybookError as exc:
            path, reason = exc.issues[0] if exc.issues else ("(file)", "invalid playbook")
            raise InvalidInput(f"invalid playbook: {path}: {reason}", "playbook") from None
        output = simulate(pb, world_data, lead_data, at)
    except LeadflowError as exc:
        refuse(exc.message, exc.field)
        return
    sys.stdout.write(json.dumps(output, indent=2, ensure_ascii=False, default=str) + "\n")


@handles_errors
def _simulate_replay(playbook: Path | None, now: str | None, csv_path: Path | None) -> None:
    """`simulate --replay`: the configured database is read in a read-only transaction, never written."""
    from rich.text import Text

    from leadflow.services.replay import begin_read_only, end_read_only
    from leadflow.services.replay import replay as replay_routing

    if playbook is None:
        raise LeadflowError("--replay needs --playbook NEW.yaml", "playbook")
    new_pb = load_playbook(playbook)
    old_pb = current_playbook()
    at = parse_now(now)
    with open_store() as store, store.uow() as uow:
        begin_read_only(uow)
        try:
            report = replay_routing(uow, old_pb, new_pb, now=at)
        finally:
            end_read_only(uow)
    title = Text(f"replay under {playbook}: {report.changed} of {report.considered} open leads would change "
                 f"({report.not_routed} below the routing threshold)")
    table = Table(title=title, title_justify="left")
    for column in ("old owner", "new owner", "new rule", "leads"):
        table.add_column(column, overflow="fold")
    for old_target, new_target, rule, count in report.counts:
        table.add_row(Text(old_target), Text(new_target), Text(rule), str(count))
    out.print(table)
    if csv_path is not None:
        try:
            with csv_path.open("w", encoding="utf-8", newline="") as stream:
                report.write_csv(stream)
        except OSError as exc:
            raise LeadflowError(f"cannot write {csv_path}: {exc.strerror or exc}", "csv") from None
        out.print(f"{report.changed} leads written to {csv_path}", markup=False)


# --------------------------------------------------------------------------- segment review (S9)

review_app = typer.Typer(help="The sales segment review (S9): submit, decide, list.", no_args_is_help=True)
app.add_typer(review_app, name="review")


@review_app.command("submit")
@handles_errors
def review_submit(
    account_id: Annotated[str, typer.Argument(help="Account id.")],
    source: Annotated[str, typer.Option("--source", help="URL where the figure was found (not LinkedIn).")],
    employees: Annotated[int | None, typer.Option("--employees", help="The Total Employee count it should be.")] = None,
    hq_country: Annotated[str | None, typer.Option("--hq-country", help="The global account HQ's country.")] = None,
    hq_state: Annotated[str | None, typer.Option("--hq-state", help="The HQ's state or province.")] = None,
    hq_zip: Annotated[str | None, typer.Option("--hq-zip", help="The HQ's zip or postal code.")] = None,
    actor: Annotated[str, typer.Option("--as", help="User id submitting (default: the operator).")] = "",
    now: NowOption = None,
) -> None:
    """Submit an account to the segment review: --employees N, or --hq-country C [--hq-state S]; with --source."""
    from leadflow.services.segment_review import describe, submit_review
    from leadflow.store.models import Account

    if employees is not None and hq_country is not None:
        raise LeadflowError("give either --employees or --hq-country, not both", "employees")
    who = Actor.user(actor) if actor else Actor.system("cli")
    with open_store() as store, store.uow() as uow:
        review = submit_review(uow, current_playbook(), uow.get(Account, account_id, "account_id"),
                               employee_count=employees, hq_country=hq_country, hq_state=hq_state,
                               hq_postal_code=hq_zip, source=source, actor=who, now=parse_now(now))
        uow.commit()
        line = (f"{review.id}: {account_id} {describe(review)} submitted to the FY{review.fiscal_year} review; "
                f"if accepted it applies from {review.applies_on.isoformat()}")
    out.print(line, markup=False)


@review_app.command("decide")
@handles_errors
def review_decide(
    review_id: Annotated[str, typer.Argument(help="Review id.")],
    accept: Annotated[bool, typer.Option("--accept/--reject", help="Accept or reject the review.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (required to reject).")] = None,
    actor: Annotated[str, typer.Option("--as", help="User id deciding (default: the operator).")] = "",
    now: NowOption = None,
) -> None:
    """Accept or reject a submitted review; an accepted one applies at the start of Q1 (segment-review-apply)."""
    from leadflow.services.segment_review import decide_review, get_review

    who = Actor.user(actor) if actor else Actor.system("cli")
    with open_store() as store, store.uow() as uow:
        review = decide_review(uow, get_review(uow, review_id), accept, reason, who, parse_now(now))
        uow.commit()
        line = f"{review.id}: {review.status}"
        if review.status == "accepted":
            line += f"; applies from {review.applies_on.isoformat()} (job segment-review-apply)"
    out.print(line, markup=False)


@review_app.command("list")
@handles_errors
def review_list(
    status: Annotated[str | None, typer.Option("--status", help="Only reviews in this status.")] = None,
) -> None:
    """Segment reviews, newest first."""
    from leadflow.services.segment_review import describe, list_reviews

    with open_store() as store, store.uow() as uow:
        reviews = list_reviews(uow, status)
        table = Table(title=f"segment reviews{f' ({status})' if status else ''}: {len(reviews)}", title_justify="left")
        for column in ("id", "account", "review", "source", "status", "submitted", "decided", "applies on"):
            table.add_column(column, overflow="fold")
        for r in reviews:
            decided = f"{r.decided_by} {r.decided_at:%Y-%m-%d}" if r.decided_at else ""
            if r.decision_reason:
                decided += f": {r.decision_reason}"
            table.add_row(r.id, r.account_id, describe(r), r.source, r.status,
                          f"{r.submitted_by} {r.submitted_at:%Y-%m-%d}", decided, r.applies_on.isoformat())
    out.print(table)


user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("deactivate")
@handles_errors
def user_deactivate(
    user_id: Annotated[str, typer.Argument(help="User id to offboard.")],
    actor: Annotated[str, typer.Option("--as", help="User id acting (default: the operator).")] = "",
    now: NowOption = None,
) -> None:
    """Deactivate a user and reassign their leads and contacts by the playbook's offboarding table (L7)."""
    from leadflow.services.offboard import deactivate_user

    pb = current_playbook()
    who = Actor.user(actor) if actor else Actor.system("cli")
    with open_store() as store, store.uow() as uow:
        report = deactivate_user(uow, pb, user_id, who, parse_now(now))
        uow.commit()
    state = "deactivated" if report.deactivated else "already inactive"
    out.print(f"{user_id}: {state}; {len(report.reassigned)} records reassigned; "
              f"{report.sequences_finished} sequence enrollments finished", markup=False)
    for rule, count in sorted(report.by_rule.items()):
        out.print(f"  {rule}: {count}", markup=False)


@lead_app.command("assign")
@handles_errors
def lead_assign(
    lead_id: Annotated[str, typer.Argument(help="Lead id.")],
    to: Annotated[str, typer.Option("--to", help="User id of the new owner.")],
    actor: Annotated[str, typer.Option("--as", help="User id acting (default: the operator).")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="Act as an admin (may assign to Sales Admin).")] = False,
    now: NowOption = None,
) -> None:
    """Change a lead's owner by hand (P3; Sales Admin only by admins, R10)."""
    from leadflow.services.reassign import assign_lead
    from leadflow.store.models import Lead

    pb = current_playbook()
    who = Actor.user(actor) if actor else Actor.system("cli")
    with open_store() as store, store.uow() as uow:
        lead = uow.get(Lead, lead_id)
        owner = assign_lead(uow, pb, lead, to, who, parse_now(now), actor_is_admin=admin)
        uow.commit()
    out.print(f"{lead_id}: owner {owner.type}:{owner.id}", markup=False)


from leadflow import cli_jobs  # noqa: E402  (jobs, scheduler, SDR views: their own module)

cli_jobs.register(app)


from leadflow.cli_work import register as _register_work  # noqa: E402  (W1-W7 commands and jobs)

_register_work(app, lead_app)


from leadflow.cli_api import register as _register_api  # noqa: E402  (API commands: user token, playbook activate)

_register_api(app, user_app, playbook_app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

