"""`leadflow match` (CONTRACTS §2, M2) on the shared matching sample, scored against its truth.csv.

Right = the matched account is one of truth's `|`-joined ids, or no match when truth is empty;
precision = right matches / matches made; recall = right matches / leads that have an account.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from builders import SHARED
from leadflow.cli_match import OUTPUT_COLUMNS, match_command, match_files

SAMPLE = SHARED / "matching"

pytestmark = pytest.mark.skipif(
    not (SAMPLE / "truth.csv").is_file(), reason=f"shared matching sample not found at {SAMPLE}"
)

app = typer.Typer()
app.command("match")(match_command)


@app.command("version")  # a second command keeps `match` a named subcommand, as in leadflow's CLI
def _version() -> None:
    pass


runner = CliRunner()


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def matches(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("match") / "matches.csv"
    result = runner.invoke(
        app,
        ["match", "--accounts", str(SAMPLE / "accounts.csv"), "--leads", str(SAMPLE / "leads.csv"), "--out", str(out)],
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # the rows went to --out; the progress bar never goes to stdout
    return read_csv(out.read_text(encoding="utf-8"))


def test_M2_sample_matches_with_f1_099_and_precision_0995(matches: list[dict[str, str]]) -> None:
    with (SAMPLE / "truth.csv").open(newline="", encoding="utf-8-sig") as handle:
        truth = {row["lead_id"]: {i for i in row["account_ids"].split("|") if i} for row in csv.DictReader(handle)}
    got = {row["lead_id"]: row["account_id"] for row in matches}
    assert got.keys() == truth.keys()
    made = [lead for lead, account in got.items() if account]
    right = sum(got[lead] in truth[lead] for lead in made)
    with_account = sum(1 for ids in truth.values() if ids)
    precision, recall = right / len(made), right / with_account
    f1 = 2 * precision * recall / (precision + recall)
    assert precision >= 0.995, f"precision {precision:.4f}"
    assert f1 >= 0.99, f"F1 {f1:.4f} (precision {precision:.4f}, recall {recall:.4f})"


def test_M2_output_has_the_contract_header_and_one_row_per_lead(matches: list[dict[str, str]]) -> None:
    with (SAMPLE / "leads.csv").open(newline="", encoding="utf-8-sig") as handle:
        lead_ids = [row["id"] for row in csv.DictReader(handle)]
    assert tuple(matches[0].keys()) == OUTPUT_COLUMNS == ("lead_id", "account_id", "confidence", "evidence")
    assert [row["lead_id"] for row in matches] == lead_ids
    for row in matches:
        confidence = float(row["confidence"])
        assert 0.0 <= confidence <= 1.0
        assert round(confidence, 3) == confidence
        assert row["evidence"]
        if not row["account_id"]:
            assert confidence == 0.0


def test_M2_rows_go_to_stdout_without_out(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("id,name,website,parent_id,country\nacme,Acme GmbH,https://www.acme.de,,Germany\n")
    leads = tmp_path / "leads.csv"
    leads.write_text("id,email,company,website,country\nl1,jane@acme.de,Acme,,Germany\nl2,x@gmail.com,,,\n")
    result = runner.invoke(app, ["match", "--accounts", str(accounts), "--leads", str(leads)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "lead_id,account_id,confidence,evidence"
    assert read_csv(result.stdout) == [
        {
            "lead_id": "l1",
            "account_id": "acme",
            "confidence": "0.98",
            "evidence": "email domain acme.de = website acme.de",
        },
        {
            "lead_id": "l2",
            "account_id": "",
            "confidence": "0",
            "evidence": "no account has this domain or a name like it (free-mail domain gmail.com ignored)",
        },
    ]


def test_M2_extra_columns_any_order_and_a_bom_are_accepted(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "\ufeffcountry,owner,id,parent_id,website,name\nGermany,ana,acme,,acme.de,Acme GmbH\n", encoding="utf-8"
    )
    leads = tmp_path / "leads.csv"
    leads.write_text("\ufeffscore,country,website,company,email,id\n90,Germany,,ACME,,l1\n", encoding="utf-8")
    rows = list(match_files(accounts, leads))
    assert [(r.lead_id, r.account_id) for r in rows] == [("l1", "acme")]


@pytest.mark.parametrize(
    ("which", "header", "missing"),
    [
        ("leads", "id,email,website,country", "company"),
        ("accounts", "id,name,website,country", "parent_id"),
    ],
)
def test_M2_missing_required_column_is_an_error_naming_it(
    tmp_path: Path, which: str, header: str, missing: str
) -> None:
    files = {
        "accounts": "id,name,website,parent_id,country\nacme,Acme GmbH,acme.de,,Germany\n",
        "leads": "id,email,company,website,country\nl1,jane@acme.de,Acme,,Germany\n",
    }
    files[which] = header + "\n"
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text)
    out = tmp_path / "matches.csv"
    result = runner.invoke(
        app,
        [
            "match",
            "--accounts",
            str(tmp_path / "accounts.csv"),
            "--leads",
            str(tmp_path / "leads.csv"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"missing required column '{missing}'" in result.stderr
    assert not out.exists()  # refused before anything was written
