"""CSV list import (I3): every row through the one intake, streamed, idempotent, with a report.

Rows are read one at a time (never the whole file), validated, and committed in chunks of
`CHUNK` rows. A chunk of a `lead` channel goes through the batch intake (services/batch_intake.py:
the same decisions with a few reads and one write per table per chunk); a row it cannot take, and
every row of another channel, is taken in by `intake` inside a savepoint of its own. A refused row is written to
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

from leadflow import gc_policy
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput, LeadflowError
from leadflow.playbook.schema import Playbook
from leadflow.services.account_cache import _settings_key
from leadflow.services.batch_intake import PER_ROW_HANDLINGS, Batch, Fallback, single_in_savepoint
from leadflow.services.csvsafe import SafeWriter
from leadflow.services.intake import IntakeEnv, Normalised, delivery_key, normalise
from leadflow.services.intake_models import LeadIn
from leadflow.store.db import Store
from leadflow.store.models import Campaign, CampaignMember, Intake

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
CHUNK = 1000
_ROW_CACHES: dict[Any, dict[Any, Any]] = {}  # parsed duplicate candidates (bounded in Batch)
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


@gc_policy.relaxed()  # a long list keeps big caches alive: fewer full collections (gc_policy.py)
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
    batched: bool = True,
) -> ImportReport:
    """Import every row of a list through the intake; write the refused rows beside the file.

    Rows of a `lead` channel go through the batch intake (services/batch_intake.py), which takes the same
    decisions with chunk-level reads and writes; `batched=False` sends every row through the per-row intake
    (the equivalence test compares the two)."""
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
    batch = batched and (pb.channel(channel).handling not in PER_ROW_HANDLINGS)  # type: ignore[union-attr]
    try:
        pending = True
        while pending:
            with store.uow() as uow:
                env = IntakeEnv(uow, pb)
                member_of = _campaign(uow, campaign, actor, now) if campaign else None
                chunk: list[tuple[int, list[str], dict[str, str | None], list[str], LeadIn | None]] = []
                for number, header, row, problem in rows:
                    if mapping is None:
                        mapping = map_header(header, pb)
                        report.header_fields = dict(mapping)
                    report.rows += 1
                    data: LeadIn | None = None
                    reasons: list[str] = [problem] if problem else []
                    if not problem:
                        try:
                            data = LeadIn.model_validate({**row_payload(row, mapping, channel),
                                                          "delivery_id": f"import:{digest}:{number}"})
                        except ValidationError as exc:
                            reasons = reasons_of(exc)
                    chunk.append((number, header, row, reasons, data))
                    if len(chunk) >= CHUNK:
                        break
                else:
                    pending = False
                take = _take_batch if batch else _take_rows
                for (number, header, row, _, _), reasons in zip(
                        chunk, take(uow, env, chunk, actor, now, member_of, report), strict=True):
                    if reasons:
                        report.rejected += 1
                        if writer is None:
                            rejected_file = rejected_path.open("w", encoding="utf-8", newline="")
                            writer = SafeWriter(rejected_file)
                            writer.writerow(["row", "reasons", *header])
                        writer.writerow([number, "; ".join(reasons), *[_shown(row.get(h)) for h in header]])
                    if on_row:
                        on_row(1)
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


Chunk = list[tuple[int, list[str], dict[str, str | None], list[str], LeadIn | None]]


def _single(uow: Any, env: IntakeEnv, data: LeadIn, actor: Actor, now: dt.datetime, member_of: Campaign | None,
            report: ImportReport) -> tuple[list[str], str | None, str | None]:
    """One row through the per-row intake in its own savepoint: (reasons, subject type, subject id)."""
    try:
        result = single_in_savepoint(uow, env, data, actor, now)
    except (ValidationError, LeadflowError) as exc:
        return reasons_of(exc), None, None
    _count(report, result.outcome, result.replayed)
    if member_of is not None and result.subject_type in ("lead", "contact"):
        _join(uow, member_of, result.subject_type, result.subject_id or "", now)
    return [], result.subject_type, result.subject_id


def _take_rows(uow: Any, env: IntakeEnv, chunk: Chunk, actor: Actor, now: dt.datetime,
               member_of: Campaign | None, report: ImportReport) -> list[list[str]]:
    """Every row through the per-row intake."""
    out = []
    for _, _, _, reasons, data in chunk:
        if data is not None and not reasons:
            reasons = _single(uow, env, data, actor, now, member_of, report)[0]
        out.append(reasons)
    return out


def _take_batch(uow: Any, env: IntakeEnv, chunk: Chunk, actor: Actor, now: dt.datetime,
                member_of: Campaign | None, report: ImportReport) -> list[list[str]]:
    """The chunk through the batch intake; a row it cannot take goes through the per-row intake, in order."""
    out: list[list[str]] = [list(r) for _, _, _, r, _ in chunk]
    todo: list[tuple[int, int, LeadIn, Normalised | None, str | None]] = []
    keys = [delivery_key(d.channel, d) for _, _, _, r, d in chunk if d is not None and not r]
    replays = {r.dedupe_key: r for r in uow.session.execute(
        select(Intake.dedupe_key, Intake.outcome, Intake.subject_type, Intake.subject_id)
        .where(Intake.dedupe_key.in_([k for k in keys if k])))} if keys else {}
    joined: list[tuple[str, str]] = []
    for i, (_, _, _, reasons, data) in enumerate(chunk):
        if data is None or reasons:
            continue
        key = delivery_key(data.channel, data)
        if key in replays:
            found = replays[key]
            report.replayed += 1
            if found.subject_type in ("lead", "contact"):
                joined.append((found.subject_type, found.subject_id))
            continue
        try:
            norm: Normalised | None = normalise(env.pb, data)
        except LeadflowError as exc:  # as the per-row intake refuses it, with its reasons
            out[i] = reasons_of(exc)
            continue
        todo.append((i, i + 2, data, norm, key))
    if member_of is not None and joined:
        _join_many(uow, member_of, joined, now)
    # duplicate candidates' parsed rows, across chunks, under the playbook's normalisation settings
    cache = _ROW_CACHES.setdefault(_settings_key(env.pb), {})
    batch = Batch(uow, env, actor, now, member_of.id if member_of is not None else None, cache)
    batch.prefetch([(i, d, n) for i, _, d, n, _ in todo])
    pb = env.pb
    for i, _, data, norm, key in todo:
        channel_def = pb.channel(data.channel)
        broad = True  # a row the batch never tried: whatever it changes is read again
        if norm is not None and channel_def is not None:
            try:
                result = batch.take(i, channel_def, data, norm, key)
                _count(report, result.outcome, False)
                continue
            except Fallback as exc:
                broad = exc.broad
            except LeadflowError as exc:
                out[i] = reasons_of(exc)
                continue
        batch.write()
        reasons, subject_type, subject_id = _single(uow, env, data, actor, now, member_of, report)
        out[i] = reasons
        if not reasons:  # a refused row changed nothing (its savepoint was rolled back)
            batch.after_single(subject_type, subject_id, norm.email if norm else None, broad)
    batch.write()
    return out


def _join_many(uow: Any, campaign: Campaign, subjects: list[tuple[str, str]], now: dt.datetime) -> None:
    ids = [s for _, s in subjects]
    have = {(r.subject_type, r.subject_id) for r in uow.session.execute(
        select(CampaignMember.subject_type, CampaignMember.subject_id).where(
            CampaignMember.campaign_id == campaign.id, CampaignMember.subject_id.in_(ids)))}
    for subject in dict.fromkeys(subjects):
        if subject not in have:
            uow.session.add(CampaignMember(campaign_id=campaign.id, subject_type=subject[0], subject_id=subject[1],
                                           added_at=now))
    uow.session.flush()


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
