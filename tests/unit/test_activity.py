"""S10 as pure rules: Active windows after hand-raising activities and trials, and not-to-engage sources."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadflow.domain.activity import Activity, ActivityRules, active_until, not_to_engage
from leadflow.errors import PlaybookError
from leadflow.playbook.load import default_playbook_path, load_playbook, parse_playbook

T = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
TICK = dt.timedelta(microseconds=1)
LEGACY_PATH = Path(__file__).parents[2] / "playbooks" / "gitlab-legacy.yaml"
DEFAULT_DATA: dict[str, Any] = yaml.safe_load(default_playbook_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rules() -> ActivityRules:
    return ActivityRules.from_playbook(load_playbook(None))


def issues_of(mutate: Any) -> list[tuple[str, str]]:
    data = copy.deepcopy(DEFAULT_DATA)
    mutate(data)
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "broken.yaml")
    return caught.value.issues


# --------------------------------------------------------------------------- the rules as data


def test_S10_hand_raising_comes_from_the_channels_plus_the_activity_section(rules: ActivityRules) -> None:
    assert rules.hand_raising == {"trial_self_managed", "trial_saas", "webcast_attended", "web_chat", "demo_request",
                                  "contact_us"}  # 003:426 names Contact Us among the hand-raising activities
    assert dict(rules.trial_days) == {"trial_self_managed": 30, "trial_saas": 30}
    assert (rules.active_days, rules.trial_tail_days) == (60, 30)
    assert rules.not_to_engage_initial_sources == ("GitLab.com",)
    assert {"contact_us", "demo_request", "webcast_registration", "content_download"} <= rules.engage_after_activities


def test_S10_a_playbook_without_an_activity_section_still_has_the_seed_windows() -> None:
    data = copy.deepcopy(DEFAULT_DATA)
    del data["activity"]
    for rule in data["scoring"]["behaviour"]:
        rule["activity_types"] = [t for t in rule["activity_types"] if t not in DEFAULT_DATA["activity"]["types"]]
    data["scoring"]["behaviour"] = [r for r in data["scoring"]["behaviour"] if r["activity_types"]]
    bare = ActivityRules.from_playbook(parse_playbook(yaml.safe_dump(data, sort_keys=False)))
    assert (bare.active_days, bare.trial_tail_days, bare.not_to_engage_initial_sources) == (60, 30, ())
    assert "web_chat" in bare.hand_raising


def test_S10_unknown_activity_types_and_sources_are_refused_with_their_path() -> None:
    issues = issues_of(lambda d: d["activity"]["hand_raising"].append("live_demo"))
    assert any(p.startswith("activity.hand_raising[2]") and "live_demo" in r for p, r in issues)
    issues = issues_of(lambda d: d["activity"]["not_to_engage_initial_sources"].append("GitLab.org"))
    assert any(p.startswith("activity.not_to_engage_initial_sources[1]") and "GitLab.org" in r for p, r in issues)
    issues = issues_of(lambda d: d["activity"]["types"].append("web_chat"))
    assert any(p.startswith("activity.types[4]") and "channel" in r for p, r in issues)


# --------------------------------------------------------------------------- Active windows


def test_S10_a_hand_raise_makes_a_record_active_for_60_days_exactly(rules: ActivityRules) -> None:
    chat = [Activity("web_chat", T)]
    last = active_until(rules, chat, [], T + 60 * DAY)
    assert last.active and last.until == T + 60 * DAY
    assert "web_chat on 2026-01-05 is hand-raising: Active 60 days" in last.why
    after = active_until(rules, chat, [], T + 60 * DAY + TICK)
    assert not after.active and after.until == T + 60 * DAY
    assert after.why.startswith("passive since")


def test_S10_a_trial_keeps_the_record_active_for_its_length_plus_30_days(rules: ActivityRules) -> None:
    extended = [(T, T + 45 * DAY)]  # a 30-day trial extended to 45 days
    activities = [Activity("trial_self_managed", T)]
    on_the_day = active_until(rules, activities, extended, T + 75 * DAY)
    assert on_the_day.active and on_the_day.until == T + 75 * DAY
    assert "trial 2026-01-05 to 2026-02-19: its length plus 30 days" in on_the_day.why
    assert not active_until(rules, activities, extended, T + 75 * DAY + TICK).active


def test_S10_without_trial_dates_a_trial_lasts_its_channel_trial_days() -> None:
    rules = ActivityRules(trial_days={"trial_saas": 45}, trial_tail_days=30)
    result = active_until(rules, [Activity("trial_saas", T)], [], T + DAY)
    assert result.until == T + 75 * DAY
    assert "a 45-day trial plus 30 days after it ends" in result.why


def test_S10_a_trial_that_ended_early_still_gives_60_days_from_the_hand_raise(rules: ActivityRules) -> None:
    """003: Active 'for a minimum of 60 days from the date of the handraising activity'."""
    result = active_until(rules, [Activity("trial_saas", T)], [(T, T + 5 * DAY)], T + DAY)
    assert result.until == T + 60 * DAY


def test_S10_non_hand_raising_activity_leaves_the_record_passive(rules: ActivityRules) -> None:
    result = active_until(rules, [Activity("content_download", T), Activity("page_visit", T)], [], T + DAY)
    assert (result.active, result.until) == (False, None)
    assert result.why == "passive: no hand-raising activity or trial"


def test_S10_the_latest_window_decides(rules: ActivityRules) -> None:
    activities = [Activity("web_chat", T), Activity("webcast_attended", T + 20 * DAY), Activity("page_visit", T)]
    result = active_until(rules, activities, [], T + 70 * DAY)
    assert result.active and result.until == T + 80 * DAY
    assert "webcast_attended" in result.why


def test_S10_activities_and_trials_after_now_are_ignored(rules: ActivityRules) -> None:
    result = active_until(rules, [Activity("web_chat", T + DAY)], [(T + DAY, T + 31 * DAY)], T)
    assert (result.active, result.until) == (False, None)


def test_S10_active_until_is_recomputed_as_time_passes(rules: ActivityRules) -> None:
    """The job re-runs the same rule with a later `now`: the stored until stays, Active turns passive."""
    activities = [Activity("demo_request", T)]
    runs = [active_until(rules, activities, [], T + days * DAY) for days in (1, 59, 61, 400)]
    assert [r.active for r in runs] == [True, True, False, False]
    assert {r.until for r in runs} == {T + 60 * DAY}


def test_S10_a_trial_cannot_end_before_it_starts(rules: ActivityRules) -> None:
    with pytest.raises(ValueError, match="before it starts"):
        active_until(rules, [], [(T, T - DAY)], T)


# --------------------------------------------------------------------------- GitLab.com: not to engage


def test_S10_gitlab_com_records_are_not_engaged_while_passive(rules: ActivityRules) -> None:
    flag, why = not_to_engage(rules, "GitLab.com", [Activity("page_visit", T)], False)
    assert flag is True
    assert "not to be engaged" in why


def test_S10_gitlab_com_records_may_be_engaged_while_active(rules: ActivityRules) -> None:
    result = not_to_engage(rules, "GitLab.com", [Activity("web_chat", T)], True)
    assert result == (False, "Initial Source GitLab.com, but the record is Active")


@pytest.mark.parametrize("kind", ["contact_us", "demo_request", "webcast_registration", "content_download"])
def test_S10_gitlab_com_records_may_be_engaged_after_contact_us_demo_webcast_or_content(
    rules: ActivityRules, kind: str
) -> None:
    flag, why = not_to_engage(rules, "gitlab.com", [Activity("page_visit", T), Activity(kind, T + DAY)], False)
    assert flag is False
    assert f"took {kind} on 2026-01-06" in why


def test_S10_an_engaging_activity_after_now_does_not_count_yet(rules: ActivityRules) -> None:
    activities = [Activity("contact_us", T + DAY)]
    assert not_to_engage(rules, "GitLab.com", activities, False, now=T).flag is True
    assert not_to_engage(rules, "GitLab.com", activities, False, now=T + DAY).flag is False


@pytest.mark.parametrize("source", ["Contact Us", "Trial - Enterprise", None, ""])
def test_S10_other_initial_sources_are_engaged_normally(rules: ActivityRules, source: str | None) -> None:
    assert not_to_engage(rules, source, [], False).flag is False


def test_S10_the_legacy_playbook_engages_every_source() -> None:
    legacy = ActivityRules.from_playbook(load_playbook(LEGACY_PATH))
    assert not_to_engage(legacy, "GitLab.com", [], False).flag is False
    assert legacy.hand_raising == {"trial_self_managed", "trial_saas", "webcast_attended", "web_chat"}
