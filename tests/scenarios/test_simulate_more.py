"""`leadflow simulate` scenarios of our own, one or more per routing requirement (R2-R12, S3, W3, I6, M4), and
its refusals: bad input exits 2 with `{"error", "field"}` on stderr and nothing on stdout.

Worlds are written inline with small builders (`user(...)`, `account(...)`), like the shared scenarios.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from leadflow.cli import app

LEGACY = Path(__file__).resolve().parents[2] / "playbooks" / "gitlab-legacy.yaml"
NOW = "2026-03-03T10:00:00Z"  # a Tuesday
runner = CliRunner()


# --------------------------------------------------------------------------- builders


def user(uid: str, role: str = "BDR", region: str | None = "EMEA", **fields: Any) -> dict[str, Any]:
    return {"id": uid, "name": uid.title(), "email": f"{uid}@leadflow-demo.example", "role": role, "region": region,
            "segment": None, "team": None, "active": True, "out_of_office": False, **fields}


def account(aid: str, employees: int, country: str, owner: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"id": aid, "name": f"{aid.title()} Ltd", "website": f"{aid}.example", "type": "Prospect",
            "industry": None, "parent": None,
            "employees": {"admin_override": None, "datafox": employees, "zoominfo": None, "linkedin": None},
            "address": {"country": country, "state": None}, "owner": owner, "sdr_assigned": None,
            "bdr_assigned": None, "bdr_prospecting_status": None, "named": False, **fields}


def lead(channel: str, email: str, country: str | None, score: int | None = 95, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"channel": channel, "email": email, "first_name": "Sam", "last_name": "Lee",
                              "company": email.split("@")[1].split(".")[0].title(), "title": "Engineer",
                              "phone": None, "website": None, "country": country, "state": None, "industry": None,
                              "employees": None, "developers_bucket": None, "how_many_developers": None,
                              "activities": [{"type": channel, "at": "2026-03-03T09:55:00Z"}], **fields}
    if score is not None:
        values["score"] = score
    return values


EMEA_TEAM = [user("emea-bdr-1"), user("emea-bdr-2"), user("emea-sdr-1", "SDR"), user("sales-admin", "Sales Admin",
                                                                                    "US East")]


def run(world: dict[str, Any], lead_in: Any, *args: str, now: str | None = NOW, tmp: Path) -> Any:
    path = tmp / "world.json"
    path.write_text(json.dumps(world), encoding="utf-8")
    argv = ["simulate", "--world", str(path), *(["--now", now] if now else []), *args]
    text = lead_in if isinstance(lead_in, str) else json.dumps(lead_in)
    return runner.invoke(app, argv, input=text)


def simulate(world: dict[str, Any], lead_in: dict[str, Any], tmp: Path, *args: str, now: str = NOW) -> dict[str, Any]:
    result = run(world, lead_in, *args, now=now, tmp=tmp)
    assert result.exit_code == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def refused(world: dict[str, Any], lead_in: Any, tmp: Path, *args: str, now: str | None = NOW) -> dict[str, Any]:
    result = run(world, lead_in, *args, now=now, tmp=tmp)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    error: dict[str, Any] = json.loads(result.stderr)
    assert set(error) == {"error", "field"} and error["error"]
    return error


def owner(out: dict[str, Any]) -> str:
    return f"{out['owner']['type']}:{out['owner']['id']}"


# --------------------------------------------------------------------------- the contract's own example


def test_R2_the_contracts_example_without_its_open_opportunity(tmp_path: Path) -> None:
    """CONTRACTS §1's example: Actively Working account -> its BDR Assigned, one business day, Large, EMEA.
    (Its world also has an open opportunity on the account, which M4 turns into Recycle - Evaluating; see
    test_M4_an_open_opportunity_recycles_the_lead_instead_of_routing_it.)"""
    world = {"users": [user("ana", segment="SMB")],
             "accounts": [account("acme", 2500, "Germany", owner="sal1", website="https://www.acme.de",
                                  bdr_assigned="bob", bdr_prospecting_status="Actively Working")],
             "leads": [{"id": "l1", "email": "x@acme.de", "first_name": "X", "last_name": "Y", "company": "Acme",
                        "country": "Germany", "status": "MQL", "mql_date": "2026-01-10T00:00:00Z",
                        "owner": {"type": "user", "id": "ana"}}]}
    jane = lead("contact_us", "jane@acme.de", "Germany", company="Acme", title="CTO", phone="+49 30 1234567",
                activities=[{"type": "contact_us", "at": "2026-03-02T14:55:00Z"}])
    out = simulate(world, jane, tmp_path, now="2026-03-02T15:00:00Z")
    assert out["lead"] == {"email": "jane@acme.de", "country": "Germany", "phone": "+49301234567", "domain": "acme.de"}
    assert (out["spam"], out["duplicate_of"]) == (False, None)
    assert out["matched_account"] == {"id": "acme", "confidence": 0.98,
                                      "evidence": "email domain acme.de = website acme.de"}
    assert (out["segment"], out["region"], out["status"]) == ("Large", "EMEA", "MQL")
    assert (out["mql"], out["routed"]) == (True, True)
    assert out["score"] == {"total": 95, "source": "external", "parts": []}
    assert (owner(out), out["rule"], out["notify"]) == ("user:bob", "actively-working-account", ["bob"])
    assert out["trace"][0] == {"rule": "named-account", "matched": False, "why": "account acme is not named"}
    assert out["sla_due"] == "2026-03-03T15:00:00Z"
    assert any("'bob'" in note for note in out["world_notes"])  # named in bdr_assigned, not listed: added


def test_M4_an_open_opportunity_recycles_an_smb_lead_instead_of_routing_it(tmp_path: Path) -> None:
    world = {"users": EMEA_TEAM, "accounts": [account("acme", 40, "Germany", owner="emea-bdr-1")],
             "opportunities": [{"id": "o1", "account": "acme", "type": "New Business", "stage": "1-Discovery",
                                "owner": "emea-bdr-1"}]}
    out = simulate(world, lead("contact_us", "jane@acme.example", "Germany"), tmp_path)
    assert (out["status"], owner(out), out["routed"], out["rule"]) == ("Recycle", "queue:Recycle Queue", False, "m4")


def test_M4_a_large_account_with_an_open_opportunity_is_still_routed(tmp_path: Path) -> None:
    """002 step 3 is "For SMB leads": a Large account's lead goes to its owner (CONTRACTS §1 example)."""
    world = {"users": EMEA_TEAM, "accounts": [account("acme", 2500, "Germany", owner="emea-bdr-1")],
             "opportunities": [{"id": "o1", "account": "acme", "type": "New Business", "stage": "1-Discovery",
                                "owner": "emea-bdr-1"}]}
    out = simulate(world, lead("contact_us", "jane@acme.example", "Germany"), tmp_path)
    assert (out["status"], out["routed"], owner(out)) == ("MQL", True, "user:emea-bdr-1")


def test_M4_an_smb_lead_of_a_customer_is_converted_not_routed(tmp_path: Path) -> None:
    world = {"users": EMEA_TEAM, "accounts": [account("shop", 20, "Germany", owner="emea-bdr-2", type="Customer")]}
    out = simulate(world, lead("contact_us", "jane@shop.example", "Germany"), tmp_path)
    assert (out["routed"], out["rule"]) == (False, "m4")
    assert "converted" in out["trace"][0]["why"]
    assert (owner(out), out["converted_to"]["account"]) == ("user:emea-bdr-2", "shop")  # the account owner's now


# --------------------------------------------------------------------------- R2 - R12


def test_R2_an_unavailable_bdr_assigned_falls_through_to_the_account_owner(tmp_path: Path) -> None:
    world = {"users": [*EMEA_TEAM, user("lena", out_of_office=True), user("sal-1", "SAL")],
             "accounts": [account("lumiere", 3000, "France", owner="sal-1", bdr_assigned="lena",
                                  bdr_prospecting_status="Actively Working")]}
    out = simulate(world, lead("contact_us", "claire@lumiere.example", "France"), tmp_path)
    assert (owner(out), out["rule"]) == ("user:sal-1", "contact-us-large")
    working = next(t for t in out["trace"] if t["rule"] == "actively-working-account")
    assert working["matched"] is False and "lena is not available" in working["why"]


def test_R3_both_leads_go_to_the_owner_of_the_earliest_mql(tmp_path: Path) -> None:
    world = {"users": [*EMEA_TEAM, user("emea-bdr-3")],
             "leads": [{"id": "l-late", "email": "ana@tulip.example", "last_name": "A", "company": "Tulip B.V.",
                        "country": "Netherlands", "status": "MQL", "mql_date": "2026-02-01T00:00:00Z",
                        "owner": {"type": "user", "id": "emea-bdr-3"}},
                       {"id": "l-early", "email": "bo@tulip-mail.example", "last_name": "B", "company": "Tulip",
                        "country": "Netherlands", "status": "MQL", "mql_date": "2026-01-01T00:00:00Z",
                        "owner": {"type": "user", "id": "emea-bdr-1"}}]}
    out = simulate(world, lead("content_download", "cy@tulip.example", "Netherlands"), tmp_path)
    assert (owner(out), out["rule"], out["moved"]) == ("user:emea-bdr-1", "same-company-mql", ["l-late"])


def test_R3_a_colleague_in_accepted_takes_the_new_lead(tmp_path: Path) -> None:
    world = {"users": [*EMEA_TEAM, user("emea-bdr-3")],
             "leads": [{"id": "l-1", "email": "ana@tulip.example", "last_name": "A", "company": "Tulip",
                        "country": "Netherlands", "status": "Accepted", "owner": {"type": "user", "id": "emea-bdr-3"}},
                       {"id": "l-2", "email": "bo@tulip.example", "last_name": "B", "company": "Tulip",
                        "country": "Netherlands", "status": "MQL", "mql_date": "2026-01-01T00:00:00Z",
                        "owner": {"type": "user", "id": "emea-bdr-1"}}]}
    out = simulate(world, lead("content_download", "cy@tulip.example", "Netherlands"), tmp_path)
    assert (owner(out), out["rule"], out["matched_account"]) == ("user:emea-bdr-3", "same-company-working", None)


def test_R4_contact_us_from_mid_market_goes_to_the_account_owner_with_a_one_day_sla(tmp_path: Path) -> None:
    world = {"users": [*EMEA_TEAM, user("ae-1", "AE")], "accounts": [account("midco", 500, "Spain", owner="ae-1")]}
    out = simulate(world, lead("contact_us", "eva@midco.example", "Spain"), tmp_path)
    assert (out["segment"], owner(out), out["rule"]) == ("Mid-Market", "user:ae-1", "contact-us-large")
    assert out["sla_due"] == "2026-03-04T10:00:00Z"  # Tuesday 10:00 London + 1 business day


def test_R4_contact_us_from_government_goes_to_the_public_sector_team(tmp_path: Path) -> None:
    world = {"users": [*EMEA_TEAM, user("ps-1", "SDR", "Public Sector", team="Public Sector")]}
    out = simulate(world, lead("contact_us", "jo@ministry.example", "Germany", industry="Government"), tmp_path)
    assert (out["region"], owner(out), out["rule"]) == ("Public Sector", "user:ps-1", "contact-us-public-sector")


def test_R4_us_public_sector_goes_to_us_public_sector_inside_sales(tmp_path: Path) -> None:
    world = {"users": [user("sales-admin", "Sales Admin", "US East"),
                       user("ps-1", "SDR", "Public Sector", team="Public Sector"),
                       user("usps-1", "BDR", "Public Sector", team="US Public Sector Inside Sales")]}
    out = simulate(world, lead("contact_us", "jo@agency.example", "United States", industry="Federal",
                               state="Virginia"), tmp_path)
    assert (owner(out), out["rule"]) == ("user:usps-1", "us-public-sector")


def test_R5_a_saas_trial_goes_to_the_inbound_bdrs_and_is_active(tmp_path: Path) -> None:
    world = {"users": EMEA_TEAM, "accounts": [account("bigco", 9000, "Italy", owner="emea-sdr-1")]}
    out = simulate(world, lead("trial_saas", "gio@bigco.example", "Italy"), tmp_path)
    assert owner(out) in ("user:emea-bdr-1", "user:emea-bdr-2")
    assert (out["rule"], out["active"], out["sla_due"]) == ("trial", True, None)


def test_R6_professional_services_follow_the_global_owner_and_notify_sal_and_sdr(tmp_path: Path) -> None:
    world = {"users": [*EMEA_TEAM, user("sal-1", "SAL")],
             "accounts": [account("parentco", 5000, "Germany", owner="sal-1"),
                          account("childco", 50, "Austria", owner="emea-bdr-2", parent="parentco",
                                  sdr_assigned="emea-sdr-1")]}
    out = simulate(world, lead("professional_services", "max@childco.example", "Austria"), tmp_path)
    assert (owner(out), out["rule"]) == ("user:sal-1", "professional-services")
    assert out["notify"] == ["sal-1", "emea-sdr-1"]
    assert out["sla_due"] is not None


def test_R6_professional_services_without_an_account_go_to_the_regional_bdrs(tmp_path: Path) -> None:
    out = simulate({"users": EMEA_TEAM}, lead("professional_services", "max@newco.example", "Austria"), tmp_path)
    assert (out["rule"], out["owner"]["id"] in ("emea-bdr-1", "emea-bdr-2")) == ("professional-services", True)


def test_R7_a_university_outside_the_us_goes_to_the_regional_sdr(tmp_path: Path) -> None:
    out = simulate({"users": EMEA_TEAM}, lead("contact_us", "k@tum.edu.example", "Germany",
                                              company="Technische Universität München"), tmp_path)
    assert (owner(out), out["rule"]) == ("user:emea-sdr-1", "university-elsewhere")


def test_R8_a_named_accounts_child_is_owned_by_the_parents_pairing(tmp_path: Path) -> None:
    world = {"users": [*EMEA_TEAM, user("sal-n", "SAL"), user("sdr-n", "SDR")],
             "accounts": [account("group", 800, "Denmark", owner="sal-n", sdr_assigned="sdr-n", named=True),
                          account("subsid", 40, "Sweden", owner="emea-bdr-1", parent="group")]}
    out = simulate(world, lead("webcast_registration", "ola@subsid.example", "Sweden"), tmp_path)
    assert (owner(out), out["rule"], out["notify"]) == ("user:sdr-n", "named-account-child", ["sdr-n", "sal-n"])


def test_R9_a_zero_weight_member_takes_no_turn(tmp_path: Path) -> None:
    world = {"users": [user("emea-bdr-1", rr_weight=0), user("emea-bdr-2"), user("sales-admin", "Sales Admin")]}
    out = simulate(world, lead("contact_us", "a@smallco.example", "Ireland"), tmp_path)
    assert (owner(out), out["rule"]) == ("user:emea-bdr-2", "contact-us-smb")
    assert "emea-bdr-1 (weight 0)" in out["trace"][-1]["why"]


def test_R10_without_a_country_the_added_sales_admin_takes_the_lead(tmp_path: Path) -> None:
    out = simulate({"users": [user("emea-bdr-1")]}, lead("contact_us", "who@somewhere.example", None), tmp_path)
    assert (out["region"], owner(out), out["rule"]) == (None, "user:sales-admin", "not-enough-information")


def test_R11_legacy_playbook_routes_emea_to_the_emea_bdr_team(tmp_path: Path) -> None:
    world = {"users": [user("emea-bdr-1"), user("na-bdr-1", region="NA"), user("sales-admin", "Sales Admin", "NA")]}
    out = simulate(world, lead("other_form", "a@firm.example", "France"), tmp_path, "--playbook", str(LEGACY))
    assert (owner(out), out["rule"]) == ("user:emea-bdr-1", "emea-bdr")
    out = simulate(world, lead("other_form", "b@firm.example", "Brazil"), tmp_path, "--playbook", str(LEGACY))
    assert (owner(out), out["rule"]) == ("user:na-bdr-1", "na-bdr")


def test_R11_legacy_playbook_routes_from_50_points(tmp_path: Path) -> None:
    world = {"users": [user("emea-bdr-1"), user("sales-admin", "Sales Admin", "NA")]}
    out = simulate(world, lead("other_form", "a@firm.example", "France", score=40), tmp_path, "--playbook", str(LEGACY))
    assert (out["routed"], out["rule"]) == (False, "routing-threshold")


def test_R12_educational_interest_from_a_large_account_goes_to_its_outbound_sdr(tmp_path: Path) -> None:
    world = {"users": [*EMEA_TEAM, user("sdr-x", "SDR")],
             "accounts": [account("enterprise", 4000, "Belgium", owner="emea-bdr-1", sdr_assigned="sdr-x")]}
    out = simulate(world, lead("content_download", "lou@enterprise.example", "Belgium"), tmp_path)
    assert (owner(out), out["rule"]) == ("user:sdr-x", "educational-interest-large")


def test_R12_hand_raising_web_chat_goes_to_the_inbound_bdr(tmp_path: Path) -> None:
    world = {"users": EMEA_TEAM, "accounts": [account("enterprise", 4000, "Belgium", owner="emea-sdr-1")]}
    out = simulate(world, lead("web_chat", "lou@enterprise.example", "Belgium"), tmp_path)
    assert (out["rule"], out["owner"]["id"] in ("emea-bdr-1", "emea-bdr-2")) == ("hand-raising", True)


# --------------------------------------------------------------------------- S3, W3, I6, duplicates


@pytest.mark.parametrize(("score", "routed"), [(29, False), (30, True)])
def test_S3_routing_starts_at_the_routing_threshold(tmp_path: Path, score: int, routed: bool) -> None:
    out = simulate({"users": EMEA_TEAM}, lead("content_download", "a@smallco.example", "Ireland", score=score),
                   tmp_path)
    assert out["routed"] is routed
    assert (out["status"], out["mql"]) == ("Inquiry", False)
    if not routed:
        assert owner(out) == "queue:Inquiry Queue" and out["rule"] == "routing-threshold"


def test_S1_without_an_upstream_score_leadflow_computes_it(tmp_path: Path) -> None:
    out = simulate({"users": EMEA_TEAM}, lead("contact_us", "a@smallco.example", "Ireland", score=None), tmp_path)
    assert out["score"]["source"] != "external" and out["score"]["parts"]


def test_W3_a_friday_evening_contact_us_is_due_at_the_close_of_monday(tmp_path: Path) -> None:
    out = simulate({"users": EMEA_TEAM}, lead("contact_us", "a@smallco.example", "Ireland"), tmp_path,
                   now="2026-03-06T19:30:00Z")
    assert out["sla_due"] == "2026-03-09T17:00:00Z"


def test_W3_a_holiday_in_the_leads_country_is_skipped(tmp_path: Path) -> None:
    """1 May 2026 is a Friday and Labour Day in France: a Thursday request is due on Monday."""
    out = simulate({"users": EMEA_TEAM}, lead("contact_us", "a@smallco.example", "France"), tmp_path,
                   now="2026-04-30T12:00:00Z")
    assert out["sla_due"] == "2026-05-04T12:00:00Z"


def test_I6_a_spam_lead_is_flagged_and_never_routed(tmp_path: Path) -> None:
    out = simulate({"users": EMEA_TEAM}, lead("contact_us", "bot@mailinator.com", "Germany"), tmp_path)
    assert (out["spam"], out["routed"], out["rule"], out["notify"]) == (True, False, "spam", [])


def test_M1_a_known_email_updates_the_lead_and_names_it(tmp_path: Path) -> None:
    world = {"users": EMEA_TEAM,
             "leads": [{"id": "known", "email": "a@smallco.example", "last_name": "Lee", "company": "Smallco",
                        "country": "Ireland", "status": "Inquiry"}]}
    out = simulate(world, lead("contact_us", "A@Smallco.example", "Ireland"), tmp_path)
    assert out["duplicate_of"] == {"type": "lead", "id": "known"}
    assert out["subject"] == {"type": "lead", "id": "known"}
    assert out["routed"] and out["rule"] == "contact-us-smb"  # it reached the threshold: routed now (S3)


def test_R1_simulate_never_opens_the_configured_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configured = tmp_path / "configured.db"
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", f"sqlite:///{configured}")
    simulate({"users": EMEA_TEAM}, lead("contact_us", "a@smallco.example", "Ireland"), tmp_path)
    assert not configured.exists()


# --------------------------------------------------------------------------- refusals


def test_R1_simulate_refuses_an_unknown_role(tmp_path: Path) -> None:
    error = refused({"users": [user("x", "Wizard")]}, lead("contact_us", "a@b.example", "Ireland"), tmp_path)
    assert error["field"] == "world.users[0].role" and "Wizard" in error["error"]


def test_R1_simulate_refuses_an_unknown_region(tmp_path: Path) -> None:
    error = refused({"users": [user("x", region="Mars")]}, lead("contact_us", "a@b.example", "Ireland"), tmp_path)
    assert error["field"] == "world.users[0].region" and "Mars" in error["error"]


def test_R1_simulate_refuses_an_unknown_channel(tmp_path: Path) -> None:
    error = refused({"users": EMEA_TEAM}, lead("carrier_pigeon", "a@b.example", "Ireland"), tmp_path)
    assert error["field"] == "channel"


def test_R1_simulate_refuses_a_lead_without_a_channel(tmp_path: Path) -> None:
    bad = lead("contact_us", "a@b.example", "Ireland")
    del bad["channel"]
    assert refused({"users": EMEA_TEAM}, bad, tmp_path)["field"] == "channel"


@pytest.mark.parametrize(("text", "field"), [("{not json", "lead"), ("[1, 2]", "(body)")])
def test_R1_simulate_refuses_a_lead_that_is_not_a_json_object(tmp_path: Path, text: str, field: str) -> None:
    assert refused({"users": EMEA_TEAM}, text, tmp_path)["field"] == field


def test_R1_simulate_refuses_a_world_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{users: [", encoding="utf-8")
    result = runner.invoke(app, ["simulate", "--world", str(path), "--now", NOW], input="{}")
    assert result.exit_code == 2 and json.loads(result.stderr)["field"] == "world"


@pytest.mark.parametrize(("now", "words"), [(None, "required"), ("2026-03-03T10:00:00", "time zone"),
                                            ("yesterday", "not an ISO")])
def test_R1_simulate_refuses_a_missing_or_naive_now(tmp_path: Path, now: str | None, words: str) -> None:
    error = refused({"users": EMEA_TEAM}, lead("contact_us", "a@b.example", "Ireland"), tmp_path, now=now)
    assert error["field"] == "now" and words in error["error"]


def test_R1_simulate_refuses_a_naive_activity_time(tmp_path: Path) -> None:
    bad = lead("contact_us", "a@b.example", "Ireland", activities=[{"type": "contact_us", "at": "2026-03-03T09:55"}])
    assert refused({"users": EMEA_TEAM}, bad, tmp_path)["field"] == "activities.0.at"


def test_R1_simulate_refuses_a_naive_mql_date_in_the_world(tmp_path: Path) -> None:
    world = {"users": EMEA_TEAM, "leads": [{"id": "l1", "email": "a@c.example", "status": "MQL",
                                            "mql_date": "2026-01-10T00:00:00"}]}
    assert refused(world, lead("contact_us", "a@b.example", "Ireland"), tmp_path)["field"] == "world.leads[0].mql_date"


def test_R1_simulate_refuses_broken_references(tmp_path: Path) -> None:
    orphan = {"users": EMEA_TEAM, "accounts": [account("kid", 10, "Ireland", parent="ghost")]}
    error = refused(orphan, lead("contact_us", "a@b.example", "Ireland"), tmp_path)
    assert error["field"] == "world.accounts[0].parent"
    cycle = {"users": EMEA_TEAM, "accounts": [account("a", 10, "Ireland", parent="b"),
                                              account("b", 10, "Ireland", parent="a")]}
    assert refused(cycle, lead("contact_us", "a@b.example", "Ireland"), tmp_path)["field"].endswith(".parent")
    queue = {"users": EMEA_TEAM, "leads": [{"id": "l1", "email": "a@c.example", "status": "Inquiry",
                                            "owner": {"type": "queue", "id": "Nowhere Queue"}}]}
    assert refused(queue, lead("contact_us", "a@b.example", "Ireland"), tmp_path)["field"] == "world.leads[0].owner.id"
    status = {"users": EMEA_TEAM, "leads": [{"id": "l1", "email": "a@c.example", "status": "Sleeping"}]}
    assert refused(status, lead("contact_us", "a@b.example", "Ireland"), tmp_path)["field"] == "world.leads[0].status"


def test_R1_simulate_refuses_a_user_listed_twice_with_different_values(tmp_path: Path) -> None:
    twice = {"users": [user("x"), user("x", region="APAC")]}
    assert refused(twice, lead("contact_us", "a@b.example", "Ireland"), tmp_path)["field"] == "world.users[1].id"
    same = {"users": [user("x"), user("x")]}  # an identical repeat (as in some shared scenarios) is fine
    assert simulate(same, lead("contact_us", "a@b.example", "Ireland"), tmp_path)["routed"]


def test_R1_simulate_refuses_a_broken_playbook(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\n", encoding="utf-8")
    error = refused({"users": EMEA_TEAM}, lead("contact_us", "a@b.example", "Ireland"), tmp_path,
                    "--playbook", str(broken))
    assert error["field"] == "playbook"


def test_I1_a_channel_that_makes_no_lead_routes_nothing(tmp_path: Path) -> None:
    out = simulate({"users": EMEA_TEAM}, lead("press_email", "editor@paper.example", "Germany"), tmp_path)
    assert (out["outcome"], out["owner"], out["routed"], out["rule"]) == ("forwarded", None, False, "intake:forwarded")
