"""The routing flow (R1-R12, S3): the default and legacy playbooks' rules, their order, the trace, and the
checker's errors for a broken routing section. Records are built by hand with `a_record(...)`; pools are
answered by `has` functions, so no store is involved.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import SHARED
from leadflow.domain.round_robin import Member, choose, has_available
from leadflow.domain.routing import (
    THRESHOLD_RULE,
    UNROUTABLE_RULE,
    AccountView,
    Assignment,
    Decision,
    Flow,
    PoolCheck,
    RoutingRecord,
    SameCompanyLead,
    compile_flow,
    pool_admits,
)
from leadflow.errors import PlaybookError
from leadflow.playbook.load import default_playbook_path, load_playbook, parse_playbook
from leadflow.playbook.schema import Playbook

LEGACY_PATH = Path(__file__).parents[2] / "playbooks" / "gitlab-legacy.yaml"
SCENARIOS = SHARED / "scenarios"
BASE: dict[str, Any] = yaml.safe_load(default_playbook_path().read_text(encoding="utf-8"))

DEFAULT_ORDER = [
    "named-account",
    "named-account-child",
    "actively-working-account",
    "same-company-working",
    "same-company-mql",
    "us-public-sector",
    "us-university",
    "university-elsewhere",
    "contact-us-public-sector",
    "contact-us-large",
    "contact-us-smb",
    "professional-services",
    "trial",
    "hand-raising",
    "educational-interest-large",
    "not-enough-information",
    "sdr-queue",
]


@pytest.fixture(scope="module")
def default() -> Flow:
    return compile_flow(load_playbook(None))


@pytest.fixture(scope="module")
def legacy() -> Flow:
    return compile_flow(load_playbook(LEGACY_PATH))


# --------------------------------------------------------------------------- builders


def a_record(**fields: Any) -> RoutingRecord:
    values: dict[str, Any] = {
        "channel": "content_download",
        "segment": "SMB",
        "region": "EMEA",
        "score": 95,
        "status": "MQL",
        "country": "Germany",
    }
    values.update(fields)
    return RoutingRecord(**values)


def an_account(**fields: Any) -> AccountView:
    values: dict[str, Any] = {"id": "acme", "type": "Prospect"}
    values.update(fields)
    return AccountView(**values)


def every_pool_has_members(pool: str, key: str | None) -> bool:
    return True


def no_pool_has_members(pool: str, key: str | None) -> bool:
    return False


def only(*pools: tuple[str, str | None]) -> PoolCheck:
    """A `pool_has_member` where only the listed (pool, key) pairs have an available member."""
    return lambda pool, key: (pool, key) in pools


def decide(flow: Flow, record: RoutingRecord, has: PoolCheck = every_pool_has_members) -> Decision:
    return flow.decide(record, has)


def why_of(d: Decision, rule: str) -> str:
    return next(e.why for e in d.trace if e.rule == rule)


def rules_checked(d: Decision) -> list[str]:
    return [e.rule for e in d.trace]


# --------------------------------------------------------------------------- R1 flow, trace, compile once


def test_R1_default_flow_has_the_justified_order(default: Flow) -> None:
    assert [r.id for r in default.rules] == DEFAULT_ORDER


def test_R1_flow_is_compiled_once_per_playbook_object() -> None:
    pb = load_playbook(None)
    assert compile_flow(pb) is compile_flow(pb)
    other = load_playbook(None)
    assert compile_flow(other) is not compile_flow(pb)


def test_R1_trace_lists_every_rule_checked_in_order_with_matched_flags(default: Flow) -> None:
    d = decide(default, a_record(channel="other_form"))
    assert (d.assign, d.rule) == (Assignment("queue", "SDR Queue"), "sdr-queue")
    assert rules_checked(d) == DEFAULT_ORDER
    assert [e.matched for e in d.trace] == [False] * (len(DEFAULT_ORDER) - 1) + [True]
    assert all(e.why for e in d.trace)


def test_R1_trace_stops_at_the_deciding_rule(default: Flow) -> None:
    d = decide(default, a_record(channel="trial_saas"))
    assert d.rule == "trial"
    assert rules_checked(d) == DEFAULT_ORDER[: DEFAULT_ORDER.index("trial") + 1]
    assert [e.rule for e in d.trace if e.matched] == ["trial"]


def test_R1_trace_why_is_readable(default: Flow) -> None:
    d = decide(default, a_record(channel="contact_us", segment="SMB", account=an_account()))
    assert why_of(d, "named-account") == "account acme is not named"
    assert why_of(d, "actively-working-account") == (
        "account acme BDR Prospecting Status is not set, rule wants Actively Working"
    )
    assert why_of(d, "same-company-mql") == "matched account acme, rule wants none"
    assert why_of(d, "contact-us-large") == "segment is SMB, rule wants Strategic, Large or Mid-Market"
    assert why_of(d, "contact-us-smb") == "channel is contact_us; segment is SMB → pool inbound-bdr (EMEA)"


def test_R1_trace_says_why_a_rule_fell_through(default: Flow) -> None:
    record = a_record(account=an_account(bdr_prospecting_status="Actively Working"))
    d = decide(default, record, no_pool_has_members)
    assert why_of(d, "actively-working-account") == (
        "account acme BDR Prospecting Status is Actively Working, but account acme BDR Assigned is empty: next rule"
    )
    assert not next(e for e in d.trace if e.rule == "actively-working-account").matched


def test_R1_inputs_seen_are_kept_with_the_decision(default: Flow) -> None:
    d = decide(default, a_record(channel="trial_saas", segment="Large"))
    assert d.inputs["channel"] == "trial_saas"
    assert d.inputs["score"] == 95
    assert d.inputs["region"] == "EMEA"
    assert d.inputs["account.named"] is False


def test_R1_the_record_is_never_changed_and_a_decision_is_repeatable(default: Flow) -> None:
    record = a_record(channel="contact_us")
    first, second = decide(default, record), decide(default, record)
    assert first.trace == second.trace and first.assign == second.assign


_records = st.builds(
    a_record,
    channel=st.sampled_from(
        [
            "contact_us",
            "trial_saas",
            "trial_self_managed",
            "professional_services",
            "content_download",
            "web_chat",
            "webcast_registration",
            "event_scan",
            "other_form",
            "community_email",
        ]
    ),
    segment=st.sampled_from(["Large", "Mid-Market", "SMB", "Unknown"]),
    region=st.sampled_from(["EMEA", "APAC", "LATAM", "US East", None]),
    score=st.integers(0, 120),
    country=st.sampled_from(["United States", "Germany", None]),
    university=st.booleans(),
    public_sector=st.booleans(),
    active=st.booleans(),
    account=st.one_of(
        st.none(),
        st.builds(
            an_account,
            named=st.booleans(),
            public_sector=st.booleans(),
            bdr_prospecting_status=st.sampled_from([None, "Actively Working"]),
            owner=st.sampled_from([None, "sal"]),
            sdr_assigned=st.sampled_from([None, "sdr"]),
            bdr_assigned=st.sampled_from([None, "bdr"]),
        ),
    ),
    same_company=st.lists(
        st.builds(SameCompanyLead, status=st.sampled_from(["MQL", "Accepted", "Raw"]), owner_id=st.just("ana")),
        max_size=2,
    ).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(record=_records, empty=st.sets(st.sampled_from(["inbound-bdr", "regional-sdr", "public-sector"])))
def test_R1_compiled_flow_agrees_with_its_tests_read_one_by_one(
    default: Flow, record: RoutingRecord, empty: set[str]
) -> None:
    """The generated function and the trace's tests must tell the same story for any record."""
    d = default.decide(record, lambda pool, key: pool not in empty)
    if record.score < default.threshold:
        assert (d.rule, d.routed) == (THRESHOLD_RULE, False)
        return
    for rule, code in zip(default.rules, d.steps, strict=False):
        holds = [c.holds(record) for c in rule.conditions]
        if code > 0 and not (rule.id == d.rule and code == d.steps[-1]):
            assert holds[: code - 1] == [True] * (code - 1) and holds[code - 1] is False, rule.id
        else:
            assert all(holds), rule.id
    assert [e.matched for e in d.trace].count(True) == 1
    assert d.trace[-1].matched and d.trace[-1].rule == d.rule


# --------------------------------------------------------------------------- S3 threshold


def test_R1_below_routing_threshold_nothing_is_routed_and_the_status_queue_keeps_it(default: Flow) -> None:
    d = decide(default, a_record(score=29, status="Inquiry", channel="contact_us"))
    assert (d.routed, d.rule, d.assign) == (False, THRESHOLD_RULE, Assignment("queue", "Inquiry Queue"))
    assert d.sla_business_days is None
    (entry,) = d.trace
    assert entry.matched and "score 29 is below the routing threshold 30" in entry.why


def test_R1_the_routing_threshold_itself_is_routed(default: Flow) -> None:
    assert decide(default, a_record(score=30)).routed


def test_R1_below_threshold_in_a_status_without_queue_keeps_its_owner(default: Flow) -> None:
    d = decide(default, a_record(score=10, status="Accepted"))
    assert d.assign == Assignment("keep", "") and not d.routed


# --------------------------------------------------------------------------- R2 actively working


def test_R2_actively_working_account_goes_to_bdr_assigned(default: Flow) -> None:
    account = an_account(bdr_prospecting_status="Actively Working", bdr_assigned="bdr-lena", owner="ae-fr")
    d = decide(default, a_record(channel="webcast_attended", account=account))
    assert (d.assign, d.rule) == (Assignment("user", "bdr-lena"), "actively-working-account")


def test_R2_an_account_not_actively_working_is_not_rerouted(default: Flow) -> None:
    account = an_account(bdr_prospecting_status="Not Working", bdr_assigned="bdr-lena")
    d = decide(default, a_record(channel="webcast_attended", account=account))
    assert d.rule != "actively-working-account" and d.assign.id != "bdr-lena"


def test_R2_actively_working_beats_contact_us_by_segment(default: Flow) -> None:
    account = an_account(bdr_prospecting_status="Actively Working", bdr_assigned="bdr-lena", owner="sal")
    d = decide(default, a_record(channel="contact_us", segment="Large", account=account))
    assert d.assign == Assignment("user", "bdr-lena")
    assert d.sla_business_days == 1  # W3: Contact Us keeps its SLA whoever owns it


def test_R2_named_account_comes_before_actively_working(default: Flow) -> None:
    account = an_account(
        named=True, owner="sal", sdr_assigned="sdr", bdr_prospecting_status="Actively Working", bdr_assigned="bdr"
    )
    assert decide(default, a_record(account=account)).rule == "named-account"


def test_R2_an_unavailable_bdr_assigned_falls_through(default: Flow) -> None:
    account = an_account(bdr_prospecting_status="Actively Working", bdr_assigned="bdr-gone")
    d = default.decide(
        a_record(channel="trial_saas", account=account), every_pool_has_members, lambda u: u != "bdr-gone"
    )
    assert d.rule == "trial"
    assert "BDR Assigned bdr-gone is not available" in why_of(d, "actively-working-account")


# --------------------------------------------------------------------------- R3 same company


def mql(owner: str, day: int, status: str = "MQL") -> SameCompanyLead:
    return SameCompanyLead(status=status, mql_date=dt.datetime(2026, 1, day, tzinfo=dt.UTC), owner_id=owner)


def test_R3_same_company_mql_goes_to_the_owner_of_the_earliest_mql(default: Flow) -> None:
    record = a_record(same_company=(mql("late", 20), mql("early", 12), mql("never", 1, status="Raw")))
    d = decide(default, record)
    assert (d.assign, d.rule) == (Assignment("user", "early"), "same-company-mql")


def test_R3_a_matched_account_turns_the_same_company_rules_off(default: Flow) -> None:
    d = decide(default, a_record(account=an_account(), same_company=(mql("early", 12),)))
    assert d.rule not in ("same-company-mql", "same-company-working")
    assert why_of(d, "same-company-mql") == "matched account acme, rule wants none"


def test_R3_an_accepted_or_qualifying_lead_takes_the_new_one(default: Flow) -> None:
    record = a_record(same_company=(mql("mql-owner", 2), mql("worker", 15, status="Qualifying")))
    d = decide(default, record)
    assert (d.assign, d.rule) == (Assignment("user", "worker"), "same-company-working")


def test_R3_leads_owned_by_a_queue_do_not_give_an_owner(default: Flow) -> None:
    queued = SameCompanyLead(status="MQL", mql_date=dt.datetime(2026, 1, 1), owner_type="queue", owner_id="SDR Queue")
    d = decide(default, a_record(same_company=(queued,)))
    assert d.rule != "same-company-mql"
    assert "owner of the same company's earliest MQL is empty" in why_of(d, "same-company-mql")


def test_R3_no_other_lead_means_no_same_company_rule(default: Flow) -> None:
    d = decide(default, a_record())
    assert why_of(d, "same-company-mql") == "MQL leads of the same company is 0, rule wants at least 1"


# --------------------------------------------------------------------------- R4 Contact Us


@pytest.mark.parametrize("segment", ["Strategic", "Large", "Mid-Market"])
def test_R4_contact_us_from_large_segments_goes_to_the_account_owner(default: Flow, segment: str) -> None:
    d = decide(default, a_record(channel="contact_us", segment=segment, account=an_account(owner="sal-uk")))
    assert (d.assign, d.rule, d.sla_business_days) == (Assignment("user", "sal-uk"), "contact-us-large", 1)


def test_R4_contact_us_follows_the_global_account_owner(default: Flow) -> None:
    child = an_account(id="labs", owner="local-ae", parent_id="group")
    parent = an_account(id="group", owner="global-sal")
    d = decide(default, a_record(channel="contact_us", segment="Large", account=child, ultimate_parent=parent))
    assert d.assign == Assignment("user", "global-sal")


@pytest.mark.parametrize("segment", ["SMB", "Unknown"])
def test_R4_contact_us_from_smb_or_unknown_goes_to_the_regional_bdr_pool(default: Flow, segment: str) -> None:
    d = decide(default, a_record(channel="contact_us", segment=segment, region="APAC", account=an_account(owner="x")))
    assert (d.assign, d.rule, d.sla_business_days) == (Assignment("pool", "inbound-bdr", "APAC"), "contact-us-smb", 1)


def test_R4_contact_us_large_without_an_owner_falls_back_to_the_sdr_queue(default: Flow) -> None:
    d = decide(default, a_record(channel="contact_us", segment="Large"))
    assert d.assign == Assignment("queue", "SDR Queue")
    assert "no matched account, so no account owner" in why_of(d, "contact-us-large")


def test_R4_contact_us_from_public_sector_goes_to_the_public_sector_team(default: Flow) -> None:
    d = decide(default, a_record(channel="contact_us", public_sector=True, country="France"))
    assert (d.assign, d.rule) == (Assignment("pool", "public-sector"), "contact-us-public-sector")


def test_R4_us_public_sector_goes_to_us_public_sector_inside_sales(default: Flow) -> None:
    record = a_record(channel="contact_us", public_sector=True, country="United States", region="Public Sector")
    d = decide(default, record)
    assert (d.assign, d.rule) == (Assignment("pool", "us-public-sector-inside-sales"), "us-public-sector")


def test_R4_us_public_sector_without_inside_sales_goes_to_the_public_sector_team(default: Flow) -> None:
    record = a_record(account=an_account(public_sector=True), country="United States")
    d = decide(default, record, only(("public-sector", None)))
    assert (d.assign, d.rule) == (Assignment("pool", "public-sector"), "us-public-sector")


# --------------------------------------------------------------------------- R5 trials


@pytest.mark.parametrize("channel", ["trial_self_managed", "trial_saas"])
def test_R5_trials_go_to_the_inbound_bdrs_of_the_region_regardless_of_segment(default: Flow, channel: str) -> None:
    record = a_record(channel=channel, segment="Large", region="APAC", account=an_account(owner="sal-jp"))
    d = decide(default, record)
    assert (d.assign, d.rule, d.sla_business_days) == (Assignment("pool", "inbound-bdr", "APAC"), "trial", None)


def test_R5_a_trial_with_no_available_bdr_is_unroutable(default: Flow) -> None:
    d = decide(default, a_record(channel="trial_saas"), no_pool_has_members)
    assert (d.assign, d.rule) == (Assignment("queue", "SDR Queue"), "trial")
    assert d.trace[-1].why.endswith(
        "pool inbound-bdr (EMEA) has no available member: unroutable, to queue SDR Queue (R10)"
    )


# --------------------------------------------------------------------------- R6 professional services


def test_R6_professional_services_follow_global_ownership_and_notify_sal_sdr_csm(default: Flow) -> None:
    account = an_account(owner="sal", sdr_assigned="sdr", csm="csm")
    d = decide(default, a_record(channel="professional_services", account=account))
    assert (d.assign, d.rule, d.sla_business_days) == (Assignment("user", "sal"), "professional-services", 1)
    assert d.notify == ("sal", "sdr", "csm")


def test_R6_professional_services_without_an_account_go_to_the_regional_bdrs(default: Flow) -> None:
    d = decide(default, a_record(channel="professional_services"))
    assert d.assign == Assignment("pool", "inbound-bdr", "EMEA") and d.notify == ()


# --------------------------------------------------------------------------- R7 universities


def test_R7_a_us_university_goes_to_the_public_sector_team(default: Flow) -> None:
    record = a_record(university=True, country="United States", region="US East", channel="trial_saas")
    d = decide(default, record)
    assert (d.assign, d.rule) == (Assignment("pool", "public-sector"), "us-university")


def test_R7_a_university_elsewhere_goes_to_the_regional_sdr(default: Flow) -> None:
    d = decide(default, a_record(university=True, country="Germany", channel="contact_us", segment="Large"))
    assert (d.assign, d.rule) == (Assignment("pool", "regional-sdr", "EMEA"), "university-elsewhere")


def test_R7_a_non_university_is_not_routed_as_one(default: Flow) -> None:
    d = decide(default, a_record(country="United States", region="US East", channel="trial_saas"))
    assert d.rule == "trial"
    assert why_of(d, "us-university") == "the lead is not from a university"


# --------------------------------------------------------------------------- R8 named accounts


def test_R8_named_account_goes_to_the_paired_sdr_and_notifies_the_sal(default: Flow) -> None:
    account = an_account(named=True, owner="sal-named", sdr_assigned="sdr-named")
    d = decide(default, a_record(channel="trial_saas", account=account))
    assert (d.assign, d.rule, d.notify) == (Assignment("user", "sdr-named"), "named-account", ("sal-named",))
    assert why_of(d, "named-account") == "account acme is named → account acme SDR Assigned sdr-named"


def test_R8_named_account_without_an_sdr_goes_to_the_sal(default: Flow) -> None:
    d = decide(default, a_record(account=an_account(named=True, owner="sal-named")))
    assert d.assign == Assignment("user", "sal-named")
    assert why_of(d, "named-account").startswith("account acme is named; account acme SDR Assigned is empty → ")


def test_R8_leads_of_a_named_accounts_child_go_to_the_parents_pairing(default: Flow) -> None:
    child = an_account(id="child", parent_id="top", owner="someone-else")
    top = an_account(id="top", named=True, owner="sal-top", sdr_assigned="sdr-top")
    d = decide(default, a_record(channel="contact_us", segment="Large", account=child, ultimate_parent=top))
    assert (d.assign, d.rule) == (Assignment("user", "sdr-top"), "named-account-child")


def test_R8_an_account_that_is_not_named_is_not_paired(default: Flow) -> None:
    d = decide(default, a_record(account=an_account(owner="sal", sdr_assigned="sdr")))
    assert d.rule not in ("named-account", "named-account-child")


# --------------------------------------------------------------------------- R9/R10 pools and fall-backs


def test_R10_empty_pool_falls_back_to_sdr_queue(default: Flow) -> None:
    record = a_record(channel="contact_us", segment="SMB", region="LATAM", country="Brazil")
    d = decide(default, record, only(("inbound-bdr", "EMEA")))
    assert d.assign == Assignment("queue", "SDR Queue")
    assert d.routed


def test_R10_a_rule_whose_pool_is_empty_falls_through_when_told(default: Flow) -> None:
    record = a_record(university=True, country="Germany", channel="trial_saas")
    d = decide(default, record, only(("inbound-bdr", "EMEA")))
    assert d.rule == "trial"
    assert why_of(d, "university-elsewhere") == (
        "the lead is from a university, but pool regional-sdr (EMEA) has no available member: next rule"
    )


def test_R10_without_a_region_there_is_not_enough_information_sales_admin(default: Flow) -> None:
    d = decide(default, a_record(channel="contact_us", segment="SMB", region=None, country=None))
    assert (d.assign, d.rule) == (Assignment("default_owner", "Sales Admin"), "not-enough-information")
    assert "region unknown, so no pool inbound-bdr to choose from: next rule" in why_of(d, "contact-us-smb")


def test_R10_a_lead_no_rule_wants_goes_to_the_sdr_queue(default: Flow) -> None:
    d = decide(default, a_record(channel="other_form"))
    assert (d.assign, d.rule) == (Assignment("queue", "SDR Queue"), "sdr-queue")


def test_R10_without_rules_everything_is_unroutable() -> None:
    data = copy.deepcopy(BASE)
    data["routing"]["rules"] = [{"id": "never", "when": {"score": {"gte": 1000}}, "assign": {"queue": "Raw Queue"}}]
    flow = compile_flow(parse_playbook(yaml.safe_dump(data)))
    d = decide(flow, a_record())
    assert (d.assign, d.rule) == (Assignment("queue", "SDR Queue"), UNROUTABLE_RULE)
    assert [e.rule for e in d.trace] == ["never", UNROUTABLE_RULE]


# --------------------------------------------------------------------------- R12 educational interest


@pytest.mark.parametrize("channel", ["webcast_registration", "content_download", "event_scan"])
def test_R12_educational_interest_from_large_goes_to_the_outbound_sdr(default: Flow, channel: str) -> None:
    record = a_record(channel=channel, segment="Large", account=an_account(owner="sal", sdr_assigned="sdr"))
    d = decide(default, record)
    assert (d.assign, d.rule) == (Assignment("user", "sdr"), "educational-interest-large")


def test_R12_educational_interest_without_an_account_sdr_goes_to_the_regional_sdrs(default: Flow) -> None:
    d = decide(default, a_record(segment="Strategic"))
    assert d.assign == Assignment("pool", "regional-sdr", "EMEA")


def test_R12_educational_interest_from_smb_is_not_for_the_outbound_sdr(default: Flow) -> None:
    d = decide(default, a_record(segment="SMB"))
    assert d.rule == "sdr-queue"
    assert why_of(d, "educational-interest-large") == "segment is SMB, rule wants Strategic or Large"


def test_R12_hand_raising_goes_to_the_inbound_bdr_and_beats_educational_interest(default: Flow) -> None:
    d = decide(default, a_record(segment="Large", active=True))
    assert (d.assign, d.rule) == (Assignment("pool", "inbound-bdr", "EMEA"), "hand-raising")
    d = decide(default, a_record(channel="web_chat"))
    assert d.rule == "hand-raising"


# --------------------------------------------------------------------------- R11 legacy flow


def test_R11_legacy_emea_goes_to_the_emea_bdr_team(legacy: Flow) -> None:
    d = decide(legacy, a_record(region="EMEA", segment="Large", account=an_account(owner="ae")))
    assert (d.assign, d.rule) == (Assignment("pool", "emea-bdr"), "emea-bdr")


@pytest.mark.parametrize("region", ["NA", "APAC", None])
def test_R11_legacy_every_other_region_goes_to_the_na_bdr_team(legacy: Flow, region: str | None) -> None:
    d = decide(legacy, a_record(region=region, channel="contact_us"))
    assert (d.assign, d.rule) == (Assignment("pool", "na-bdr"), "na-bdr")


def test_R11_legacy_large_accounts_outside_emea_go_to_enterprise_sales_with_an_alert(legacy: Flow) -> None:
    d = decide(legacy, a_record(region="NA", segment="Strategic", account=an_account(owner="ent-ae")))
    assert (d.assign, d.rule, d.notify) == (Assignment("user", "ent-ae"), "enterprise-outside-emea", ("ent-ae",))
    brand = a_record(region="APAC", segment="SMB", account=an_account(recognizable_brand=True))
    assert decide(legacy, brand).assign == Assignment("pool", "enterprise-sales")


def test_R11_legacy_fortune_500_goes_to_a_senior_account_manager(legacy: Flow) -> None:
    d = decide(legacy, a_record(region="EMEA", account=an_account(fortune_500=True, owner="ae")))
    assert (d.assign, d.rule) == (Assignment("pool", "senior-account-manager"), "fortune-500")


@pytest.mark.parametrize("channel", ["community_email", "sales_email"])
def test_R11_legacy_apac_email_is_first_notice_first_route(legacy: Flow, channel: str) -> None:
    d = decide(legacy, a_record(region="APAC", channel=channel))
    assert (d.assign, d.rule) == (Assignment("pool", "first-notice"), "apac-email-first-notice")
    assert decide(legacy, a_record(region="EMEA", channel=channel)).rule == "emea-bdr"


def test_R11_legacy_routes_from_50_points(legacy: Flow) -> None:
    assert legacy.threshold == 50
    d = decide(legacy, a_record(score=49, status="Raw"))
    assert (d.routed, d.assign) == (False, Assignment("queue", "Raw Queue"))
    assert decide(legacy, a_record(score=50, status="Open")).routed


def test_R11_legacy_pools_are_formed_from_users_by_attributes() -> None:
    pb = load_playbook(LEGACY_PATH)
    assert pb.routing is not None
    pools = {p.id: p for p in pb.routing.pools}
    bdr_apac, bdr_na, am = User("a", "BDR", "APAC"), User("n", "BDR", "NA"), User("s", "AM", "EMEA")
    assert pool_admits(pools["first-notice"], bdr_apac, None) and pool_admits(pools["first-notice"], bdr_na, None)
    assert not pool_admits(pools["emea-bdr"], bdr_na, None)
    assert pool_admits(pools["senior-account-manager"], am, None)
    assert pool_admits(pools["inbound-bdr"], bdr_apac, "APAC") and not pool_admits(pools["inbound-bdr"], bdr_apac, "NA")


# --------------------------------------------------------------------------- checker: routing section errors


def routing_issues(mutate: Callable[[dict[str, Any]], object]) -> list[tuple[str, str]]:
    data = copy.deepcopy(BASE)
    mutate(data["routing"])
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(yaml.safe_dump(data, sort_keys=False), "broken.yaml")
    return caught.value.issues


def rule_index(rule_id: str) -> int:
    return DEFAULT_ORDER.index(rule_id)


def find(issues: list[tuple[str, str]], path_prefix: str, *words: str) -> tuple[str, str]:
    for path, reason in issues:
        if path.startswith(path_prefix) and all(w in reason for w in words):
            assert re.search(r"\(line \d+\)$", path), path
            return path, reason
    raise AssertionError(f"no issue at {path_prefix!r} with {words!r} in {issues!r}")


def test_R1_an_unknown_field_is_refused_with_its_yaml_path() -> None:
    i = rule_index("named-account")
    issues = routing_issues(lambda r: r["rules"][i]["when"].update({"acount.named": {"eq": True}}))
    find(
        issues, f"routing.rules[{i}].when.acount.named", "unknown field 'acount.named'", "did you mean 'account.named'"
    )


def test_R1_an_unknown_pool_is_refused_with_its_yaml_path() -> None:
    i = rule_index("trial")
    issues = routing_issues(lambda r: r["rules"][i].update({"assign": {"pool": "inbound-bdrs"}}))
    find(issues, f"routing.rules[{i}].assign[0].pool", "unknown pool 'inbound-bdrs'")


def test_R1_a_bad_regular_expression_is_refused_with_its_yaml_path() -> None:
    i = rule_index("trial")
    issues = routing_issues(lambda r: r["rules"][i]["when"].update({"title": {"matches": "(cto"}}))
    find(issues, f"routing.rules[{i}].when.title.matches", "not a valid regular expression")


def test_R1_an_unknown_queue_is_refused_with_its_yaml_path() -> None:
    i = rule_index("sdr-queue")
    issues = routing_issues(lambda r: r["rules"][i].update({"assign": {"queue": "SDR Qeue"}}))
    find(issues, f"routing.rules[{i}].assign[0].queue", "unknown queue 'SDR Qeue'")
    issues = routing_issues(lambda r: r.update({"unroutable_queue": "Nowhere"}))
    find(issues, "routing.unroutable_queue", "unknown queue 'Nowhere'")


def test_R1_an_unknown_region_team_or_role_is_refused_with_its_yaml_path() -> None:
    i = rule_index("not-enough-information")
    issues = routing_issues(lambda r: r["rules"][i]["when"].update({"region": {"in": ["EMEA", "Narnia"]}}))
    find(issues, f"routing.rules[{i}].when.region.in[1]", "unknown region 'Narnia'")
    issues = routing_issues(lambda r: r["pools"][2].update({"teams": ["Public Sectr"]}))
    find(issues, "routing.pools[2].teams[0]", "unknown team 'Public Sectr'")
    issues = routing_issues(lambda r: r["pools"][0].update({"roles": ["Wizard"]}))
    find(issues, "routing.pools[0].roles[0]", "unknown role 'Wizard'")
    issues = routing_issues(lambda r: r["pools"][0].update({"region": "Atlantis"}))
    find(issues, "routing.pools[0].region", "unknown region 'Atlantis'")


def test_R1_values_must_fit_their_field() -> None:
    i = rule_index("contact-us-large")
    issues = routing_issues(lambda r: r["rules"][i]["when"].update({"channel": {"eq": "contactus"}}))
    find(issues, f"routing.rules[{i}].when.channel.eq", "unknown channel 'contactus'")
    issues = routing_issues(lambda r: r["rules"][i]["when"].update({"segment": {"gte": 3}}))
    find(issues, f"routing.rules[{i}].when.segment.gte", "gte does not apply to the text field segment")
    issues = routing_issues(lambda r: r["rules"][i]["when"].update({"university": {"eq": "yes"}}))
    find(issues, f"routing.rules[{i}].when.university.eq", "'yes' is not true or false")
    issues = routing_issues(lambda r: r["rules"][i]["when"].update({"country": {"eq": "Freedonia"}}))
    find(issues, f"routing.rules[{i}].when.country.eq", "unknown country 'Freedonia'")


def test_R1_an_assigned_or_notified_field_must_hold_a_user() -> None:
    i = rule_index("professional-services")
    issues = routing_issues(lambda r: r["rules"][i].update({"notify": ["account.owner", "channel"]}))
    find(issues, f"routing.rules[{i}].notify[1]", "channel holds no user")


def test_R1_a_rule_after_one_that_takes_every_lead_is_refused() -> None:
    issues = routing_issues(lambda r: r["rules"].insert(0, {"id": "all", "assign": {"queue": "SDR Queue"}}))
    find(issues, "routing.rules[1]", "never checked", "'all'")


def test_R1_offboarding_pool_must_exist_in_routing() -> None:
    issues = routing_issues(lambda r: r["pools"].pop(0))
    find(issues, "offboarding.rules", "unknown pool 'inbound-bdr'")


def test_R1_compile_flow_refuses_an_unchecked_playbook() -> None:
    data = copy.deepcopy(BASE)
    data["routing"]["rules"][0]["assign"] = {"pool": "ghost"}
    pb = Playbook.model_validate(data)  # skips `playbook check`
    with pytest.raises(PlaybookError) as caught:
        compile_flow(pb)
    assert caught.value.field == "routing.rules[0].assign[0].pool"


def test_R1_a_flow_is_data_values_never_become_code() -> None:
    data = copy.deepcopy(BASE)
    data["routing"]["rules"][-1]["description"] = "'); import os; os._exit(1) #"
    data["routing"]["rules"][-2]["when"] = {"title": {"matches": r"x'\); raise SystemExit #"}}
    flow = compile_flow(parse_playbook(yaml.safe_dump(data)))
    assert "SystemExit" not in flow.source and "_exit" not in flow.source
    assert decide(flow, a_record(title="x'); raise SystemExit #")).rule == "not-enough-information"


# --------------------------------------------------------------------------- the 12 public scenarios


@dataclass(frozen=True)
class User:
    id: str
    role: str
    region: str | None
    team: str | None = None
    segment: str | None = None
    active: bool = True
    out_of_office: bool = False


def world_users(scenario: dict[str, Any]) -> list[User]:
    users = {
        u["id"]: User(u["id"], u["role"], u["region"], u.get("team"), u.get("segment"), u["active"], u["out_of_office"])
        for u in scenario["world"].get("users", [])
    }
    return list(users.values())


def members(flow: Flow, pool_id: str, key: str | None, users: list[User]) -> list[Member]:
    pool = flow.pools[pool_id]
    return [Member(u.id, active=u.active, out_of_office=u.out_of_office) for u in users if pool_admits(pool, u, key)]


def acct(scenario: dict[str, Any], account_id: str, **extra: Any) -> AccountView:
    a = next(a for a in scenario["world"]["accounts"] if a["id"] == account_id)
    return AccountView(
        id=a["id"],
        type=a["type"],
        named=a["named"],
        owner=a["owner"],
        sdr_assigned=a["sdr_assigned"],
        bdr_assigned=a["bdr_assigned"],
        bdr_prospecting_status=a["bdr_prospecting_status"],
        parent_id=a["parent"],
        **extra,
    )


# The record each scenario implies, built by hand: segment and region as its `expect` (or the seeds'
# segment bands and regions) say, the matched account and hierarchy from its world.
def scenario_record(name: str, s: dict[str, Any]) -> RoutingRecord | None:
    lead = s["lead"]
    base: dict[str, Any] = {
        "channel": lead["channel"],
        "score": lead["score"],
        "country": lead["country"],
        "state": lead["state"],
        "industry": lead["industry"],
        "title": lead["title"],
    }
    base["activities"] = frozenset(a["type"] for a in lead["activities"])
    if name.startswith("01"):
        return RoutingRecord(**base, segment="Large", region="EMEA", status="MQL", account=acct(s, "brightwater"))
    if name.startswith("02"):
        return RoutingRecord(**base, segment="SMB", region="EMEA", status="MQL", account=acct(s, "tulpdata"))
    if name.startswith("03"):
        return RoutingRecord(
            **base, segment="Large", region="APAC", status="MQL", active=True, account=acct(s, "kaizen")
        )
    if name.startswith("04"):
        return RoutingRecord(
            **base, segment="SMB", region="EMEA", status="MQL", active=True, account=acct(s, "lumiere")
        )
    if name.startswith("05"):
        others = tuple(
            SameCompanyLead(o["status"], dt.datetime.fromisoformat(o["mql_date"]), o["owner"]["type"], o["owner"]["id"])
            for o in s["world"]["leads"]
        )
        return RoutingRecord(**base, segment="Unknown", region="US West", status="MQL", same_company=others)
    if name.startswith("06"):  # territory.public_sector: U.S. Education is public sector, region Public Sector
        return RoutingRecord(
            **base, segment="Unknown", region="Public Sector", status="MQL", university=True, public_sector=True
        )
    if name.startswith("07"):
        return RoutingRecord(**base, segment="Mid-Market", region="EMEA", status="MQL", account=acct(s, "nordhavn"))
    if name.startswith(("08", "09")):
        return RoutingRecord(**base, segment="Unknown", region="EMEA", status="Inquiry")
    if name.startswith("11"):
        return RoutingRecord(
            **base,
            segment="Large",
            region="EMEA",
            status="MQL",
            account=acct(s, "rheinwerk-labs"),
            ultimate_parent=acct(s, "rheinwerk"),
        )
    if name.startswith("12"):
        return RoutingRecord(**base, segment="SMB", region="LATAM", status="MQL")
    return None  # 10: spam is decided before routing


SCENARIO_FILES = sorted(SCENARIOS.glob("*.json")) if SCENARIOS.is_dir() else []


@pytest.mark.skipif(not SCENARIO_FILES, reason=f"shared scenarios not found at {SCENARIOS}")
@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem[:2])
def test_R1_public_scenarios_decide_as_expected(default: Flow, path: Path) -> None:
    s = json.loads(path.read_text(encoding="utf-8"))
    record = scenario_record(path.name, s)
    expect = s["expect"]
    if record is None:
        assert not {"owner", "owner_in", "routed"} & set(expect)
        return
    users = world_users(s)

    def has(pool: str, key: str | None) -> bool:
        return has_available(members(default, pool, key, users))

    d = default.decide(record, has)
    a = d.assign
    if a.kind == "pool":  # some member of the pool: every available one must be acceptable
        candidates = [m.id for m in members(default, a.id, a.key, users) if has_available([m])]
        chosen = choose(members(default, a.id, a.key, users)).member_id
        assert chosen in candidates
        owners = [{"type": "user", "id": c} for c in candidates]
    elif a.kind == "default_owner":
        owners = [{"type": "user", "id": next(u.id for u in users if u.role == a.id)}]
    else:
        owner = a.owner() if a.kind != "keep" else None
        assert owner is not None
        owners = [{"type": owner.type, "id": owner.id}]
    if "owner" in expect:
        assert owners == [expect["owner"]], d.trace
    for o in owners:
        if "owner_in" in expect:
            assert o in expect["owner_in"], d.trace
        assert o not in expect.get("owner_not_in", []), d.trace
    if "routed" in expect:
        assert d.routed is expect["routed"]
    if "has_sla" in expect:
        assert (d.sla_business_days is not None) is expect["has_sla"]
