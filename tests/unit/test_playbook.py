"""The playbook as data: the default (000-003) and legacy (004) playbooks, and the checker.

Each checker test breaks one thing in a copy of default.yaml and expects `parse_playbook` to
name it: the YAML path (with its line) and a reason that says what is wrong.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pycountry
import pytest
import yaml
from typer.testing import CliRunner

from leadflow.cli import app
from leadflow.domain.lifecycle import bad_data_plan, map_legacy_status, offboarding_rule
from leadflow.errors import PlaybookError
from leadflow.playbook.countries import resolve_country, resolve_subdivision
from leadflow.playbook.load import (
    cached_playbook,
    default_playbook_path,
    load_playbook,
    parse_playbook,
)
from leadflow.playbook.schema import Playbook

LEGACY_PATH = Path(__file__).parents[2] / "playbooks" / "gitlab-legacy.yaml"
DEFAULT_TEXT = default_playbook_path().read_text(encoding="utf-8")
BASE: dict[str, Any] = yaml.safe_load(DEFAULT_TEXT)

Issue = tuple[str, str]
Mutation = Callable[[dict[str, Any]], object]

# The simulate contract fixes these 21 channel names (I1).
CONTRACT_CHANNELS = [
    "pricing_purchase", "trial_self_managed", "trial_saas", "contact_us",
    "professional_services", "development_help", "training", "consultancy",
    "community_email", "sales_email", "press_email", "newsletter", "security_notice",
    "ce_download", "webcast_registration", "webcast_attended", "gitlab_com_signup",
    "event_scan", "content_download", "web_chat", "other_form",
]
LEGACY_STATUSES = [
    "Raw", "Open", "Attempt 1", "Attempt 2", "Attempt 3", "Attempt 4", "Progressing",
    "Qualified", "Unqualified", "Bad Data", "Nurture",
]


@pytest.fixture(scope="module")
def default() -> Playbook:
    return load_playbook(None)


@pytest.fixture(scope="module")
def legacy() -> Playbook:
    return load_playbook(LEGACY_PATH)


# --------------------------------------------------------------------------- helpers


def issues_of_text(text: str) -> list[Issue]:
    """The issues `parse_playbook` raises for `text`; fails the test when it accepts it."""
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text, "broken.yaml")
    assert caught.value.issues, "PlaybookError without issues"
    return caught.value.issues


def broken(mutate: Mutation) -> str:
    """default.yaml, loaded, changed by `mutate` and dumped back to YAML text."""
    data = copy.deepcopy(BASE)
    mutate(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def issues_of(mutate: Mutation) -> list[Issue]:
    return issues_of_text(broken(mutate))


def find(issues: list[Issue], path_prefix: str, *words: str) -> Issue:
    """The issue whose path starts with `path_prefix` and whose reason has every word."""
    for path, reason in issues:
        if path.startswith(path_prefix) and all(w in reason for w in words):
            return path, reason
    raise AssertionError(f"no issue at {path_prefix!r} with {words!r} in {issues!r}")


def line_of(path: str) -> int:
    found = re.search(r"\(line (\d+)\)$", path)
    assert found, f"no line number in {path!r}"
    return int(found.group(1))


def index_of(items: list[dict[str, Any]], name: str, key: str = "name") -> int:
    return next(i for i, item in enumerate(items) if item[key] == name)


def region_map(pb: Playbook) -> dict[str, list[str]]:
    """ISO code (country "DE" or subdivision "US-CA") -> the non-legacy regions holding it."""
    out: dict[str, list[str]] = {}
    aliases = pb.countries.aliases
    for region in pb.regions:
        if region.legacy:
            continue
        for text in region.countries:
            country = resolve_country(text, aliases)
            assert country is not None, text
            out.setdefault(country.alpha_2, []).append(region.name)
        for text, subs in region.subdivisions.items():
            country = resolve_country(text, aliases)
            assert country is not None, text
            for sub in subs:
                code = resolve_subdivision(country, sub)
                assert code is not None, sub
                out.setdefault(code, []).append(region.name)
    return out


def region_of(pb: Playbook, country_text: str, subdivision: str | None = None) -> str:
    regions = region_map(pb)
    country = resolve_country(country_text, pb.countries.aliases)
    assert country is not None, country_text
    if subdivision is not None:
        code = resolve_subdivision(country, subdivision)
        assert code is not None, subdivision
        if code in regions:
            return regions[code][0]
    return regions[country.alpha_2][0]


# --------------------------------------------------------------------------- L1 statuses


def test_L1_default_playbook_has_the_nine_statuses_with_raw_as_default(default: Playbook) -> None:
    assert default.status_names() == [
        "Raw", "Inquiry", "MQL", "Accepted", "Qualifying", "Qualified",
        "Disqualified", "Recycle", "Ineligible",
    ]
    assert default.default_status.name == "Raw"
    assert [s.name for s in default.statuses if s.default] == ["Raw"]


def test_L1_status_lookup_is_case_insensitive(default: Playbook) -> None:
    found = default.status("  recycle ")
    assert found is not None and found.name == "Recycle"
    assert default.status("Nurture") is None


def test_L1_two_default_statuses_are_refused() -> None:
    issues = issues_of(lambda d: d["statuses"][1].update(default=True))
    path, reason = find(issues, "statuses", "exactly one status must be default")
    assert "found 2" in reason
    assert path.startswith("statuses (line ")


def test_L1_no_default_status_is_refused() -> None:
    issues = issues_of(lambda d: d["statuses"][0].update(default=False))
    find(issues, "statuses", "exactly one status must be default", "found 0")


def test_L1_a_status_listed_twice_is_refused() -> None:
    issues = issues_of(lambda d: d["statuses"].append({"name": "Recycle"}))
    path, _ = find(issues, "statuses[9]", "duplicate status 'Recycle'")
    assert "(line " in path


def test_L1_a_status_listed_twice_in_other_case_is_refused() -> None:
    issues = issues_of(lambda d: d["statuses"].append({"name": "mql"}))
    find(issues, "statuses[9]", "duplicate status 'mql'")


# --------------------------------------------------------------------------- L2 queues


def test_L2_holding_statuses_are_owned_by_their_queues(default: Playbook) -> None:
    queues = {s.name: s.queue for s in default.statuses}
    assert queues == {
        "Raw": "Raw Queue", "Inquiry": "Inquiry Queue", "MQL": None, "Accepted": None,
        "Qualifying": None, "Qualified": None, "Disqualified": "Disqualified Queue",
        "Recycle": "Recycle Queue", "Ineligible": "Ineligible Queue",
    }
    assert set(default.queue_names()) >= {
        "Raw Queue", "Inquiry Queue", "Disqualified Queue", "Recycle Queue",
        "Ineligible Queue", "Inactive User Queue", "SDR Queue",
    }
    inquiry = default.status("Inquiry")
    assert inquiry is not None and inquiry.hand_to_queue == "unless_in_active_sequence"


def test_L2_a_status_whose_queue_does_not_exist_is_refused_with_its_path() -> None:
    i = index_of(BASE["statuses"], "Recycle")
    issues = issues_of(lambda d: d["statuses"][i].update(queue="Recycling Queue"))
    path, reason = find(issues, f"statuses[{i}].queue", "unknown queue 'Recycling Queue'")
    assert "(line " in path
    assert "Recycle Queue" in reason  # the known queues are listed


def test_L2_a_queue_listed_twice_is_refused() -> None:
    issues = issues_of(lambda d: d["queues"].append({"name": "SDR Queue"}))
    find(issues, f"queues[{len(BASE['queues'])}]", "duplicate queue 'SDR Queue'")


def test_L2_an_unknown_hand_to_queue_mode_is_refused() -> None:
    issues = issues_of(lambda d: d["statuses"][1].update(hand_to_queue="sometimes"))
    find(issues, "statuses[1].hand_to_queue", "always", "never")


# --------------------------------------------------------------------------- L3 reasons


def test_L3_reason_lists_are_exactly_those_of_seed_000(default: Playbook) -> None:
    disqualified = default.reason_names("Disqualified")
    ineligible = default.reason_names("Ineligible")
    recycle = default.reason_names("Recycle")
    assert (len(disqualified), len(ineligible), len(recycle)) == (10, 9, 12)
    assert disqualified[0] == "Competitor" and disqualified[-1] == "Bad Data"
    assert {"Consultant", "No Authority", "Interested in GitLab.com only"} <= set(disqualified)
    assert ineligible[0] == "JIHU" and ineligible[-1] == "Customer Success"
    assert "GitLab Employee or Candidate" in ineligible
    assert recycle[0] == "Doesn't see value"
    assert recycle[-1] == "Denied from Startups Program - Sales Dev to re-engage"
    assert "No response" in recycle
    assert default.reason_names("MQL") == []


def test_L3_the_seed_spellings_are_kept_as_aliases(default: Playbook) -> None:
    disqualified = default.status("Disqualified")
    assert disqualified is not None
    aliases = {r.name: r.aliases for r in disqualified.reasons}
    assert aliases["Competitor"] == ["Competitior"]
    assert aliases["Interested in GitLab.com only"] == ["Interested in Gitlab.com only"]


def test_L3_a_reason_is_required_exactly_for_disqualified_recycle_and_ineligible(
    default: Playbook,
) -> None:
    needing = {s.name for s in default.statuses if s.needs_reason}
    assert needing == {"Disqualified", "Recycle", "Ineligible"}


def test_L3_reason_required_without_a_reason_list_is_refused() -> None:
    i = index_of(BASE["statuses"], "Accepted")
    issues = issues_of(lambda d: d["statuses"][i].update(reason_required=True))
    find(issues, f"statuses[{i}].reasons", "reason_required but no reasons listed")


def test_L3_a_reason_listed_twice_is_refused() -> None:
    i = index_of(BASE["statuses"], "Ineligible")
    issues = issues_of(lambda d: d["statuses"][i]["reasons"].append("Student"))
    find(issues, f"statuses[{i}].reasons[9]", "duplicate reason 'Student'")


# --------------------------------------------------------------------------- L4 bad data


def test_L4_bad_data_needs_a_bad_phone_and_a_bad_email(default: Playbook) -> None:
    assert default.bad_data is not None
    assert default.bad_data.reasons == ["Bad phone number", "Bounced email", "Invalid email", "Spam"]
    (rule,) = default.bad_data.rules
    assert rule.when_each_group_present == [["Bad phone number"], ["Bounced email", "Invalid email"]]
    assert (rule.set_status, rule.reason) == ("Disqualified", "Bad Data")
    plan = bad_data_plan(default, current="MQL", bad_data_reasons=["Invalid email", "Bad phone number"])
    assert plan is not None and (plan.to_status, plan.reason) == ("Disqualified", "Bad Data")
    assert bad_data_plan(default, current="MQL", bad_data_reasons=["Bounced email"]) is None


def test_L4_a_bad_data_rule_naming_an_unknown_reason_is_refused() -> None:
    issues = issues_of(
        lambda d: d["bad_data"]["rules"][0]["when_each_group_present"][1].append("Bad fax")
    )
    path, _ = find(
        issues, "bad_data.rules[0].when_each_group_present[1][2]", "unknown bad-data reason 'Bad fax'"
    )
    assert "(line " in path


def test_L4_a_bad_data_rule_giving_a_reason_its_status_lacks_is_refused() -> None:
    issues = issues_of(lambda d: d["bad_data"]["rules"][0].update(reason="Spam"))
    find(issues, "bad_data.rules[0].reason", "unknown reason 'Spam' for status Disqualified")


def test_L4_a_bad_data_rule_to_an_unknown_status_is_refused() -> None:
    issues = issues_of(lambda d: d["bad_data"]["rules"][0].update(set_status="Bad Data"))
    find(issues, "bad_data.rules[0].set_status", "unknown status 'Bad Data'")


def test_L4_a_bad_data_rule_with_an_invalid_id_is_refused() -> None:
    issues = issues_of(lambda d: d["bad_data"]["rules"][0].update(id="Bad Data Rule"))
    find(issues, "bad_data.rules[0].id", "pattern")


# --------------------------------------------------------------------------- L5 transitions


def test_L5_default_transitions_follow_the_funnel(default: Playbook) -> None:
    assert default.allowed_targets("Raw") == ["Inquiry", "MQL", "Accepted", "Disqualified", "Ineligible"]
    reaching_qualifying = [t for t in default.transitions if "Qualifying" in t.to]
    assert sorted(s for t in reaching_qualifying for s in t.from_) == ["Accepted", "MQL"]
    reaching_qualified = [s for t in default.transitions if "Qualified" in t.to for s in t.from_]
    assert reaching_qualified == ["Qualifying"]
    assert default.allowed_targets("Ineligible") == ["Inquiry"]
    for status in default.status_names():
        assert default.allowed_targets(status), f"{status} has no way out"


def test_L5_transition_to_unknown_status_is_refused_with_its_path() -> None:
    issues = issues_of(lambda d: d["transitions"][0]["to"].append("Nowhere"))
    path, reason = find(issues, "transitions[0].to[5]", "unknown status 'Nowhere'")
    assert "(line " in path
    assert "Recycle" in reason  # the known statuses are listed


def test_L5_transition_from_unknown_status_is_refused_with_its_path() -> None:
    issues = issues_of(lambda d: d["transitions"][2]["from"].append("Lost"))
    find(issues, "transitions[2].from[1]", "unknown status 'Lost'")


def test_L5_a_transition_with_no_target_is_refused() -> None:
    issues = issues_of(lambda d: d["transitions"][0].update(to=[]))
    find(issues, "transitions[0].to", "at least 1")


def test_L5_legacy_progressing_leaves_only_for_qualified_unqualified_or_nurture(
    legacy: Playbook,
) -> None:
    assert legacy.allowed_targets("Progressing") == ["Qualified", "Unqualified", "Nurture"]
    assert legacy.allowed_targets("Raw")[0] == "Open"
    assert "Attempt 1" in legacy.allowed_targets("Open")
    assert "Open" in legacy.allowed_targets("Nurture")


# --------------------------------------------------------------------------- L6 classifications


def test_L6_the_six_classifications(default: Playbook) -> None:
    assert [c.field for c in default.classifications] == [
        "Unknown", "User", "Prospect Hierarchy", "Customer Hierarchy Account",
        "Former Customer Account", "Partner Managed",
    ]
    assert len({c.key for c in default.classifications}) == 6


def test_L6_a_classification_with_an_unknown_account_type_is_refused() -> None:
    issues = issues_of(lambda d: d["classifications"][2].update(account_types=["Client"]))
    find(issues, "classifications[2].account_types[0]", "unknown account type 'Client'")


def test_L6_an_unknown_classification_mechanism_is_refused() -> None:
    issues = issues_of(lambda d: d["classifications"][0].update(mechanism="guess"))
    find(issues, "classifications[0].mechanism", "product_user")


# --------------------------------------------------------------------------- L7 offboarding


def test_L7_offboarding_table_is_that_of_seed_000(default: Playbook) -> None:
    assert default.offboarding is not None
    assert default.offboarding.mql_cutoff == dt.date(2023, 2, 1)
    by_status = {}
    for status in ["Raw", "Inquiry", "Recycle", "Disqualified", "Ineligible"]:
        rule = offboarding_rule(default, status=status, mql_date=None)
        by_status[status] = [step.queue for step in rule.owner]
        assert rule.set_status is None
    assert by_status == {s: [f"{s} Queue"] for s in by_status}
    for status in ["Qualifying", "Qualified"]:
        rule = offboarding_rule(default, status=status, mql_date=None)
        assert [step.queue for step in rule.owner] == ["Inactive User Queue"]
    accepted = offboarding_rule(default, status="Accepted", mql_date=None)
    assert (accepted.set_status, accepted.reason) == ("Recycle", "No response")
    old = offboarding_rule(default, status="MQL", mql_date=dt.datetime(2023, 1, 31, 23, 0))
    assert (old.set_status, old.reason) == ("Recycle", "No response")
    new = offboarding_rule(default, status="MQL", mql_date=dt.datetime(2023, 2, 1, 0, 0))
    assert new.set_status is None
    assert new.owner[0].account_field == "bdr_assigned"
    assert new.owner[0].when_account == {"bdr_prospecting_status": "Actively Working"}
    assert (new.owner[1].round_robin, new.owner[1].by) == ("inbound-bdr", "region")


def test_L7_an_offboarding_rule_with_an_unknown_reason_is_refused() -> None:
    i = index_of(BASE["offboarding"]["rules"], "offboard-accepted", key="id")
    issues = issues_of(lambda d: d["offboarding"]["rules"][i].update(reason="Left"))
    path, _ = find(issues, f"offboarding.rules[{i}].reason", "unknown reason 'Left' for status Recycle")
    assert "(line " in path


def test_L7_an_offboarding_rule_without_the_reason_its_status_needs_is_refused() -> None:
    i = index_of(BASE["offboarding"]["rules"], "offboard-accepted", key="id")
    issues = issues_of(lambda d: d["offboarding"]["rules"][i].pop("reason"))
    find(issues, f"offboarding.rules[{i}].reason", "status Recycle needs a reason")


def test_L7_offboarding_must_cover_every_status() -> None:
    i = index_of(BASE["offboarding"]["rules"], "offboard-inquiry", key="id")
    issues = issues_of(lambda d: d["offboarding"]["rules"].pop(i))
    find(issues, "offboarding.rules", "no rule for status 'Inquiry'")


def test_L7_an_offboarding_rule_to_an_unknown_queue_is_refused() -> None:
    issues = issues_of(lambda d: d["offboarding"]["rules"][0].update(owner=[{"queue": "Raw"}]))
    find(issues, "offboarding.rules[0].owner[0].queue", "unknown queue 'Raw'")


def test_L7_an_offboarding_owner_step_must_give_exactly_one_kind() -> None:
    step = {"queue": "Raw Queue", "round_robin": "inbound-bdr"}
    issues = issues_of(lambda d: d["offboarding"]["rules"][0].update(owner=[step]))
    find(issues, "offboarding.rules[0].owner[0]", "exactly one of queue, account_field, round_robin")


def test_L7_an_offboarding_cutoff_that_is_not_a_date_is_refused() -> None:
    issues = issues_of(lambda d: d["offboarding"].update(mql_cutoff="soon"))
    find(issues, "offboarding.mql_cutoff", "date")


# --------------------------------------------------------------------------- L8 legacy statuses


def test_L8_legacy_statuses_of_001_and_004_map_onto_the_nine(default: Playbook) -> None:
    assert set(default.legacy_statuses) == {
        "Open", "Attempt 1", "Attempt 2", "Attempt 3", "Attempt 4", "Progressing",
        "Unqualified", "Nurture", "Bad Data", "Web Portal Purchase",
    }
    assert map_legacy_status(default, "open") == ("Inquiry", None)
    assert map_legacy_status(default, "Attempt 3") == ("Accepted", None)
    assert map_legacy_status(default, "Progressing") == ("Qualifying", None)
    assert map_legacy_status(default, "Nurture") == ("Recycle", "No response")
    assert map_legacy_status(default, "Bad Data") == ("Disqualified", "Bad Data")
    assert map_legacy_status(default, "Web Portal Purchase") == ("Qualified", None)
    assert map_legacy_status(default, "MQL") == ("MQL", None)


def test_L8_a_legacy_map_to_an_unknown_status_is_refused() -> None:
    issues = issues_of(lambda d: d["legacy_statuses"]["Progressing"].update(status="Progressing"))
    path, _ = find(issues, "legacy_statuses.Progressing.status", "unknown status 'Progressing'")
    assert "(line " in path


def test_L8_a_legacy_map_without_the_reason_its_status_needs_is_refused() -> None:
    issues = issues_of(lambda d: d["legacy_statuses"]["Unqualified"].pop("reason"))
    find(issues, "legacy_statuses.Unqualified.reason", "status Disqualified needs a reason")


def test_L8_a_legacy_map_with_an_unknown_reason_is_refused() -> None:
    issues = issues_of(lambda d: d["legacy_statuses"]["Nurture"].update(reason="Later"))
    find(issues, "legacy_statuses.Nurture.reason", "unknown reason 'Later' for status Recycle")


def test_L8_the_legacy_playbook_has_the_004_statuses_policy_is_data(legacy: Playbook) -> None:
    assert legacy.status_names() == LEGACY_STATUSES
    assert legacy.default_status.name == "Raw"
    for name in ["Inquiry", "MQL", "Accepted", "Qualifying", "Disqualified", "Recycle", "Ineligible"]:
        assert legacy.status(name) is None
    attempt = legacy.status("Attempt 2")
    assert attempt is not None
    assert attempt.definition.startswith("Two messages sent without response")
    assert not any(s.needs_reason for s in legacy.statuses)


def test_L8_the_legacy_playbook_maps_newer_statuses_onto_004(legacy: Playbook) -> None:
    assert map_legacy_status(legacy, "Qualifying") == ("Progressing", None)
    assert map_legacy_status(legacy, "Recycle") == ("Nurture", None)
    assert map_legacy_status(legacy, "Accepted") == ("Attempt 1", None)
    assert map_legacy_status(legacy, "Nurture") == ("Nurture", None)


def test_L8_the_legacy_playbook_has_holding_queues_and_covers_offboarding(legacy: Playbook) -> None:
    queues = {s.name: s.queue for s in legacy.statuses if s.queue}
    assert queues == {
        "Raw": "Raw Queue", "Unqualified": "Unqualified Queue",
        "Bad Data": "Bad Data Queue", "Nurture": "Nurture Queue",
    }
    assert {"SDR Queue", "Inactive User Queue"} <= set(legacy.queue_names())
    assert legacy.offboarding is not None
    covered = {s for rule in legacy.offboarding.rules for s in rule.statuses}
    assert covered == set(LEGACY_STATUSES)
    attempt = offboarding_rule(legacy, status="Attempt 4", mql_date=None)
    assert attempt.set_status == "Nurture"


def test_L8_the_legacy_bad_data_status_needs_no_communication_channel(legacy: Playbook) -> None:
    both = bad_data_plan(legacy, current="Attempt 2", bad_data_reasons=["Bounced email", "Bad phone number"])
    assert both is not None and both.to_status == "Bad Data"
    spam = bad_data_plan(legacy, current="Open", bad_data_reasons=["Spam", "Bad phone number"])
    assert spam is None  # "Spam Spamson" with a valid email is not Bad Data (004)
    email_only = bad_data_plan(legacy, current="Open", bad_data_reasons=["Invalid email"])
    assert email_only is None


# --------------------------------------------------------------------------- W7 legacy cadence


def test_W7_legacy_attempts_chain_and_every_attempt_may_go_to_nurture(legacy: Playbook) -> None:
    for n in range(1, 4):
        assert f"Attempt {n + 1}" in legacy.allowed_targets(f"Attempt {n}")
    for n in range(1, 5):
        assert "Nurture" in legacy.allowed_targets(f"Attempt {n}")
        status = legacy.status(f"Attempt {n}")
        assert status is not None and "after 21 days, auto-updates to Nurture" in status.definition
    assert not any(s.startswith("Attempt") for s in legacy.allowed_targets("Attempt 4"))


# --------------------------------------------------------------------------- S2 / S3 scoring


def test_S2_S3_default_mql_at_90_and_routing_at_30(default: Playbook) -> None:
    scoring = default.scoring
    assert (scoring.mql_threshold, scoring.routing_threshold) == (90, 30)
    assert scoring.mql_status == "MQL"
    assert scoring.mql_from_statuses == ["Raw", "Inquiry"]


def test_S2_S3_legacy_mql_at_20_and_routing_at_50_without_an_mql_status(legacy: Playbook) -> None:
    scoring = legacy.scoring
    assert (scoring.mql_threshold, scoring.routing_threshold) == (20, 50)
    assert scoring.mql_status is None
    assert set(scoring.mql_from_statuses) <= set(legacy.status_names())


def test_S2_S3_cached_legacy_playbook_is_the_legacy_policy() -> None:
    pb = cached_playbook(LEGACY_PATH)
    assert pb is cached_playbook(str(LEGACY_PATH))
    assert (pb.scoring.mql_threshold, pb.scoring.routing_threshold) == (20, 50)
    assert pb.segmentation.scheme == "potential_users"
    assert pb.status_names() == LEGACY_STATUSES
    assert cached_playbook(None).scoring.mql_threshold == 90


def test_S2_a_threshold_of_the_wrong_type_is_refused() -> None:
    issues = issues_of(lambda d: d["scoring"].update(mql_threshold="ninety"))
    path, reason = find(issues, "scoring.mql_threshold", "valid integer")
    assert "(line " in path


def test_S2_a_negative_threshold_is_refused() -> None:
    issues = issues_of(lambda d: d["scoring"].update(routing_threshold=-1))
    find(issues, "scoring.routing_threshold", "greater than or equal to 0")


def test_S2_an_unknown_mql_status_is_refused() -> None:
    issues = issues_of(lambda d: d["scoring"].update(mql_status="Marketing Qualified"))
    find(issues, "scoring.mql_status", "unknown status 'Marketing Qualified'")


def test_S2_an_unknown_mql_from_status_is_refused() -> None:
    issues = issues_of(lambda d: d["scoring"].update(mql_from_statuses=["Raw", "Open"]))
    find(issues, "scoring.mql_from_statuses[1]", "unknown status 'Open'")


# --------------------------------------------------------------------------- S4 segments


def test_S4_both_segment_schemes_with_the_exact_bands(default: Playbook) -> None:
    seg = default.segmentation
    assert seg.scheme == "employees" and seg.unknown == "Unknown"
    bands = {
        name: [(b.name, b.min, b.max) for b in scheme.bands] for name, scheme in seg.schemes.items()
    }
    assert bands == {
        "employees": [("Large", 2000, None), ("Mid-Market", 100, 1999), ("SMB", 0, 99)],
        "potential_users": [
            ("Strategic", 5000, None), ("Large", 751, 4999),
            ("Mid-Market", 101, 750), ("SMB", 1, 100),
        ],
    }
    assert seg.schemes["employees"].measure == "total_employees"
    assert seg.schemes["potential_users"].measure == "potential_users"
    assert seg.names() == ["Strategic", "Large", "Mid-Market", "SMB", "Unknown"]
    large = seg.active.bands[0]
    assert large.contains(2000) and not large.contains(1999)


def test_S4_the_legacy_playbook_segments_by_potential_users(legacy: Playbook) -> None:
    seg = legacy.segmentation
    assert seg.scheme == "potential_users"
    assert seg.active.measure == "potential_users"
    assert [(b.name, b.min, b.max) for b in seg.active.bands] == [
        ("Strategic", 5000, None), ("Large", 751, 4999), ("Mid-Market", 101, 750), ("SMB", 1, 100),
    ]


def test_S4_overlapping_segment_bands_are_refused() -> None:
    issues = issues_of(
        lambda d: d["segmentation"]["schemes"]["employees"]["bands"][1].update(max=2000)
    )
    path, _ = find(issues, "segmentation.schemes.employees", "bands Mid-Market and Large overlap")
    assert "(line " in path


def test_S4_an_open_ended_band_below_another_is_refused() -> None:
    issues = issues_of(
        lambda d: d["segmentation"]["schemes"]["employees"]["bands"][2].pop("max")
    )
    find(issues, "segmentation.schemes.employees", "bands SMB and Mid-Market overlap")


def test_S4_a_band_whose_max_is_below_its_min_is_refused() -> None:
    issues = issues_of(
        lambda d: d["segmentation"]["schemes"]["employees"]["bands"][1].update(max=50)
    )
    find(issues, "segmentation.schemes.employees.bands[1]", "max 50 is below min 100")


def test_S4_a_segmentation_scheme_that_does_not_exist_is_refused() -> None:
    issues = issues_of(lambda d: d["segmentation"].update(scheme="revenue"))
    path, reason = find(issues, "segmentation.scheme", "unknown scheme 'revenue'")
    assert "employees" in reason and "potential_users" in reason
    assert "(line " in path


def test_S4_an_unknown_measure_is_refused() -> None:
    issues = issues_of(
        lambda d: d["segmentation"]["schemes"]["employees"].update(measure="revenue")
    )
    find(issues, "segmentation.schemes.employees.measure", "total_employees")


# --------------------------------------------------------------------------- S8 regions


def test_S8_the_default_regions_exist(default: Playbook) -> None:
    names = set(default.region_names())
    assert {"APAC", "EMEA", "LATAM", "US East", "US West", "Public Sector"} <= names
    ncsa = next(r for r in default.regions if r.name == "NCSA")
    assert ncsa.legacy


def test_S8_countries_and_states_give_their_region(default: Playbook) -> None:
    assert region_of(default, "Germany") == "EMEA"
    assert region_of(default, "Deutschland") == "EMEA"
    assert region_of(default, "Norway") == "EMEA"
    assert region_of(default, "Japan") == "APAC"
    assert region_of(default, "Brazil") == "LATAM"
    assert region_of(default, "Mexico") == "LATAM"
    assert region_of(default, "USA", "California") == "US West"
    assert region_of(default, "United States", "NY") == "US East"
    assert region_of(default, "Canada", "Ontario") == "US East"
    assert region_of(default, "Canada", "BC") == "US West"


def test_S8_every_iso_country_is_in_exactly_one_region(default: Playbook) -> None:
    regions = region_map(default)
    twice = {code: names for code, names in regions.items() if len(names) > 1}
    assert twice == {}
    split = {"US", "CA"}  # covered state by state / province by province
    for country in pycountry.countries:
        if country.alpha_2 in split:
            subs = pycountry.subdivisions.get(country_code=country.alpha_2)
            states = {s.code for s in subs if s.type in ("State", "District", "Province", "Territory")}
            assert len(states) == {"US": 51, "CA": 13}[country.alpha_2]
            assert states <= set(regions), f"{country.alpha_2}: {sorted(states - set(regions))}"
        else:
            assert country.alpha_2 in regions, f"{country.name} is in no region"


def test_S8_R11_legacy_regions_are_emea_na_and_apac_covering_every_country(
    legacy: Playbook,
) -> None:
    assert legacy.region_names() == ["EMEA", "NA", "APAC"]
    regions = region_map(legacy)
    assert {c.alpha_2 for c in pycountry.countries} == set(regions)
    assert all(len(names) == 1 for names in regions.values())
    assert region_of(legacy, "Germany") == "EMEA"
    assert region_of(legacy, "Norway") == "EMEA"
    assert region_of(legacy, "United States") == "NA"
    assert region_of(legacy, "Canada") == "NA"
    assert region_of(legacy, "Brazil") == "NA"
    assert region_of(legacy, "Japan") == "APAC"


def test_S8_a_region_with_an_unknown_country_is_refused() -> None:
    i = index_of(BASE["regions"], "EMEA")
    issues = issues_of(lambda d: d["regions"][i]["countries"].append("Atlantis"))
    path, _ = find(issues, f"regions[{i}].countries[", "unknown country 'Atlantis'")
    assert "(line " in path


def test_S8_a_country_in_two_regions_is_refused() -> None:
    i = index_of(BASE["regions"], "APAC")
    issues = issues_of(lambda d: d["regions"][i]["countries"].append("Germany"))
    find(issues, "regions[", "Germany is already in region")


def test_S8_a_legacy_region_may_repeat_countries(default: Playbook) -> None:
    ncsa = next(r for r in default.regions if r.name == "NCSA")
    assert "BR" in ncsa.countries and region_of(default, "Brazil") == "LATAM"


def test_S8_an_unknown_subdivision_is_refused() -> None:
    i = index_of(BASE["regions"], "US West")
    issues = issues_of(
        lambda d: d["regions"][i]["subdivisions"]["United States"].append("Cascadia")
    )
    find(issues, f"regions[{i}].subdivisions.United States[", "unknown subdivision 'Cascadia'")


def test_S8_an_unquoted_NO_read_by_yaml_as_false_is_refused() -> None:
    text = DEFAULT_TEXT.replace('- "NO"   # Norway', "- NO   # Norway")
    assert text != DEFAULT_TEXT
    issues = issues_of_text(text)
    path, reason = find(issues, "regions[", "valid string")
    assert DEFAULT_TEXT.splitlines()[line_of(path) - 1].strip().startswith('- "NO"')


def test_I4_a_country_alias_to_a_non_iso_country_is_refused() -> None:
    issues = issues_of(lambda d: d["countries"]["aliases"].update({"Narnia": "Fantasia"}))
    find(issues, "countries.aliases.Narnia", "'Fantasia' is not an ISO 3166 country")


# --------------------------------------------------------------------------- I1 channels


@pytest.mark.parametrize("which", ["default", "legacy"])
def test_I1_the_21_contract_channels_exist(which: str, request: pytest.FixtureRequest) -> None:
    pb: Playbook = request.getfixturevalue(which)
    assert len(CONTRACT_CHANNELS) == len(set(CONTRACT_CHANNELS)) == 21
    names = [c.name for c in pb.channels]
    missing = [name for name in CONTRACT_CHANNELS if name not in names]
    assert missing == []


@pytest.mark.parametrize("which", ["default", "legacy"])
def test_I1_channels_are_handled_as_seed_004_says(which: str, request: pytest.FixtureRequest) -> None:
    pb: Playbook = request.getfixturevalue(which)

    def channel(name: str) -> Any:
        found = pb.channel(name)
        assert found is not None, name
        return found

    assert channel("pricing_purchase").handling == "purchase"
    press = channel("press_email")
    assert press.handling == "forward" and press.forward_to
    assert channel("newsletter").handling == "subscription"
    assert channel("newsletter").subscribes_to == ["newsletter"]
    assert channel("security_notice").handling == "subscription"
    assert channel("security_notice").subscribes_to == ["security-notices"]
    assert channel("trial_self_managed").trial_days == 30
    for name in ["contact_us", "community_email", "sales_email", "other_form", "ce_download"]:
        assert channel(name).handling == "lead"


def test_I1_the_legacy_press_email_goes_to_the_cmo(legacy: Playbook) -> None:
    press = legacy.channel("press_email")
    assert press is not None and press.forward_to == "cmo"
    assert legacy.default_owner_role == "Sales Admin"


def test_I1_a_channel_listed_twice_is_refused() -> None:
    issues = issues_of(
        lambda d: d["channels"].append({"name": "web_chat", "label": "Chat", "initial_source": "Web"})
    )
    find(issues, f"channels[{len(BASE['channels'])}]", "duplicate channel 'web_chat'")


def test_I1_a_channel_setting_an_unknown_status_is_refused() -> None:
    issues = issues_of(lambda d: d["channels"][0].update(sets_status="Customer"))
    find(issues, "channels[0].sets_status", "unknown status 'Customer'")


def test_I1_an_unknown_channel_handling_is_refused() -> None:
    issues = issues_of(lambda d: d["channels"][0].update(handling="ignore"))
    find(issues, "channels[0].handling", "purchase", "subscription")


# --------------------------------------------------------------------------- A4 the checker


@pytest.mark.parametrize(
    ("mutate", "expected_path"),
    [
        (lambda d: d.update(statusses=[]), "statusses"),
        (lambda d: d["scoring"].update(mql_treshold=90), "scoring.mql_treshold"),
        (lambda d: d["statuses"][0].update(defualt=True), "statuses[0].defualt"),
        (lambda d: d["transitions"][1].update(too=["MQL"]), "transitions[1].too"),
        (lambda d: d["regions"][0].update(country=["US"]), "regions[0].country"),
        (lambda d: d["offboarding"]["rules"][0].update(note="x"), "offboarding.rules[0].note"),
        (lambda d: d["segmentation"]["schemes"]["employees"]["bands"][0].update(maximum=9),
         "segmentation.schemes.employees.bands[0].maximum"),
    ],
)
def test_A4_an_unknown_key_anywhere_is_refused(mutate: Mutation, expected_path: str) -> None:
    issues = issues_of(mutate)
    path, reason = find(issues, expected_path + " (line ", "Extra inputs are not permitted")
    assert line_of(path) >= 1


def test_A4_a_missing_required_section_is_refused() -> None:
    issues = issues_of(lambda d: d.pop("scoring"))
    find(issues, "scoring", "Field required")


def test_A4_invalid_yaml_syntax_is_refused_with_its_line() -> None:
    text = DEFAULT_TEXT.replace("scoring:\n  mql_threshold: 90", "scoring:\n  mql_threshold: [90")
    assert text != DEFAULT_TEXT
    issues = issues_of_text(text)
    assert len(issues) == 1
    path, reason = issues[0]
    assert re.fullmatch(r"line \d+", path)
    assert reason.startswith("not valid YAML")


def test_A4_invalid_yaml_on_a_short_text_names_the_line() -> None:
    issues = issues_of_text("name: x\nversion: 1\nstatuses: [Raw\n  - {bad\n")
    assert issues[0][0] == "line 4"  # where the flow sequence opened on line 3 breaks


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "", "42\n"])
def test_A4_a_top_level_that_is_not_a_mapping_is_refused(text: str) -> None:
    assert issues_of_text(text) == [("(file)", "a playbook is a YAML mapping")]


def test_A4_all_issues_are_reported_at_once() -> None:
    def two_reference_errors(d: dict[str, Any]) -> None:
        d["transitions"][0]["to"].append("Nowhere")
        d["statuses"][0]["queue"] = "Nope Queue"

    issues = issues_of(two_reference_errors)
    assert len(issues) == 2
    find(issues, "transitions[0].to[5]", "unknown status 'Nowhere'")
    find(issues, "statuses[0].queue", "unknown queue 'Nope Queue'")


def test_A4_all_shape_errors_are_reported_at_once() -> None:
    def two_shape_errors(d: dict[str, Any]) -> None:
        d["scoring"]["mql_threshold"] = "ninety"
        d["version"] = 0

    issues = issues_of(two_shape_errors)
    assert len(issues) == 2
    find(issues, "scoring.mql_threshold", "valid integer")
    find(issues, "version", "greater than or equal to 1")


def test_A4_the_line_number_points_at_the_offending_line() -> None:
    old = "    to: [Inquiry, MQL, Accepted, Disqualified, Ineligible]"
    text = DEFAULT_TEXT.replace(old, old[:-1] + ", Nowhere]", 1)
    assert text != DEFAULT_TEXT
    (issue,) = issues_of_text(text)
    path, _ = issue
    assert path.startswith("transitions[0].to[5] (line ")
    assert "Nowhere" in text.splitlines()[line_of(path) - 1]


def test_A4_the_error_names_its_source_and_first_issue() -> None:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(broken(lambda d: d["scoring"].update(mql_status="Nope")), "mine.yaml")
    assert "mine.yaml" in str(caught.value)
    assert (caught.value.field or "").startswith("scoring.mql_status (line ")


def test_A4_load_playbook_reads_the_default_when_given_no_path(default: Playbook) -> None:
    assert default_playbook_path().name == "default.yaml"
    assert default == parse_playbook(DEFAULT_TEXT)
    assert default.name.startswith("GitLab handbook")


def test_A4_load_playbook_of_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(tmp_path / "absent.yaml")
    ((path, reason),) = caught.value.issues
    assert path == "(file)" and "cannot read" in reason


runner = CliRunner()


@pytest.mark.parametrize("path", [default_playbook_path(), LEGACY_PATH], ids=["default", "legacy"])
def test_A4_cli_check_prints_ok_for_the_shipped_playbooks(path: Path) -> None:
    result = runner.invoke(app, ["playbook", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "ok"


def test_A4_cli_check_prints_every_error_and_exits_2(tmp_path: Path) -> None:
    def three_errors(d: dict[str, Any]) -> None:
        d["transitions"][0]["to"].append("Nowhere")
        d["statuses"][0]["queue"] = "Nope Queue"
        d["segmentation"]["scheme"] = "revenue"

    target = tmp_path / "broken.yaml"
    target.write_text(broken(three_errors), encoding="utf-8")
    result = runner.invoke(app, ["playbook", "check", str(target)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 3
    assert all("(line " in line for line in lines)
    assert any(line.startswith("transitions[0].to[5] (line ") and "'Nowhere'" in line for line in lines)
    assert any(line.startswith("statuses[0].queue (line ") and "'Nope Queue'" in line for line in lines)
    assert any(line.startswith("segmentation.scheme (line ") and "'revenue'" in line for line in lines)
    assert "ok" not in lines


def test_A4_cli_check_reports_invalid_yaml(tmp_path: Path) -> None:
    target = tmp_path / "syntax.yaml"
    target.write_text("name: x\nstatuses: [Raw\n", encoding="utf-8")
    result = runner.invoke(app, ["playbook", "check", str(target)])
    assert result.exit_code == 2
    assert re.match(r"line \d+: not valid YAML", result.output)


def test_L7_offboarding_without_a_rule_for_new_mqls_is_refused() -> None:
    def drop_new_mql_rule(data: dict[str, Any]) -> None:
        rules = data["offboarding"]["rules"]
        data["offboarding"]["rules"] = [r for r in rules if r["id"] != "offboard-mql-on-or-after-cutoff"]

    find(issues_of(drop_new_mql_rule), "offboarding.rules", "MQL", "on_or_after_cutoff")


def test_L4_a_bad_data_rule_into_a_status_that_needs_a_reason_must_give_one() -> None:
    def drop_reason(data: dict[str, Any]) -> None:
        del data["bad_data"]["rules"][0]["reason"]

    find(issues_of(drop_reason), "bad_data.rules[0].reason", "needs a reason")


def test_L5_the_python_spelling_from__is_not_a_playbook_key() -> None:
    def rename(data: dict[str, Any]) -> None:
        data["transitions"][0]["from_"] = data["transitions"][0].pop("from")

    assert issues_of(rename)


def test_I1_a_forward_channel_needs_its_destination() -> None:
    def drop(data: dict[str, Any]) -> None:
        press = index_of(data["channels"], "press_email")
        del data["channels"][press]["forward_to"]

    find(issues_of(drop), "channels", "forward_to")
