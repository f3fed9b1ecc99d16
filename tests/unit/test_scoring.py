"""S1-S3 and S11 as pure rules: score parts, MQL, the routing trigger and Soft-BANT. No database, no clock."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.domain.activity import Activity
from leadflow.domain.bant import soft_bant
from leadflow.domain.scoring import (
    Score,
    ScoreInput,
    compute_score,
    external_score,
    mql_decision,
    routing_check,
    routing_trigger,
)
from leadflow.errors import PlaybookError
from leadflow.playbook.load import cached_playbook, default_playbook_path, load_playbook, parse_playbook
from leadflow.playbook.schema import BehaviourRuleDef, Playbook, ProfileRuleDef, ScoringDef, SoftBantDef

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
LEGACY_PATH = Path(__file__).parents[2] / "playbooks" / "gitlab-legacy.yaml"
DEFAULT_DATA: dict[str, Any] = yaml.safe_load(default_playbook_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pb() -> Playbook:
    return load_playbook(None)


@pytest.fixture(scope="module")
def legacy() -> Playbook:
    return load_playbook(LEGACY_PATH)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def acts(*pairs: tuple[str, float]) -> tuple[Activity, ...]:
    """Activities as (type, days before NOW)."""
    return tuple(Activity(kind, days_ago(age)) for kind, age in pairs)


def scoring(behaviour: Sequence[dict[str, Any]] = (), profile: Sequence[dict[str, Any]] = ()) -> ScoringDef:
    return ScoringDef(
        mql_threshold=90,
        routing_threshold=30,
        behaviour=[BehaviourRuleDef(**b) for b in behaviour],
        profile=[ProfileRuleDef(**p) for p in profile],
    )


def issues_of(mutate: Any) -> list[tuple[str, str]]:
    data = copy.deepcopy(DEFAULT_DATA)
    mutate(data)
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "broken.yaml")
    return caught.value.issues


# --------------------------------------------------------------------------- S1: parts and totals


def test_S1_score_is_the_sum_of_its_parts_each_naming_rule_points_and_time(pb: Playbook) -> None:
    score = compute_score(
        pb.scoring,
        ScoreInput(activities=acts(("content_download", 2), ("page_visit", 1)), title="Director of IT"),
        NOW,
    )
    assert score.source == "leadflow"
    assert [(p.rule, p.points, p.at) for p in score.parts] == [
        ("content-download", 30, days_ago(2)),
        ("page-visit", 2, days_ago(1)),
        ("title-director", 15, None),
    ]
    assert score.total == 47 == sum(p.points for p in score.parts)
    assert all(p.why for p in score.parts)
    assert score.subtotal("behaviour") == 32 and score.subtotal("profile") == 15


@pytest.mark.parametrize(
    "hand_raise", ["contact_us", "sales_email", "demo_request", "trial_self_managed", "trial_saas"]
)
def test_S1_a_hand_raise_reaches_mql_on_its_own_even_from_free_mail(pb: Playbook, hand_raise: str) -> None:
    score = compute_score(pb.scoring, ScoreInput(activities=acts((hand_raise, 0)), email="jo@gmail.com"), NOW)
    assert [p.rule for p in score.parts][-1] == "free-mail"
    assert score.total >= pb.scoring.mql_threshold


def test_S1_a_content_download_alone_enters_routing_but_is_no_mql(pb: Playbook) -> None:
    """003: 30 points means 'engaged with at least one piece of content or visited a high value page'."""
    for kind in ("content_download", "high_value_page_visit"):
        total = compute_score(pb.scoring, ScoreInput(activities=acts((kind, 0))), NOW).total
        assert pb.scoring.routing_threshold <= total < pb.scoring.mql_threshold


def test_S1_page_visits_count_at_most_five_times_in_thirty_days(pb: Playbook) -> None:
    score = compute_score(pb.scoring, ScoreInput(activities=acts(*[("page_visit", d) for d in range(7)])), NOW)
    assert score.total == 10
    assert len(score.parts) == 5
    assert any("page-visit: 2 more not counted (at most 5 within 30 days)" in n for n in score.notes)


def test_S1_the_repeat_window_slides_an_activity_exactly_window_days_later_counts_again() -> None:
    sc = scoring([{"id": "visit", "activity_types": ["page_visit"], "points": 2, "max_times": 5, "window_days": 30}])
    first_five = [("page_visit", 40 - d) for d in range(5)]  # days 0..4 of the window
    day_29 = compute_score(sc, ScoreInput(activities=acts(*first_five, ("page_visit", 40 - 29))), NOW)
    day_30 = compute_score(sc, ScoreInput(activities=acts(*first_five, ("page_visit", 40 - 30))), NOW)
    assert day_29.total == 10  # 29 days after the first: still five in the window
    assert day_30.total == 12  # 30 days after the first: it has left the window


def test_S1_max_times_without_a_window_is_a_lifetime_limit() -> None:
    sc = scoring([{"id": "signup", "activity_types": ["newsletter"], "points": 5, "max_times": 1}])
    assert compute_score(sc, ScoreInput(activities=acts(("newsletter", 300), ("newsletter", 1))), NOW).total == 5


def test_S1_points_older_than_decay_days_fade(pb: Playbook) -> None:
    exactly = ScoreInput(activities=(Activity("contact_us", NOW - dt.timedelta(days=90)),))
    older = ScoreInput(activities=(Activity("contact_us", NOW - dt.timedelta(days=90, seconds=1)),))
    assert compute_score(pb.scoring, exactly, NOW).total == 100
    faded = compute_score(pb.scoring, older, NOW)
    assert faded.total == 0 and faded.parts == ()
    assert faded.notes == ("contact-us: 1 faded (older than 90 days)",)


def test_S1_faded_activities_do_not_use_up_the_repeat_limit() -> None:
    sc = scoring([{"id": "chat", "activity_types": ["web_chat"], "points": 60, "max_times": 1, "decay_after_days": 10}])
    assert compute_score(sc, ScoreInput(activities=acts(("web_chat", 20), ("web_chat", 1))), NOW).total == 60


def test_S1_activities_after_now_are_not_counted_yet(pb: Playbook) -> None:
    score = compute_score(
        pb.scoring, ScoreInput(activities=(Activity("contact_us", NOW + dt.timedelta(hours=1)),)), NOW
    )
    assert score.total == 0
    assert "after" in score.notes[0]


def test_S1_negative_profile_points_student_and_competitor(pb: Playbook) -> None:
    student = compute_score(pb.scoring, ScoreInput(activities=acts(("contact_us", 0)), title="Student"), NOW)
    assert student.total == 50 and student.parts[-1].rule == "title-student" and student.parts[-1].points == -50
    rival = compute_score(
        pb.scoring, ScoreInput(activities=acts(("contact_us", 0)), email="dev@eng.github.com", title="Engineer"), NOW
    )
    assert rival.total == 0 and [p.rule for p in rival.parts] == ["contact-us", "competitor"]


def test_S1_a_score_may_go_below_zero_and_still_equals_its_parts(pb: Playbook) -> None:
    score = compute_score(pb.scoring, ScoreInput(email="x@atlassian.com", title="Intern"), NOW)
    assert score.total == -150 == sum(p.points for p in score.parts)


def test_S1_only_the_first_title_tier_counts(pb: Playbook) -> None:
    score = compute_score(pb.scoring, ScoreInput(title="VP and Director of Engineering"), NOW)
    assert [(p.rule, p.points) for p in score.parts] == [("title-executive", 20)]
    assert "title 'VP and Director of Engineering' matches" in score.parts[0].why


def test_S1_segment_and_free_mail_profile_rules(pb: Playbook) -> None:
    score = compute_score(pb.scoring, ScoreInput(segment="Mid-Market", email="a@acme.de"), NOW)
    assert [(p.rule, p.points) for p in score.parts] == [("segment-mid-market", 5)]
    told = compute_score(pb.scoring, ScoreInput(segment="large", free_mail=True), NOW)
    assert [(p.rule, p.points) for p in told.parts] == [("free-mail", -5), ("segment-large", 10)]


def test_S1_country_rules_match_any_spelling_of_the_country() -> None:
    sc = scoring(profile=[{"id": "dach", "field": "country", "equals": ["Germany", "Austria"], "points": 5}])
    for text in ("Germany", "DE", "deu", "AT"):
        assert compute_score(sc, ScoreInput(country=text), NOW).total == 5, text
    assert compute_score(sc, ScoreInput(country="France"), NOW).total == 0


def test_S1_industry_and_region_rules() -> None:
    sc = scoring(
        profile=[
            {"id": "software", "field": "industry", "pattern": "software|saas", "points": 5},
            {"id": "emea", "field": "region", "equals": ["EMEA"], "points": 3},
        ]
    )
    assert compute_score(sc, ScoreInput(industry="Computer Software", region="emea"), NOW).total == 8
    assert compute_score(sc, ScoreInput(), NOW).total == 0


def test_S1_rule_points_may_be_negative_for_behaviour() -> None:
    sc = scoring([{"id": "unsubscribed", "activity_types": ["unsubscribe"], "points": -20}])
    assert compute_score(sc, ScoreInput(activities=acts(("unsubscribe", 1))), NOW).total == -20


def test_S1_default_playbook_documents_every_rule(pb: Playbook) -> None:
    assert pb.scoring.behaviour and pb.scoring.profile
    assert all(r.description for r in pb.scoring.behaviour)
    assert all(r.description for r in pb.scoring.profile)
    # "points older than 90 days fade": every default behaviour rule fades
    assert {r.decay_after_days for r in pb.scoring.behaviour} == {90}


# --------------------------------------------------------------------------- S1: the playbook checker


def test_S1_an_invalid_title_pattern_is_refused_with_its_yaml_path() -> None:
    issues = issues_of(lambda d: d["scoring"]["profile"][0].update(pattern="(unclosed"))
    assert any(p.startswith("scoring.profile[0].pattern (line") and "regular expression" in r for p, r in issues)


def test_S1_an_unknown_activity_type_is_refused() -> None:
    issues = issues_of(lambda d: d["scoring"]["behaviour"][0]["activity_types"].append("contact_uss"))
    assert any(p.startswith("scoring.behaviour[0].activity_types[2]") and "contact_uss" in r for p, r in issues)


def _flag_to_pattern(rule: dict[str, Any]) -> None:
    del rule["flag"]
    rule["pattern"] = "x"


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda d: d["scoring"]["behaviour"][8].update(window_days=30), "scoring.behaviour[8]", "needs max_times"),
        (lambda d: _flag_to_pattern(d["scoring"]["profile"][5]), "scoring.profile[5]", "yes/no"),
        (lambda d: d["scoring"]["profile"][0].update(equals=["CEO"]), "scoring.profile[0]", "exactly one"),
        (lambda d: d["scoring"]["profile"][6].update(equals=["Huge"]), "scoring.profile[6].equals[0]", "segment"),
        (lambda d: d["scoring"]["profile"].append(dict(d["scoring"]["profile"][0])), "scoring", "twice"),
    ],
)
def test_S1_the_checker_names_each_broken_rule(mutate: Any, path: str, words: str) -> None:
    issues = issues_of(mutate)
    assert any(p.startswith(path) and words in r for p, r in issues), issues


# --------------------------------------------------------------------------- S1: external score


def test_S1_an_external_score_replaces_the_computation_and_says_so() -> None:
    score = external_score(95)
    assert (score.total, score.source, score.parts) == (95, "external", ())
    assert score.as_json() == {"total": 95, "source": "external", "parts": []}
    assert external_score(95.0).total == 95
    with pytest.raises(ValueError, match="whole number"):
        external_score(95.5)


def test_S1_leadflow_score_json_lists_its_parts(pb: Playbook) -> None:
    out = compute_score(pb.scoring, ScoreInput(activities=acts(("contact_us", 0))), NOW).as_json()
    assert out["source"] == "leadflow" and out["total"] == 100
    assert out["parts"][0]["rule"] == "contact-us" and out["parts"][0]["at"] == NOW.isoformat()


# --------------------------------------------------------------------------- S1: properties

_TYPES = ["contact_us", "trial_saas", "web_chat", "content_download", "page_visit", "email_click", "event_scan"]
_activity = st.builds(
    Activity, st.sampled_from(_TYPES), st.integers(0, 200 * 24).map(lambda h: NOW - dt.timedelta(hours=h))
)
_inputs = st.builds(
    ScoreInput,
    activities=st.lists(_activity, max_size=25).map(tuple),
    title=st.sampled_from([None, "CTO", "Director", "Engineering Manager", "Student", "Developer"]),
    segment=st.sampled_from([None, "Large", "Mid-Market", "SMB"]),
    email=st.sampled_from([None, "a@acme.de", "b@gmail.com", "c@github.com"]),
)


@settings(max_examples=150, deadline=None)
@given(inputs=_inputs)
def test_S1_property_total_always_equals_the_sum_of_parts_and_is_repeatable(inputs: ScoreInput) -> None:
    pb = cached_playbook(None)
    first = compute_score(pb.scoring, inputs, NOW)
    assert first.total == sum(p.points for p in first.parts)
    assert compute_score(pb.scoring, inputs, NOW) == first
    reordered = ScoreInput(**{**inputs.__dict__, "activities": tuple(reversed(inputs.activities))})
    assert compute_score(pb.scoring, reordered, NOW).total == first.total


@settings(max_examples=150, deadline=None)
@given(inputs=_inputs, extra=_activity)
def test_S1_property_adding_an_activity_never_lowers_the_behaviour_subtotal(
    inputs: ScoreInput, extra: Activity
) -> None:
    pb = cached_playbook(None)
    assert all(r.points >= 0 for r in pb.scoring.behaviour)  # no negative behaviour rule in the default
    before = compute_score(pb.scoring, inputs, NOW).subtotal("behaviour")
    more = ScoreInput(**{**inputs.__dict__, "activities": (*inputs.activities, extra)})
    assert compute_score(pb.scoring, more, NOW).subtotal("behaviour") >= before


def test_S1_a_negative_behaviour_rule_is_the_one_way_an_activity_lowers_the_score() -> None:
    sc = scoring(
        [
            {"id": "chat", "activity_types": ["web_chat"], "points": 60},
            {"id": "unsubscribed", "activity_types": ["unsubscribe"], "points": -20},
        ]
    )
    base = ScoreInput(activities=acts(("web_chat", 1)))
    more = ScoreInput(activities=acts(("web_chat", 1), ("unsubscribe", 0)))
    assert compute_score(sc, more, NOW).subtotal("behaviour") < compute_score(sc, base, NOW).subtotal("behaviour")


# --------------------------------------------------------------------------- S2: MQL


@pytest.mark.parametrize(("score", "mql"), [(89, False), (90, True), (91, True)])
def test_S2_mql_at_90_points_from_inquiry(pb: Playbook, score: int, mql: bool) -> None:
    decision = mql_decision(pb, current_status="Inquiry", mql_date=None, old_score=10, new_score=score)
    assert decision.mql is mql
    assert decision.set_status == ("MQL" if mql else None)
    assert decision.set_mql_date is mql
    assert str(pb.scoring.mql_threshold) in decision.why


def test_S2_mql_from_raw_sets_status_and_date(pb: Playbook) -> None:
    decision = mql_decision(pb, current_status="Raw", mql_date=None, old_score=None, new_score=100)
    assert (decision.set_status, decision.set_mql_date) == ("MQL", True)
    assert "sets status MQL and MQL date" in decision.why


def test_S2_mql_date_is_set_the_first_time_only(pb: Playbook) -> None:
    first_mql = dt.datetime(2025, 11, 1, tzinfo=dt.UTC)
    decision = mql_decision(pb, current_status="Inquiry", mql_date=first_mql, old_score=40, new_score=95)
    assert decision.set_status == "MQL"
    assert decision.set_mql_date is False
    assert "first time only" in decision.why


@pytest.mark.parametrize("status", ["Accepted", "Qualifying", "Recycle", "Disqualified"])
def test_S2_no_mql_from_other_statuses(pb: Playbook, status: str) -> None:
    decision = mql_decision(pb, current_status=status, mql_date=None, old_score=0, new_score=120)
    assert (decision.mql, decision.set_status, decision.set_mql_date) == (False, None, False)
    assert "not one MQL is set from" in decision.why


def test_S2_a_hand_raise_end_to_end_makes_an_inquiry_an_mql(pb: Playbook) -> None:
    score = compute_score(pb.scoring, ScoreInput(activities=acts(("trial_self_managed", 0))), NOW)
    decision = mql_decision(pb, current_status="Inquiry", mql_date=None, old_score=0, new_score=score.total)
    assert decision.set_status == "MQL" and decision.set_mql_date


def test_S2_an_external_score_decides_mql_like_any_other(pb: Playbook) -> None:
    decision = mql_decision(
        pb, current_status="Inquiry", mql_date=None, old_score=None, new_score=external_score(95).total
    )
    assert decision.set_status == "MQL"


def test_S2_legacy_mql_at_20_comes_from_the_yaml_only(legacy: Playbook) -> None:
    """004: 'MQL is any lead with a lead score of 20 or greater'; an MQL is a date, not a status."""
    assert legacy.scoring.mql_threshold == 20 and legacy.scoring.mql_status is None
    below = mql_decision(legacy, current_status="Open", mql_date=None, old_score=0, new_score=19)
    at = mql_decision(legacy, current_status="Open", mql_date=None, old_score=0, new_score=20)
    assert not below.mql and not below.set_mql_date
    assert at.mql and at.set_status is None and at.set_mql_date
    assert "sets MQL date" in at.why
    form = compute_score(legacy.scoring, ScoreInput(activities=acts(("content_download", 0))), NOW)
    assert form.total >= 20


def test_S2_legacy_mql_date_first_time_only(legacy: Playbook) -> None:
    decision = mql_decision(legacy, current_status="Raw", mql_date=days_ago(5), old_score=25, new_score=40)
    assert decision.mql and not decision.set_mql_date and decision.set_status is None
    assert "changes nothing" in decision.why


# --------------------------------------------------------------------------- S3: routing trigger


@pytest.mark.parametrize(
    ("old", "new", "queued"),
    [
        (29, 30, True),  # reaching the threshold exactly is crossing it
        (0, 95, True),
        (None, 30, True),  # a new record's first score
        (None, 29, False),
        (0, 29, False),  # a change that stays below
        (30, 31, False),  # already at or above: no new routing
        (50, 30, False),
        (35, 20, False),  # falling below does not queue (nor un-route)
    ],
)
def test_S3_crossing_30_upward_queues_routing(pb: Playbook, old: int | None, new: int, queued: bool) -> None:
    assert routing_trigger(pb, old, new) is queued
    assert routing_check(pb, old, new).why


def test_S3_alternative_threshold_50_from_the_legacy_yaml(legacy: Playbook) -> None:
    assert routing_trigger(legacy, 49, 50) is True
    assert routing_trigger(legacy, 29, 30) is False
    assert routing_trigger(legacy, 49, 49) is False


def test_S3_a_content_download_is_queued_for_routing_a_page_visit_is_not(pb: Playbook) -> None:
    download = compute_score(pb.scoring, ScoreInput(activities=acts(("content_download", 0))), NOW)
    visit = compute_score(pb.scoring, ScoreInput(activities=acts(("page_visit", 0))), NOW)
    assert routing_trigger(pb, 0, download.total)
    assert not routing_trigger(pb, 0, visit.total)
    assert "below the routing threshold 30" in routing_check(pb, 0, visit.total).why


# --------------------------------------------------------------------------- S11: Soft-BANT


@pytest.mark.parametrize(
    ("answers", "qualified", "word"),
    [
        ({"budget": True, "need": True}, True, "met"),
        ({"budget": True, "authority": True, "need": True, "timeline": True}, True, "met"),
        ({"authority": True}, False, "undetermined"),
        ({"authority": True, "budget": False, "need": False, "timeline": False}, False, "not met"),
        ({}, False, "undetermined"),
    ],
)
def test_S11_two_of_four_bant_elements_qualify(
    legacy: Playbook, answers: dict[str, bool], qualified: bool, word: str
) -> None:
    result = soft_bant(legacy.soft_bant, **answers)
    assert result.qualified is qualified
    assert result.why.startswith(f"Soft-BANT {word}")
    ok, why = result  # a (qualified, why) pair
    assert ok is qualified and "2 required" in why


def test_S11_the_threshold_is_playbook_data() -> None:
    strict = SoftBantDef(required=3)
    assert not soft_bant(strict, budget=True, need=True).qualified
    assert soft_bant(strict, budget=True, need=True, timeline=True).qualified


def test_S11_legacy_playbook_carries_soft_bant_and_the_default_does_not(legacy: Playbook, pb: Playbook) -> None:
    assert legacy.soft_bant is not None and legacy.soft_bant.required == 2
    assert set(legacy.soft_bant.questions) == {"budget", "authority", "need", "timeline"}
    assert pb.soft_bant is None
    assert soft_bant(pb.soft_bant, budget=True, need=True) == (
        False,
        "this playbook has no Soft-BANT rule (soft_bant:)",
    )


def test_S11_score_is_a_frozen_value() -> None:
    score: Score = external_score(1)
    with pytest.raises(AttributeError):
        score.total = 2  # type: ignore[misc]
