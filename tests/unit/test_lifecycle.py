"""L1-L8 as pure rules over the default playbook: no database, no clock."""

from __future__ import annotations

import datetime as dt

import pytest

from leadflow.domain.lifecycle import (
    AccountFacts,
    ClassificationFacts,
    bad_data_plan,
    canonical_bad_data_reason,
    classify,
    map_legacy_status,
    offboarding_rule,
    plan_transition,
)
from leadflow.domain.records import Owner, TriState
from leadflow.errors import InvalidTransition, MissingReason, UnknownReason, UnknownStatus
from leadflow.playbook.schema import Playbook

NINE = ["Raw", "Inquiry", "MQL", "Accepted", "Qualifying", "Qualified", "Disqualified", "Recycle", "Ineligible"]


def test_L1_the_nine_statuses_with_raw_as_default(playbook: Playbook) -> None:
    assert playbook.status_names() == NINE
    assert playbook.default_status.name == "Raw"


@pytest.mark.parametrize(
    ("status", "queue"),
    [("Raw", "Raw Queue"), ("Inquiry", "Inquiry Queue"), ("Disqualified", "Disqualified Queue"),
     ("Recycle", "Recycle Queue"), ("Ineligible", "Ineligible Queue")],
)
def test_L2_holding_statuses_have_their_queue(playbook: Playbook, status: str, queue: str) -> None:
    assert playbook.status(status).queue == queue  # type: ignore[union-attr]


def test_L2_worked_statuses_have_no_queue(playbook: Playbook) -> None:
    for status in ("MQL", "Accepted", "Qualifying", "Qualified"):
        assert playbook.status(status).queue is None  # type: ignore[union-attr]


def test_L2_entering_a_holding_status_hands_the_record_to_its_queue(playbook: Playbook) -> None:
    plan = plan_transition(playbook, current="Accepted", to="Recycle", reason="No response")
    assert plan.hand_to == Owner.queue("Recycle Queue")
    plan = plan_transition(playbook, current="MQL", to="Disqualified", reason="Competitor")
    assert plan.hand_to == Owner.queue("Disqualified Queue")


def test_L2_inquiry_in_an_active_sequence_stays_with_its_owner(playbook: Playbook) -> None:
    assert plan_transition(playbook, current="Raw", to="Inquiry", in_active_sequence=True).hand_to is None
    assert plan_transition(playbook, current="Raw", to="Inquiry").hand_to == Owner.queue("Inquiry Queue")


def test_L2_entering_a_worked_status_keeps_the_owner(playbook: Playbook) -> None:
    assert plan_transition(playbook, current="MQL", to="Accepted").hand_to is None


def test_L3_reason_lists_are_the_seeds(playbook: Playbook) -> None:
    assert playbook.reason_names("Disqualified") == [
        "Competitor", "Consultant", "No Authority", "Personal Use", "Unsubscribe", "No longer at company",
        "Interested in CE only", "Interested in GitLab.com only", "Disqualified Account", "Bad Data"]
    assert playbook.reason_names("Ineligible") == [
        "JIHU", "Support", "Remote Inquiries", "Community Contributors", "Student", "ECCN",
        "Open Source Program", "GitLab Employee or Candidate", "Customer Success"]
    recycle = playbook.reason_names("Recycle")
    assert len(recycle) == 12
    assert recycle[0] == "Doesn't see value" and recycle[-1] == "Denied from Startups Program - Sales Dev to re-engage"


@pytest.mark.parametrize("status", ["Disqualified", "Ineligible", "Recycle"])
def test_L3_missing_reason_is_refused_naming_the_field(playbook: Playbook, status: str) -> None:
    current = "Qualifying"
    with pytest.raises(MissingReason) as refused:
        plan_transition(playbook, current=current, to=status)
    assert refused.value.field == "reason"
    assert status in refused.value.message


def test_L3_unknown_reason_is_refused_with_the_allowed_list(playbook: Playbook) -> None:
    with pytest.raises(UnknownReason) as refused:
        plan_transition(playbook, current="MQL", to="Disqualified", reason="Too expensive")
    assert refused.value.field == "reason"
    assert "Competitor" in refused.value.message


def test_L3_reason_for_another_status_is_refused(playbook: Playbook) -> None:
    with pytest.raises(UnknownReason):
        plan_transition(playbook, current="MQL", to="Recycle", reason="Student")


def test_L3_reasons_match_case_insensitively_and_by_seed_spelling(playbook: Playbook) -> None:
    assert plan_transition(playbook, current="MQL", to="Disqualified", reason="competitior").reason == "Competitor"
    assert plan_transition(playbook, current="MQL", to="Recycle", reason="No Response").reason == "No response"


def test_L3_a_status_without_reasons_takes_none(playbook: Playbook) -> None:
    with pytest.raises(UnknownReason):
        plan_transition(playbook, current="Raw", to="MQL", reason="Competitor")


def test_L4_bad_phone_and_bad_email_move_to_disqualified_bad_data(playbook: Playbook) -> None:
    for email_reason in ("Bounced email", "Invalid email"):
        plan = bad_data_plan(playbook, current="MQL", bad_data_reasons=["Bad phone number", email_reason])
        assert plan is not None
        assert (plan.to_status, plan.reason, plan.rule) == ("Disqualified", "Bad Data", "bad-data-phone-and-email")
        assert plan.hand_to == Owner.queue("Disqualified Queue")


@pytest.mark.parametrize(
    "reasons", [["Bad phone number"], ["Bounced email"], ["Bounced email", "Invalid email"], ["Spam"], []]
)
def test_L4_one_kind_of_bad_data_alone_keeps_the_status(playbook: Playbook, reasons: list[str]) -> None:
    assert bad_data_plan(playbook, current="Accepted", bad_data_reasons=reasons) is None


def test_L4_already_disqualified_is_left_alone(playbook: Playbook) -> None:
    reasons = ["Bad phone number", "Bounced email"]
    assert bad_data_plan(playbook, current="Disqualified", bad_data_reasons=reasons) is None


def test_L4_unknown_bad_data_reason_is_refused(playbook: Playbook) -> None:
    assert canonical_bad_data_reason(playbook, "bounced EMAIL") == "Bounced email"
    with pytest.raises(UnknownReason) as refused:
        canonical_bad_data_reason(playbook, "Wrong name")
    assert refused.value.field == "bad_data_reason"


@pytest.mark.parametrize(
    ("current", "to"),
    [("Raw", "MQL"), ("Raw", "Inquiry"), ("Inquiry", "MQL"), ("MQL", "Accepted"), ("Accepted", "Qualifying"),
     ("Qualifying", "Qualified"), ("Recycle", "MQL"), ("Disqualified", "Inquiry")],
)
def test_L5_funnel_moves_are_allowed(playbook: Playbook, current: str, to: str) -> None:
    assert plan_transition(playbook, current=current, to=to).to_status == to


@pytest.mark.parametrize(
    ("current", "to"),
    [("Raw", "Qualified"), ("Inquiry", "Qualifying"), ("Accepted", "Qualified"), ("Qualified", "MQL"),
     ("Ineligible", "MQL"), ("Raw", "Raw"), ("Accepted", "Raw")],
)
def test_L5_forbidden_moves_are_refused_naming_the_field(playbook: Playbook, current: str, to: str) -> None:
    with pytest.raises(InvalidTransition) as refused:
        plan_transition(playbook, current=current, to=to)
    assert refused.value.field == "to"
    assert f"{current} -> {to}" in refused.value.message


def test_L5_unknown_target_status_is_refused(playbook: Playbook) -> None:
    with pytest.raises(UnknownStatus) as refused:
        plan_transition(playbook, current="Raw", to="Hot")
    assert refused.value.field == "to"


def test_L5_status_names_are_case_insensitive(playbook: Playbook) -> None:
    assert plan_transition(playbook, current="raw", to="mql").to_status == "MQL"


def _facts(matched: AccountFacts | None, family: list[AccountFacts] | None = None,
           product_user: bool | None = None, partner: bool | None = None, done: bool = True) -> ClassificationFacts:
    return ClassificationFacts(matching_done=done, matched=matched, hierarchy=family or [],
                               product_user=product_user, partner_managed=partner)


def test_L6_unmatched_non_user_is_unknown(playbook: Playbook) -> None:
    values = classify(playbook, _facts(None, product_user=False))
    assert values["unknown"] is TriState.TRUE
    assert values["customer_hierarchy_account"] is TriState.UNKNOWN


def test_L6_everything_undecidable_before_matching(playbook: Playbook) -> None:
    values = classify(playbook, _facts(None, done=False))
    assert set(values.values()) == {TriState.UNKNOWN}
    assert len(values) == 6


def test_L6_customer_anywhere_in_the_hierarchy(playbook: Playbook) -> None:
    child = AccountFacts("child", "Prospect")
    parent = AccountFacts("parent", "Customer")
    values = classify(playbook, _facts(child, [parent, child]))
    assert values["customer_hierarchy_account"] is TriState.TRUE
    assert values["prospect_hierarchy"] is TriState.FALSE
    assert values["unknown"] is TriState.FALSE
    assert values["former_customer_account"] is TriState.FALSE


def test_L6_prospect_hierarchy_when_first_order_is_available(playbook: Playbook) -> None:
    acc = AccountFacts("a", "Prospect")
    values = classify(playbook, _facts(acc, [acc, AccountFacts("b", "Former Customer")]))
    assert values["prospect_hierarchy"] is TriState.TRUE
    assert values["former_customer_account"] is TriState.FALSE


def test_L6_former_customer_account(playbook: Playbook) -> None:
    acc = AccountFacts("a", "Former Customer")
    assert classify(playbook, _facts(acc, [acc]))["former_customer_account"] is TriState.TRUE


def test_L6_user_and_partner_follow_the_data(playbook: Playbook) -> None:
    values = classify(playbook, _facts(None, product_user=True, partner=True))
    assert (values["user"], values["partner_managed"], values["unknown"]) == (
        TriState.TRUE, TriState.TRUE, TriState.FALSE)
    acc = AccountFacts("a", "Prospect", partner_managed=False)
    assert classify(playbook, _facts(acc, [acc]))["partner_managed"] is TriState.FALSE


def test_L6_unknown_account_type_in_hierarchy_is_undecided(playbook: Playbook) -> None:
    acc = AccountFacts("a", "Prospect")
    values = classify(playbook, _facts(acc, [acc, AccountFacts("b", None)]))
    assert values["customer_hierarchy_account"] is TriState.UNKNOWN


@pytest.mark.parametrize(
    ("legacy", "status", "reason"),
    [("Open", "Inquiry", None), ("Attempt 1", "Accepted", None), ("attempt 4", "Accepted", None),
     ("Progressing", "Qualifying", None), ("Unqualified", "Disqualified", "Personal Use"),
     ("Nurture", "Recycle", "No response"), ("Bad Data", "Disqualified", "Bad Data"),
     ("Web Portal Purchase", "Qualified", None), ("MQL", "MQL", None), ("qualified", "Qualified", None)],
)
def test_L8_legacy_statuses_map_onto_the_nine(playbook: Playbook, legacy: str, status: str,
                                              reason: str | None) -> None:
    assert map_legacy_status(playbook, legacy) == (status, reason)


def test_L8_every_mapping_lands_on_one_of_the_nine_with_a_valid_reason(playbook: Playbook) -> None:
    for legacy in playbook.legacy_statuses:
        status, reason = map_legacy_status(playbook, legacy)
        assert status in NINE
        if playbook.status(status).needs_reason:  # type: ignore[union-attr]
            assert reason in playbook.reason_names(status)


def test_L8_unknown_legacy_status_is_refused(playbook: Playbook) -> None:
    with pytest.raises(UnknownStatus) as refused:
        map_legacy_status(playbook, "Hot Lead")
    assert refused.value.field == "status"


@pytest.mark.parametrize(
    ("status", "mql_date", "rule"),
    [("Raw", None, "offboard-raw"), ("Qualified", None, "offboard-qualifying-qualified"),
     ("Accepted", None, "offboard-accepted"),
     ("MQL", dt.datetime(2023, 1, 31, 23, 0, tzinfo=dt.UTC), "offboard-mql-before-cutoff"),
     ("MQL", dt.datetime(2023, 2, 1, 0, 0, tzinfo=dt.UTC), "offboard-mql-on-or-after-cutoff")],
)
def test_L7_offboarding_table_by_status_and_mql_date(playbook: Playbook, status: str,
                                                     mql_date: dt.datetime | None, rule: str) -> None:
    assert offboarding_rule(playbook, status=status, mql_date=mql_date).id == rule
