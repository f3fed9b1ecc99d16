"""Round robin (R9): weights, capacity, availability, and an even spread over time.

Fairness is measured as in `round_robin`'s docstring: each member's share of the turns it could
take against its weight share, `max_i |count_i - expected_i| / turns`, where `expected_i` adds, turn
by turn, w_i / (total weight of the members available on that turn). The pool runs as the service
runs it: after each turn the chosen member's counts go up and every member's credit is stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.domain.round_robin import Member, choose, has_available, unavailable_because

Away = Callable[[int, str], bool]  # (turn, member id) -> out of office on that turn


def run(
    members: list[Member], turns: int, away: Away | None = None, day_length: int | None = None
) -> tuple[Counter[str], dict[str, float], list[str | None]]:
    """Give `turns` turns; return the counts, the expected counts (weight share while available) and the order."""
    state = {m.id: m for m in members}
    counts: Counter[str] = Counter()
    expected = dict.fromkeys(state, 0.0)
    order: list[str | None] = []
    for turn in range(turns):
        if day_length and turn % day_length == 0:
            state = {i: replace(m, assigned_today=0) for i, m in state.items()}
        roster = [replace(m, out_of_office=bool(away and away(turn, m.id))) for m in state.values()]
        available = [m for m in roster if unavailable_because(m) is None]
        total = sum(m.weight for m in available)
        for m in available:
            expected[m.id] += m.weight / total
        choice = choose(roster)
        order.append(choice.member_id)
        credits = dict(choice.credits)
        for member_id in state:
            state[member_id] = replace(state[member_id], credit=credits[member_id])
        if choice.member_id is not None:
            m = state[choice.member_id]
            state[m.id] = replace(
                m,
                assigned_today=m.assigned_today + 1,
                assigned_week=m.assigned_week + 1,
                assigned_total=m.assigned_total + 1,
            )
            counts[m.id] += 1
    return counts, expected, order


def max_deviation(counts: Counter[str], expected: dict[str, float], turns: int) -> float:
    return max(abs(counts[i] - e) for i, e in expected.items()) / turns


def test_R9_inactive_and_out_of_office_members_are_skipped() -> None:
    members = [Member("gone", active=False), Member("away", out_of_office=True), Member("here")]
    choice = choose(members)
    assert choice.member_id == "here"
    assert dict(choice.skipped) == {"gone": "inactive", "away": "out of office"}
    assert "skipped gone (inactive), away (out of office)" in choice.why


def test_R9_nobody_available_gives_no_member_and_says_why() -> None:
    choice = choose([Member("gone", active=False), Member("full", capacity_day=5, assigned_today=5)])
    assert choice.member_id is None
    assert choice.why == "no available member (gone inactive; full at daily capacity 5/5)"
    assert not has_available([Member("gone", active=False)])
    assert choose([]).member_id is None


def test_R9_equal_weights_take_turns_in_a_fixed_order() -> None:
    _, _, order = run([Member("b"), Member("a"), Member("c")], 6)
    assert order == ["a", "b", "c", "a", "b", "c"]


def test_R9_weighted_shares_are_within_one_percent_over_10000_turns() -> None:
    members = [Member("w1", weight=1), Member("w2", weight=2), Member("w3", weight=3), Member("w5", weight=5)]
    counts, expected, _ = run(members, 10_000)
    assert max_deviation(counts, expected, 10_000) <= 0.01
    assert max_deviation(counts, expected, 10_000) <= 1 / 10_000  # in fact never a whole turn off


def test_R9_shares_stay_fair_while_members_come_and_go_over_10000_turns() -> None:
    members = [Member(f"m{i}", weight=1 + i % 3) for i in range(6)]

    def away(turn: int, member_id: str) -> bool:  # each member away for a different stretch, some twice
        n = int(member_id[1:])
        return (turn // (400 + 150 * n)) % 3 == 1

    counts, expected, _ = run(members, 10_000, away)
    assert max_deviation(counts, expected, 10_000) <= 0.01


def test_R9_out_of_office_member_gets_no_lead() -> None:
    counts, _, _ = run([Member("a"), Member("b", out_of_office=True), Member("c")], 1_000, lambda t, m: m == "b")
    assert counts["b"] == 0 and counts["a"] == counts["c"] == 500


def test_R9_daily_and_weekly_capacity_are_respected() -> None:
    members = [Member("small", capacity_day=3), Member("big"), Member("weekly", capacity_week=10)]
    counts, _, order = run(members, 200, day_length=20)  # ten "days" of 20 leads
    for day in range(10):
        assert order[day * 20 : (day + 1) * 20].count("small") <= 3
    assert counts["small"] == 30
    assert counts["weekly"] == 10
    assert counts["big"] == 160


def test_R9_a_member_coming_back_is_not_flooded() -> None:
    members = [Member("a"), Member("b"), Member("c")]
    _, _, order = run(members, 3_030, lambda turn, m: m == "c" and turn < 3_000)
    back = Counter(order[3_000:])
    assert back["c"] <= 11  # a third of 30 turns, plus at most one: not the 1,000 turns it missed
    assert back["a"] >= 9 and back["b"] >= 9


def test_R9_a_new_member_is_not_flooded() -> None:
    veterans = [Member("a", assigned_total=5_000, credit=1), Member("b", assigned_total=5_000, credit=-1)]
    counts, _, _ = run([*veterans, Member("new")], 30)
    assert counts["new"] == 10


def test_R9_the_choice_is_deterministic_ties_by_fewer_leads_then_id() -> None:
    tied = [Member("b", assigned_total=3), Member("a", assigned_total=7), Member("c", assigned_total=3)]
    assert choose(tied).member_id == "b"
    assert choose(tied) == choose(list(tied))


def test_R9_a_zero_weight_member_gets_nothing_and_bad_input_is_refused() -> None:
    counts, _, _ = run([Member("a"), Member("zero", weight=0)], 50)
    assert counts["zero"] == 0
    with pytest.raises(ValueError, match="negative"):
        Member("neg", weight=-1)
    with pytest.raises(ValueError, match="twice"):
        choose([Member("a"), Member("a")])


def test_R9_credits_of_skipped_members_are_kept() -> None:
    choice = choose([Member("a", credit=2), Member("away", out_of_office=True, credit=-3)])
    assert choice.credit_of("away") == -3
    assert choice.credit_of("a") == 1  # capped at the available weight (1), earns 1, pays 1


@settings(max_examples=60, deadline=None)
@given(weights=st.lists(st.integers(1, 5), min_size=1, max_size=6), turns=st.integers(50, 600))
def test_R9_no_member_is_ever_more_than_one_turn_from_its_weight_share(weights: list[int], turns: int) -> None:
    members = [Member(f"m{i}", weight=w) for i, w in enumerate(weights)]
    counts, expected, _ = run(members, turns)
    assert max(abs(counts[i] - e) for i, e in expected.items()) < 1 + 1e-9
