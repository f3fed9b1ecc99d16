"""`leadflow match`: which account each lead of a file belongs to (CONTRACTS §2), with the M2 matcher."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from leadflow.domain.matching import AccountIndex, AccountRow, LeadRow
from leadflow.errors import LeadflowError
from leadflow.playbook.load import cached_playbook
from leadflow.settings import get_settings

ACCOUNT_COLUMNS = ("id", "name", "website", "parent_id", "country")
LEAD_COLUMNS = ("id", "email", "company", "website", "country")
OUTPUT_COLUMNS = ("lead_id", "account_id", "confidence", "evidence")

_err = Console(stderr=True, highlight=False)


class MatchInputError(LeadflowError):
    """An input file cannot be read as the contract says (missing file or required column)."""


@dataclass(frozen=True)
class MatchRow:
    """One line of MATCHES.csv."""

    lead_id: str
    account_id: str
    confidence: float
    evidence: str

    def as_csv(self) -> list[str]:
        return [self.lead_id, self.account_id, f"{round(self.confidence, 3):g}", self.evidence]


@contextmanager
def _open_csv(path: Path, required: tuple[str, ...]) -> Iterator[csv.DictReader[str]]:
    """A streaming reader over `path` (BOM tolerated), refused when a required column is missing."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise MatchInputError(f"cannot read {path}: {exc.strerror}", field=str(path)) from None
    with handle:
        reader = csv.DictReader(handle)
        present = {(c or "").strip() for c in reader.fieldnames or []}
        for column in required:
            if column not in present:
                raise MatchInputError(f"{path.name}: missing required column '{column}'", field=column)
        yield reader


def _cell(row: Mapping[str, str | None], column: str) -> str:
    return (row.get(column) or "").strip()


def _accounts(reader: Iterable[Mapping[str, str | None]]) -> Iterator[AccountRow]:
    for row in reader:
        yield AccountRow(
            id=_cell(row, "id"),
            name=_cell(row, "name"),
            website=_cell(row, "website") or None,
            parent_id=_cell(row, "parent_id") or None,
            country=_cell(row, "country") or None,
        )


def check_inputs(accounts_path: Path, leads_path: Path) -> None:
    """Refuse, naming it, a missing file or required column before any work or output starts."""
    for path, columns in ((accounts_path, ACCOUNT_COLUMNS), (leads_path, LEAD_COLUMNS)):
        with _open_csv(path, columns) as reader:
            del reader  # opening it checked the file and its header; the rows are read later


def count_rows(path: Path) -> int:
    """Data lines in a CSV file (for the progress bar; a quoted newline makes it a slight overcount)."""
    with path.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(lines - 1, 0)


def _playbook_settings() -> tuple[Mapping[str, str], tuple[str, ...]]:
    """Country aliases and extra free-mail domains of the playbook in force: the intake's matcher settings."""
    playbook = cached_playbook(get_settings().playbook)
    intake = getattr(playbook, "intake", None)
    return playbook.countries.aliases, tuple(getattr(intake, "free_mail_domains_extra", ()) or ())


def match_files(
    accounts_path: Path,
    leads_path: Path,
    *,
    country_aliases: Mapping[str, str] | None = None,
    free_mail_extra: Iterable[str] | None = None,
    on_lead: Callable[[], None] | None = None,
) -> Iterator[MatchRow]:
    """Index ACCOUNTS.csv once, then stream LEADS.csv: one MatchRow per lead, in file order.

    Aliases and extra free-mail domains default to the playbook in force, as at intake.
    """
    if country_aliases is None or free_mail_extra is None:
        aliases, extra = _playbook_settings()
        country_aliases = aliases if country_aliases is None else country_aliases
        free_mail_extra = extra if free_mail_extra is None else free_mail_extra
    with _open_csv(leads_path, LEAD_COLUMNS) as leads:  # checked first: refuse before the long indexing
        with _open_csv(accounts_path, ACCOUNT_COLUMNS) as accounts:
            index = AccountIndex(_accounts(accounts), country_aliases=country_aliases, free_mail_extra=free_mail_extra)
        for row in leads:
            lead = LeadRow(
                id=_cell(row, "id"),
                email=_cell(row, "email") or None,
                company=_cell(row, "company") or None,
                website=_cell(row, "website") or None,
                country=_cell(row, "country") or None,
            )
            decision = index.decide(lead)
            found = decision.match
            if on_lead:
                on_lead()
            if found is None:
                yield MatchRow(lead.id, "", 0.0, decision.reason)
            else:
                yield MatchRow(lead.id, found.account_id, found.confidence, found.evidence)


def write_matches(rows: Iterable[MatchRow], out: IO[str]) -> int:
    """Write MATCHES.csv (header + one row per lead); returns the number of leads."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(OUTPUT_COLUMNS)
    written = 0
    for row in rows:
        writer.writerow(row.as_csv())
        written += 1
    return written


def _progress() -> Progress:
    return Progress(
        TextColumn("matching leads"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_err,  # never stdout: MATCHES.csv may be going there
        transient=True,
    )


def match_command(
    accounts: Path = typer.Option(..., "--accounts", help="ACCOUNTS.csv: id,name,website,parent_id,country."),
    leads: Path = typer.Option(..., "--leads", help="LEADS.csv: id,email,company,website,country."),
    out: Path | None = typer.Option(None, "--out", help="Write MATCHES.csv here instead of stdout."),
) -> None:
    """Match each lead of a file to its account: lead_id,account_id,confidence,evidence (M2)."""
    try:
        check_inputs(accounts, leads)
        total = count_rows(leads)
        with _progress() as progress:
            task = progress.add_task("match", total=total)
            rows = match_files(accounts, leads, on_lead=lambda: progress.advance(task))
            if out is None:
                write_matches(rows, sys.stdout)
                sys.stdout.flush()
            else:
                with out.open("w", newline="", encoding="utf-8") as handle:
                    write_matches(rows, handle)
    except LeadflowError as exc:
        _err.print(f"[bold red]error:[/] {exc.message}", soft_wrap=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        _err.print(f"[bold red]error:[/] {exc.filename or ''}: {exc.strerror}", soft_wrap=True)
        raise typer.Exit(2) from None
