"""`leadflow simulate` (CONTRACTS §1) on every shared routing scenario: each file's `expect` keys hold.

Each scenario runs through the CLI command itself (WORLD.json as a file, LEAD.json on stdin, `--now` from
the file), so this is the path ops scripts take. Every output also keeps the contract's shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from builders import SHARED
from leadflow.cli import app

SCENARIOS = SHARED / "scenarios"
FILES = sorted(SCENARIOS.glob("*.json")) if SCENARIOS.is_dir() else []

pytestmark = pytest.mark.skipif(not FILES, reason=f"shared routing scenarios not found at {SCENARIOS}")

runner = CliRunner()

CONTRACT_FIELDS = {"lead", "spam", "duplicate_of", "matched_account", "segment", "region", "score", "status", "mql",
                   "active", "routed", "owner", "rule", "trace", "notify", "sla_due"}
SEGMENTS = {"Strategic", "Large", "Mid-Market", "SMB", "Unknown"}
QUEUES = {"Raw Queue", "Inquiry Queue", "Disqualified Queue", "Recycle Queue", "Ineligible Queue",
          "Inactive User Queue", "SDR Queue"}


def simulate(tmp_path: Path, world: dict[str, Any], lead: dict[str, Any], now: str) -> dict[str, Any]:
    path = tmp_path / "world.json"
    path.write_text(json.dumps(world), encoding="utf-8")
    result = runner.invoke(app, ["simulate", "--world", str(path), "--now", now], input=json.dumps(lead))
    assert result.exit_code == 0, result.stderr or result.output
    assert result.stderr == ""
    out: dict[str, Any] = json.loads(result.stdout)  # one JSON object, nothing else on stdout
    return out


def check_contract_shape(out: dict[str, Any]) -> None:
    assert out.keys() >= CONTRACT_FIELDS
    assert set(out["lead"]) >= {"email", "country", "phone", "domain"}
    assert out["segment"] in SEGMENTS
    assert isinstance(out["spam"], bool) and isinstance(out["mql"], bool) and isinstance(out["active"], bool)
    assert isinstance(out["routed"], bool)
    assert out["owner"]["type"] in ("user", "queue")
    if out["owner"]["type"] == "queue":
        assert out["owner"]["id"] in QUEUES
    assert out["duplicate_of"] is None or out["duplicate_of"]["type"] in ("lead", "contact")
    if out["matched_account"] is not None:
        assert set(out["matched_account"]) >= {"id", "confidence", "evidence"}
        assert 0 <= out["matched_account"]["confidence"] <= 1
    assert set(out["score"]) >= {"total", "source", "parts"}
    assert isinstance(out["rule"], str) and out["rule"]
    assert out["trace"] and all(set(t) == {"rule", "matched", "why"} and t["why"] for t in out["trace"])
    assert out["trace"][-1]["matched"] is True
    assert all(isinstance(n, str) for n in out["notify"])
    assert out["sla_due"] is None or (out["sla_due"].endswith("Z") and "T" in out["sla_due"])


def check_expect(out: dict[str, Any], expect: dict[str, Any]) -> None:
    checks = {
        "owner": lambda want: out["owner"] == want,
        "owner_in": lambda want: out["owner"] in want,
        "owner_not_in": lambda want: out["owner"] not in want,
        "segment": lambda want: out["segment"] == want,
        "region": lambda want: out["region"] == want,
        "matched_account_id": lambda want: (out["matched_account"] or {}).get("id") == want,
        "has_sla": lambda want: (out["sla_due"] is not None) == want,
        "mql": lambda want: out["mql"] == want,
        "status": lambda want: out["status"] == want,
        "routed": lambda want: out["routed"] == want,
        "spam": lambda want: out["spam"] == want,
        "active": lambda want: out["active"] == want,
    }
    unknown = set(expect) - checks.keys()
    assert not unknown, f"scenario expects keys this test does not know: {sorted(unknown)}"
    failed = {key: (want, out) for key, want in expect.items() if not checks[key](want)}
    assert not failed, "\n".join(f"{key}: wanted {want!r}" for key, (want, _) in failed.items()) + (
        f"\noutput: owner={out['owner']} rule={out['rule']} segment={out['segment']} region={out['region']}\n"
        + "\n".join(f"  {t['rule']}: {t['matched']} - {t['why']}" for t in out["trace"])
    )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_R1_shared_scenario_holds_through_leadflow_simulate(tmp_path: Path, path: Path) -> None:
    """Every shared scenario (R1-R12, S3, S4, S7, I5, I6, L2, W3) through the CLI, checking each `expect` key."""
    scenario = json.loads(path.read_text(encoding="utf-8"))
    out = simulate(tmp_path, scenario["world"], scenario["lead"], scenario["now"])
    check_contract_shape(out)
    check_expect(out, scenario["expect"])


def test_R1_every_shared_scenario_states_what_it_expects() -> None:
    for path in FILES:
        scenario = json.loads(path.read_text(encoding="utf-8"))
        assert {"world", "lead", "now", "expect"} <= scenario.keys(), path.name
        assert scenario["expect"], path.name
