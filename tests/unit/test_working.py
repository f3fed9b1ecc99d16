"""W1, W4, W6, W7 as pure rules: which engagement rules fire, who may be emailed, pass windows, status timeouts,
and the playbook's `working` section checked with its YAML paths."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadflow.domain import working
from leadflow.domain.working import SendFacts
from leadflow.errors import InvalidInput
from leadflow.playbook.load import cached_playbook, load_playbook
from leadflow.playbook.schema import Playbook, SequenceRuleDef

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
LEGACY = Path(__file__).resolve().parents[2] / "playbooks" / "gitlab-legacy.yaml"


@pytest.fixture(scope="module")
def pb() -> Playbook:
    return cached_playbook(None)


@pytest.fixture(scope="module")
def legacy() -> Playbook:
    return load_playbook(LEGACY)


def fired(pb: Playbook, event: str, status: str, step: int | None = None) -> list[str]:
    return [r.id for r in working.rules_for(pb, event) if working.check_rule(r, event, step, status).fires]


@pytest.mark.parametrize("status", ["Raw", "Inquiry", "MQL"])
def test_W1_the_first_step_moves_raw_inquiry_and_mql_to_accepted(pb: Playbook, status: str) -> None:
    assert fired(pb, "step_completed", status, step=1) == ["w1-first-step-accepted"]
    rule = working.sequence_rule(pb, "w1-first-step-accepted")
    assert rule is not None and rule.to == "Accepted"


def test_W1_a_later_step_or_a_worked_status_fires_nothing(pb: Playbook) -> None:
    assert fired(pb, "step_completed", "MQL", step=2) == []
    assert fired(pb, "step_completed", "Qualifying", step=1) == []
    rule = working.rules_for(pb, "step_completed")[0]
    assert working.check_rule(rule, "step_completed", 2, "MQL").why == "rule is for step 1, this was step 2"
    assert "Qualifying is not one of Raw, Inquiry, MQL" in working.check_rule(rule, "step_completed", 1,
                                                                              "Qualifying").why


def test_W1_a_reply_moves_accepted_to_qualifying(pb: Playbook) -> None:
    assert fired(pb, "email_replied", "Accepted") == ["w1-reply-qualifying"]
    assert fired(pb, "email_replied", "Recycle") == []


def test_W1_a_finished_sequence_waits_seven_days_to_recycle_with_no_response(pb: Playbook) -> None:
    rule = working.sequence_rule(pb, "w1-finished-no-response")
    assert rule is not None
    assert (rule.to, rule.reason, rule.after_days, rule.from_) == ("Recycle", "No response", 7, ["Accepted"])
    check = working.check_rule(rule, "sequence_finished", None, "Accepted")
    assert check.fires and check.why == "Accepted -> Recycle (No response) after 7 day(s) without reply"


def test_W1_inactive_finishes_sequences_whatever_the_status(pb: Playbook) -> None:
    assert fired(pb, "person_inactive", "Qualifying") == ["w1-inactive-finishes-sequences"]
    rule = working.sequence_rule(pb, "w1-inactive-finishes-sequences")
    assert rule is not None and rule.finish_sequences and rule.set_inactive


def test_W1_W7_the_legacy_cadence_counts_steps_as_attempts(legacy: Playbook) -> None:
    assert fired(legacy, "step_completed", "Open", step=1) == ["w1-step-1-attempt-1"]
    assert fired(legacy, "step_completed", "Attempt 3", step=4) == ["w1-step-4-attempt-4"]
    assert fired(legacy, "email_replied", "Attempt 2") == ["w1-reply-progressing"]


def test_W1_a_rule_must_be_coherent() -> None:
    with pytest.raises(ValueError, match="step applies to step_completed"):
        SequenceRuleDef.model_validate({"id": "x", "event": "email_replied", "step": 1, "from": ["MQL"], "to": "A"})
    with pytest.raises(ValueError, match="must do something"):
        SequenceRuleDef.model_validate({"id": "x", "event": "email_replied"})
    with pytest.raises(ValueError, match="after_days applies to sequence_finished"):
        SequenceRuleDef.model_validate({"id": "x", "event": "email_replied", "from": ["MQL"], "to": "A",
                                        "after_days": 3})


def test_W1_playbook_check_names_a_forbidden_move_and_an_unknown_activity(pb: Playbook) -> None:
    data = pb.model_dump(by_alias=True, exclude_unset=True)
    data["working"]["sequences"]["rules"][0]["to"] = "Qualified"  # Raw -> Qualified is not allowed
    data["working"]["sla"]["follow_up_activities"] = ["carrier_pigeon"]
    broken = Playbook.model_validate(data)
    issues = dict(broken.reference_issues())
    assert issues["working.sequences.rules[0].from[0]"] == "Raw -> Qualified is not an allowed transition"
    assert "unknown activity type 'carrier_pigeon'" in issues["working.sla.follow_up_activities[0]"]


def test_W1_W7_both_shipped_playbooks_have_no_working_issues(pb: Playbook, legacy: Playbook) -> None:
    from leadflow.playbook.references import find_working_issues

    assert find_working_issues(pb) == []
    assert find_working_issues(legacy) == []


# --------------------------------------------------------------------------- W6


def test_W6_an_opted_out_person_gets_only_operational_email(pb: Playbook) -> None:
    out = SendFacts(email="a@example.org", opt_out=True, lists=frozenset({"newsletter"}))
    assert not working.may_send(pb, "marketing", out, NOW).allowed
    assert not working.may_send(pb, "newsletter", out, NOW).allowed
    receipt = working.may_send(pb, "purchase_receipt", out, NOW)
    assert receipt.allowed and receipt.operational


def test_W6_the_30_day_opt_out_ends_by_itself(pb: Playbook) -> None:
    until = working.temporary_opt_out_end(pb, NOW)
    assert until == NOW + dt.timedelta(days=30)
    facts = SendFacts(email="a@example.org", opt_out_until=until)
    blocked = working.may_send(pb, "marketing", facts, NOW + dt.timedelta(days=29))
    assert not blocked.allowed and "temporary opt-out until 2026-04-01" in blocked.why
    assert working.may_send(pb, "marketing", facts, until).allowed


def test_W6_a_list_email_goes_to_list_members_only(pb: Playbook) -> None:
    on = SendFacts(email="a@example.org", lists=frozenset({"newsletter"}))
    assert working.may_send(pb, "newsletter", on, NOW).allowed
    assert not working.may_send(pb, "security_notice", on, NOW).allowed
    assert not working.may_send(pb, "marketing", SendFacts(email=None), NOW).allowed


def test_W6_an_unknown_message_kind_is_refused(pb: Playbook) -> None:
    with pytest.raises(InvalidInput) as exc:
        working.may_send(pb, "spam_blast", SendFacts(email="a@example.org"), NOW)
    assert exc.value.field == "kind"


# --------------------------------------------------------------------------- W4, W7


def test_W4_the_reminder_window_is_the_playbooks_or_the_passers_within_1_to_7_days(pb: Playbook) -> None:
    assert working.pass_window_days(pb, None) == 3
    assert working.pass_window_days(pb, 7) == 7
    for bad in (0, 8):
        with pytest.raises(InvalidInput) as exc:
            working.pass_window_days(pb, bad)
        assert exc.value.field == "window_days"


def test_W7_attempts_time_out_after_21_days_in_the_status(legacy: Playbook) -> None:
    (timeout,) = legacy.working.status_timeouts
    entered = NOW - dt.timedelta(days=21)
    assert working.timed_out(timeout, "Attempt 2", entered, NOW)
    assert not working.timed_out(timeout, "Attempt 2", entered + dt.timedelta(seconds=1), NOW)
    assert not working.timed_out(timeout, "Progressing", entered, NOW)
    assert working.timeout_statuses(legacy.working.status_timeouts) == {f"Attempt {i}" for i in range(1, 5)}


@given(
    kind=st.sampled_from(["newsletter", "security_notice", "marketing", "sales_sequence", "webcast_logistics",
                          "trial_logistics", "purchase_receipt"]),
    opt_out=st.booleans(),
    days_left=st.one_of(st.none(), st.integers(min_value=-40, max_value=40)),
    lists=st.frozensets(st.sampled_from(["newsletter", "security-notices"])),
)
def test_W6_no_opted_out_person_ever_gets_a_non_operational_email(
    kind: str, opt_out: bool, days_left: int | None, lists: frozenset[str]
) -> None:
    pb = cached_playbook(None)
    until = None if days_left is None else NOW + dt.timedelta(days=days_left)
    facts = SendFacts(email="a@example.org", opt_out=opt_out, opt_out_until=until, lists=lists)
    decision = working.may_send(pb, kind, facts, NOW)
    opted_out = opt_out or (until is not None and until > NOW)
    if decision.operational:
        assert decision.allowed
    elif opted_out:
        assert not decision.allowed
