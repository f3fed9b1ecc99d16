"""CSV list import (I3): every row through the one intake, streamed, idempotent, with a report.

Rows are read one at a time (never the whole file), validated, and taken in by `intake`
inside a savepoint each, committed in chunks. A refused row is written to
`FILE.rejected.csv` with its row number and every reason; cells are escaped against
formula injection. The same file imported twice creates nothing new: every row carries the
key (file digest, row number), so a repeated row is a replay, and the same email is the same
person anyway (I7).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import select

from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput, LeadflowError
from leadflow.playbook.schema import Playbook
from leadflow.services.csvsafe import SafeWriter
from leadflow.services.intake import IntakeEnv, intake
from leadflow.services.intake_models import LeadIn
from leadflow.store.db import Store
from leadflow.store.models import Campaign, CampaignMember

# Header spellings seen on event and purchased lists, mapped to intake fields.
HEADER_ALIASES = {
    "email": "email", "email_address": "email", "e_mail": "email", "e_mail_address": "email", "work_email": "email",
    "first_name": "first_name", "firstname": "first_name", "given_name": "first_name",
    "last_name": "last_name", "lastname": "last_name", "surname": "last_name", "family_name": "last_name",
    "company": "company", "company_name": "company", "organisation": "company", "organization": "company",
    "account_name": "company",
    "title": "title", "job_title": "title",
    "phone": "phone", "phone_number": "phone", "telephone": "phone", "mobile": "phone",
    "website": "website", "company_website": "website", "url": "website",
    "country": "country", "state": "state", "state_province": "state", "province": "state",
    "industry": "industry", "employees": "employees", "number_of_employees": "employees",
    "developers_bucket": "developers_bucket", "number_of_developers": "developers_bucket",
    "how_many_developers": "how_many_developers",
    "status": "status", "lead_status": "status", "status_reason": "status_reason", "reason": "status_reason",
}
NUMERIC = {"employees", "how_many_developers"}
CHUNK = 500
csv.field_size_limit(1_000_000)


@dataclass
class ImportReport:
    """What an import did, row by row in aggregate."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    replayed: int = 0
    rejected: int = 0
    other: int = 0
    rejected_path: Path | None = None
    header_fields: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{self.rows} rows", f"{self.created} created", f"{self.updated} updated",
                 f"{self.replayed} already imported", f"{self.rejected} rejected"]
        if self.other:
            parts.append(f"{self.other} other")
        text = ", ".join(parts)
        if self.rejected_path:
            text += f" (see {self.rejected_path})"
        return text


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def map_header(headers: list[str], pb: Playbook) -> dict[str, str]:
    """CSV header -> intake field; refuses a file without the columns the playbook requires."""
    mapping: dict[str, str] = {}
    for header in headers:
        target = HEADER_ALIASES.get(_key(header))
        if target and target not in mapping.values():
            mapping[header] = target
    present = set(mapping.values())
    groups = pb.intake.required_any_of
    if not any(all(f in present for f in group) for group in groups):
        wanted = " or ".join("+".join(g) for g in groups)
        raise InvalidInput(f"the file needs the column(s) {wanted}; found: {', '.join(headers) or 'none'}",
                           "columns")
    return mapping


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def count_rows(path: Path) -> int:
    """Physical lines minus the header: the progress bar's total (quoted newlines may inflate it)."""
    with path.open("rb") as fh:
        return max(sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b"")) - 1, 0)


def read_rows(path: Path, encoding: str) -> Iterator[tuple[int, list[str], dict[str, str | None], str | None]]:
    """(row number, header, row, decode problem) for each data row, streaming."""
    with path.open("r", encoding=encoding, errors="surrogateescape", newline="") as fh:
        if encoding.lower().replace("-", "") in ("utf8", "utf8sig"):
            first = fh.read(1)
            if first != "\ufeff":
                fh.seek(0)
        # strict: an unbalanced quote is an error for its row, never a field that silently swallows the
        # rows after it (up to the end of the file); the reader goes on at the next line
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise InvalidInput("the file is empty", "columns") from None
        except csv.Error as exc:
            raise InvalidInput(f"the header cannot be read as CSV: {exc}", "columns") from None
        number = 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                yield number, header, {}, f"not valid CSV (line {reader.line_num}): {exc}"
                continue
            number += 1
            if not any(v.strip() for v in values):
                continue
            problem = None
            if any(_has_surrogates(v) for v in values):
                problem = f"not valid {encoding}; re-save the file as UTF-8 or pass --encoding (e.g. cp1252)"
            elif len(values) != len(header):
                problem = f"has {len(values)} cells but the header has {len(header)} columns"
            row = {h: (values[i] if i < len(values) else None) for i, h in enumerate(header)}
            yield number, header, row, problem


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _shown(value: str | None) -> str | None:
    """A cell for the UTF-8 rejected file: bytes that did not decode become U+FFFD, never a crash."""
    if value is None or not _has_surrogates(value):
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def row_payload(row: dict[str, str | None], mapping: dict[str, str], channel: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"channel": channel}
    for header, target in mapping.items():
        value = row.get(header)
        if value is None or not value.strip():
            continue
        value = value.strip()
        if target in NUMERIC:
            cleaned = value.replace(",", "").replace(" ", "")
            payload[target] = int(cleaned) if cleaned.isdigit() else value
        else:
            payload[target] = value
    return payload


def reasons_of(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    if isinstance(exc, LeadflowError):
        return [str(exc)]
    return [f"unexpected error: {exc}"]


def import_leads(
    store: Store,
    pb: Playbook,
    path: Path,
    *,
    channel: str,
    actor: Actor,
    now: dt.datetime,
    campaign: str | None = None,
    encoding: str = "utf-8",
    on_row: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import every row of a list through the intake; write the refused rows beside the file."""
    if pb.channel(channel) is None:
        raise InvalidInput(f"unknown channel '{channel}'", "channel")
    try:
        codec = encoding.lower()
        "".encode(codec)
    except LookupError:
        raise InvalidInput(f"unknown encoding '{encoding}'", "encoding") from None
    digest = file_digest(path)
    report = ImportReport()
    rejected_path = path.with_name(path.stem + ".rejected.csv")
    rejected_file: IO[str] | None = None
    writer: SafeWriter | None = None
    rows = read_rows(path, encoding)
    mapping: dict[str, str] | None = None
    try:
        pending = True
        while pending:
            with store.uow() as uow:
                env = IntakeEnv(uow, pb)
                member_of = _campaign(uow, campaign, actor, now) if campaign else None
                done = 0
                for number, header, row, problem in rows:
                    if mapping is None:
                        mapping = map_header(header, pb)
                        report.header_fields = dict(mapping)
                    report.rows += 1
                    reasons: list[str] = []
                    if problem:
                        reasons = [problem]
                    else:
                        try:
                            data = LeadIn.model_validate({**row_payload(row, mapping, channel),
                                                          "delivery_id": f"import:{digest}:{number}"})
                            savepoint = uow.session.begin_nested()
                            try:
                                result = intake(uow, env, data, actor, now)
                                savepoint.commit()
                            except Exception:
                                savepoint.rollback()
                                raise
                            _count(report, result.outcome, result.replayed)
                            if member_of is not None and result.subject_type in ("lead", "contact"):
                                _join(uow, member_of, result.subject_type, result.subject_id or "", now)
                        except (ValidationError, LeadflowError) as exc:
                            reasons = reasons_of(exc)
                    if reasons:
                        report.rejected += 1
                        if writer is None:
                            rejected_file = rejected_path.open("w", encoding="utf-8", newline="")
                            writer = SafeWriter(rejected_file)
                            writer.writerow(["row", "reasons", *header])
                        writer.writerow([number, "; ".join(reasons), *[_shown(row.get(h)) for h in header]])
                    if on_row:
                        on_row(1)
                    done += 1  # noqa: SIM113  (counts this chunk, not the file)
                    if done >= CHUNK:
                        break
                else:
                    pending = False
                uow.commit()
            if mapping is None:
                # header only: still check it, so a wrong file is refused with its columns
                pending = False
        if mapping is None:
            with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
                header = next(csv.reader(fh), [])
            map_header(header, pb)
    finally:
        if rejected_file is not None:
            rejected_file.close()
    report.rejected_path = rejected_path if report.rejected else None
    if not report.rejected and rejected_path.exists():
        rejected_path.unlink()
    return report


def _count(report: ImportReport, outcome: str, replayed: bool) -> None:
    if replayed:
        report.replayed += 1
    elif outcome == "created":
        report.created += 1
    elif outcome == "updated":
        report.updated += 1
    else:
        report.other += 1


def _campaign(uow: Any, name: str, actor: Actor, now: dt.datetime) -> Campaign:
    found = uow.session.scalars(select(Campaign).where(Campaign.name == name)).first()
    if found is None:
        found = Campaign(name=name, type="List Import", created_at=now)
        uow.session.add(found)
        uow.session.flush()
    return found  # type: ignore[no-any-return]


def _join(uow: Any, campaign: Campaign, subject_type: str, subject_id: str, now: dt.datetime) -> None:
    exists = uow.session.scalars(select(CampaignMember.id).where(
        CampaignMember.campaign_id == campaign.id, CampaignMember.subject_type == subject_type,
        CampaignMember.subject_id == subject_id)).first()
    if exists is None:
        uow.session.add(CampaignMember(campaign_id=campaign.id, subject_type=subject_type, subject_id=subject_id,
                                       added_at=now))


__all__ = ["ImportReport", "import_leads"]
