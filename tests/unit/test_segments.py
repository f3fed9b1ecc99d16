"""S4-S7 as pure rules: segments by employees and by potential users, sources, hierarchy MAX."""

from __future__ import annotations

import copy
import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.domain.segments import (
    AccountSizing,
    fiscal_quarter,
    hierarchy_segments,
    in_segment_review,
    lead_segment,
    parse_developers_bucket,
    potential_users,
    segment_of,
    segment_rank,
    total_employees,
    ultimate_parents,
    validate_potential_override,
)
from leadflow.errors import InvalidInput, PlaybookError
from leadflow.playbook.load import cached_playbook, default_playbook_path, load_playbook, parse_playbook
from leadflow.playbook.schema import FiscalDef, MonthDayDef, Playbook

PB = cached_playbook(None)
LEGACY = load_playbook(Path(__file__).parents[2] / "playbooks" / "gitlab-legacy.yaml")
NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)  # fiscal Q1 of FY2027: outside the review
IN_REVIEW = dt.datetime(2025, 12, 1, 12, 0, tzinfo=dt.UTC)  # fiscal Q4 of FY2026


def with_scheme(pb: Playbook, scheme: str) -> Playbook:
    return pb.model_copy(update={"segmentation": pb.segmentation.model_copy(update={"scheme": scheme})})


USERS = with_scheme(PB, "potential_users")


def account(id: str = "a", parent: str | None = None, **fields: Any) -> AccountSizing:
    return AccountSizing(id=id, parent_id=parent, **fields)


# --------------------------------------------------------------------------- S4 bands


def test_S4_both_schemes_of_the_seeds_are_playbook_data() -> None:
    seg = PB.segmentation
    assert seg.scheme == "employees"
    bands = {b.name: (b.min, b.max) for b in seg.schemes["employees"].bands}
    assert bands == {"Large": (2000, None), "Mid-Market": (100, 1999), "SMB": (0, 99)}
    bands = {b.name: (b.min, b.max) for b in seg.schemes["potential_users"].bands}
    assert bands == {"Strategic": (5000, None), "Large": (751, 4999), "Mid-Market": (101, 750), "SMB": (1, 100)}
    assert LEGACY.segmentation.scheme == "potential_users"


def test_S4_active_names_are_the_active_schemes_largest_first() -> None:
    assert PB.segmentation.active_names() == ["Large", "Mid-Market", "SMB", "Unknown"]
    assert USERS.segmentation.active_names() == ["Strategic", "Large", "Mid-Market", "SMB", "Unknown"]
    assert segment_rank(PB.segmentation, "Large") > segment_rank(PB.segmentation, "SMB") > 0
    assert segment_rank(PB.segmentation, "Unknown") == 0
    assert segment_rank(PB.segmentation, "Strategic") == 0  # not a segment of the employees scheme


@pytest.mark.parametrize(
    ("employees", "segment"),
    [
        (None, "Unknown"),
        (0, "Unknown"),
        (1, "SMB"),
        (45, "SMB"),
        (99, "SMB"),
        (100, "Mid-Market"),
        (1999, "Mid-Market"),
        (2000, "Large"),
        (12000, "Large"),
    ],
)
def test_S4_employee_bands_and_their_boundaries(employees: int | None, segment: str) -> None:
    assert segment_of(employees, PB.segmentation.schemes["employees"]) == segment


@pytest.mark.parametrize(
    ("users", "segment"),
    [
        (None, "Unknown"),
        (0, "Unknown"),
        (1, "SMB"),
        (100, "SMB"),
        (101, "Mid-Market"),
        (750, "Mid-Market"),
        (751, "Large"),
        (4999, "Large"),
        (5000, "Strategic"),
        (80000, "Strategic"),
    ],
)
def test_S4_potential_user_bands_and_their_boundaries(users: int | None, segment: str) -> None:
    assert segment_of(users, PB.segmentation.schemes["potential_users"]) == segment


def test_S4_unknown_when_every_controlling_field_is_empty_or_0() -> None:
    empty = account(employees_datafox=0, employees_zoominfo=None, employees_admin_override=0)
    assert hierarchy_segments([empty], PB, NOW)["a"].segment == "Unknown"
    no_devs = account(how_many_developers=0, it_tedd_employees=None, number_of_licenses=0)
    result = hierarchy_segments([no_devs], USERS, NOW)["a"]
    assert result.segment == "Unknown"
    assert "empty or 0" in result.why
    assert lead_segment(PB, employees=0).segment == "Unknown"
    assert lead_segment(USERS, developers_bucket=None, how_many_developers=0).segment == "Unknown"


def test_S4_scenario_02_a_45_employee_company_is_smb() -> None:
    result = hierarchy_segments([account("tulpdata", employees_datafox=45)], PB, NOW)["tulpdata"]
    assert (result.segment, result.measure.source, result.measure.value) == ("SMB", "datafox", 45)


# --------------------------------------------------------------------------- S6 sources


def test_S6_the_employee_source_priority_is_playbook_data() -> None:
    sources = [(s.source, s.only_during_review) for s in PB.segmentation.employee_sources]
    assert sources == [("admin_override", True), ("datafox", False), ("zoominfo", False)]
    assert PB.fiscal.year_start == MonthDayDef(month=2, day=1)
    assert PB.segmentation.review.quarter == 4


def test_S6_datafox_is_the_default_value() -> None:
    got = total_employees(account(employees_datafox=2500, employees_zoominfo=40), PB, NOW)
    assert (got.value, got.field, got.source) == (2500, "total_employees", "datafox")
    assert "DataFox" in got.why


@pytest.mark.parametrize("datafox", [None, 0])
def test_S6_zoominfo_only_when_datafox_is_blank(datafox: int | None) -> None:
    got = total_employees(account(employees_datafox=datafox, employees_zoominfo=150), PB, NOW)
    assert (got.value, got.source) == (150, "zoominfo")
    assert "DataFox is empty" in got.why


def test_S6_linkedin_and_user_input_never_decide() -> None:
    big = account(employees_linkedin=50000, employees_user_input=40000)
    got = total_employees(big, PB, IN_REVIEW)
    assert (got.value, got.source) == (None, None)
    assert "LinkedIn (50,000) is not a source" in got.why
    assert hierarchy_segments([big], PB, NOW)["a"].segment == "Unknown"
    small = account(employees_datafox=30, employees_linkedin=50000)
    assert hierarchy_segments([small], PB, NOW)["a"].segment == "SMB"


@pytest.mark.parametrize(
    ("now", "counted"),
    [
        (dt.date(2025, 10, 31), False),  # last day of fiscal Q3
        (dt.date(2025, 11, 1), True),  # first day of fiscal Q4
        (dt.date(2025, 12, 25), True),
        (dt.date(2026, 1, 31), True),  # last day of fiscal Q4
        (dt.date(2026, 2, 1), False),  # fiscal Q1: the new year
        (dt.datetime(2025, 10, 31, 23, 59, 59, tzinfo=dt.UTC), False),
        (dt.datetime(2025, 11, 1, 0, 0, tzinfo=dt.UTC), True),
        (dt.datetime(2026, 1, 31, 23, 59, 59, tzinfo=dt.UTC), True),
        (dt.datetime(2026, 2, 1, 0, 0, tzinfo=dt.UTC), False),
    ],
)
def test_S6_admin_override_counts_only_inside_the_review_window(now: dt.date, counted: bool) -> None:
    got = total_employees(account(employees_admin_override=5000, employees_datafox=40), PB, now)
    assert (got.value, got.source) == ((5000, "admin_override") if counted else (40, "datafox"))
    if not counted:
        assert "only during the segment review" in got.why


def test_S6_the_review_window_is_read_in_the_fiscal_time_zone() -> None:
    pacific = PB.model_copy(update={"fiscal": PB.fiscal.model_copy(update={"timezone": "America/Los_Angeles"})})
    still_january = dt.datetime(2026, 2, 1, 5, 0, tzinfo=dt.UTC)  # 21:00 on 31 January in California
    assert in_segment_review(pacific, still_january)[0] is True
    assert in_segment_review(PB, still_january)[0] is False


@pytest.mark.parametrize(
    ("day", "year", "quarter", "start", "end"),
    [
        ("2025-02-01", 2026, 1, "2025-02-01", "2025-04-30"),
        ("2025-07-31", 2026, 2, "2025-05-01", "2025-07-31"),
        ("2025-08-01", 2026, 3, "2025-08-01", "2025-10-31"),
        ("2025-11-01", 2026, 4, "2025-11-01", "2026-01-31"),
        ("2026-01-31", 2026, 4, "2025-11-01", "2026-01-31"),
        ("2026-03-02", 2027, 1, "2026-02-01", "2026-04-30"),
        ("2024-02-29", 2025, 1, "2024-02-01", "2024-04-30"),
    ],
)
def test_S6_gitlab_fiscal_quarters_start_on_1_february(day: str, year: int, quarter: int, start: str, end: str) -> None:
    got = fiscal_quarter(dt.date.fromisoformat(day), PB.fiscal)
    assert (got.year, got.quarter, got.start.isoformat(), got.end.isoformat()) == (year, quarter, start, end)


def test_S6_a_fiscal_year_can_start_mid_month_and_be_named_by_its_start() -> None:
    fiscal = FiscalDef(year_start=MonthDayDef(month=7, day=15), year_named_by="start")
    got = fiscal_quarter(dt.date(2026, 7, 14), fiscal)
    assert (got.year, got.quarter, got.start, got.end) == (2025, 4, dt.date(2026, 4, 15), dt.date(2026, 7, 14))
    got = fiscal_quarter(dt.date(2026, 7, 15), fiscal)
    assert (got.year, got.quarter) == (2026, 1)
    calendar_year = fiscal_quarter(dt.date(2026, 12, 31), FiscalDef())
    assert (calendar_year.year, calendar_year.quarter, calendar_year.start) == (2026, 4, dt.date(2026, 10, 1))


def test_S6_the_global_accounts_total_employee_count_decides() -> None:
    result = hierarchy_segments(
        [account("g", employees_datafox=2500), account("c", "g", employees_datafox=10)], PB, NOW
    )
    child = result["c"]
    assert (child.segment, child.decided_by, child.ultimate_parent_id) == ("Large", "g", "g")
    assert (child.measure.value, child.measure.source) == (2500, "datafox")
    assert "global account" in child.why


def test_S6_a_negative_count_is_refused_naming_its_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        total_employees(account(employees_datafox=-5), PB, NOW)
    assert caught.value.field == "employees_datafox"


@pytest.mark.parametrize(("override", "licenses"), [(100, 100), (99, 100), (0, None), (-3, 10)])
def test_S6_potential_ee_users_override_refused_unless_more_than_licenses(override: int, licenses: int | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_potential_override(override, licenses)
    assert caught.value.field == "potential_ee_users_override"


@pytest.mark.parametrize(("override", "licenses"), [(101, 100), (5, None), (None, 300)])
def test_S6_potential_ee_users_override_above_licenses_is_accepted(override: int | None, licenses: int | None) -> None:
    validate_potential_override(override, licenses)


def test_S6_potential_users_is_a_valid_override_else_the_largest_developer_count() -> None:
    got = potential_users(account(how_many_developers=300, it_tedd_employees=900, number_of_licenses=50))
    assert (got.value, got.field, got.source) == (900, "potential_users", "it_tedd_employees")
    got = potential_users(account(how_many_developers=300, number_of_licenses=50, potential_ee_users_override=6000))
    assert (got.value, got.source) == (6000, "potential_ee_users_override")
    stored_bad = account(how_many_developers=300, number_of_licenses=500, potential_ee_users_override=400)
    got = potential_users(stored_bad)
    assert (got.value, got.source) == (500, "number_of_licenses")
    assert "ignored" in got.why


# --------------------------------------------------------------------------- S5 leads


@pytest.mark.parametrize(
    ("bucket", "count", "segment", "field"),
    [
        ("1-100", 200, "Mid-Market", "how_many_developers"),  # 001's example: the larger of the two
        ("751-4999", 200, "Large", "developers_bucket"),
        ("5000+", 10, "Strategic", "developers_bucket"),
        ("101-750", 5000, "Strategic", "how_many_developers"),
        ("101-750", 300, "Mid-Market", "how_many_developers"),  # both agree: the exact count is named
        (None, 40, "SMB", "how_many_developers"),
        ("1-100", None, "SMB", "developers_bucket"),
    ],
)
def test_S5_lead_segment_is_the_larger_of_its_two_developer_answers(
    bucket: str | None, count: int | None, segment: str, field: str
) -> None:
    got = lead_segment(USERS, developers_bucket=bucket, how_many_developers=count)
    assert (got.segment, got.field) == (segment, field)
    assert segment in got.why


def test_S5_the_larger_answer_wins_in_either_order() -> None:
    one = lead_segment(USERS, developers_bucket="751-4999", how_many_developers=20)
    other = lead_segment(USERS, developers_bucket="1-100", how_many_developers=2000)
    assert one.segment == other.segment == "Large"


def test_S5_a_matched_accounts_segment_wins() -> None:
    got = lead_segment(USERS, developers_bucket="5000+", how_many_developers=9000, matched_account_segment="SMB")
    assert (got.segment, got.field) == ("SMB", "matched_account")
    got = lead_segment(PB, employees=10, matched_account_segment="Large")
    assert (got.segment, got.field) == ("Large", "matched_account")


def test_S5_an_unknown_matched_account_leaves_the_leads_own_answers() -> None:
    got = lead_segment(PB, employees=150, matched_account_segment="Unknown")
    assert (got.segment, got.field) == ("Mid-Market", "employees")
    assert "matched account is Unknown" in got.why


def test_S5_under_the_employees_scheme_the_leads_employee_count_decides() -> None:
    got = lead_segment(PB, employees=25, developers_bucket="5000+", how_many_developers=9000)
    assert (got.segment, got.field) == ("SMB", "employees")
    assert lead_segment(PB, employees=2000).segment == "Large"


@pytest.mark.parametrize(
    ("label", "bounds"),
    [
        ("1-100", (1, 100)),
        ("101 - 750", (101, 750)),
        ("751–4999", (751, 4999)),
        ("5000+", (5000, None)),
        ("5,000+", (5000, None)),
        (">100", (101, None)),
        ("<100", (1, 99)),
        ("250", (250, 250)),
        ("lots", None),
        ("", None),
        ("750-101", None),
    ],
)
def test_S5_developer_bucket_labels(label: str, bounds: tuple[int, int | None] | None) -> None:
    assert parse_developers_bucket(label) == bounds


def test_S5_an_unreadable_bucket_is_ignored_and_said_so() -> None:
    got = lead_segment(USERS, developers_bucket="lots", how_many_developers=None)
    assert got.segment == "Unknown"
    assert "'lots' is not a range" in got.why


# --------------------------------------------------------------------------- S7 hierarchy


def test_S7_scenario_11_child_adopts_parent_large_segment() -> None:
    world = [
        account("rheinwerk", employees_datafox=12000),
        account("rheinwerk-labs", "rheinwerk", employees_datafox=30),
    ]
    result = hierarchy_segments(world, PB, dt.datetime(2026, 3, 3, 10, tzinfo=dt.UTC))
    labs = result["rheinwerk-labs"]
    assert (labs.segment, labs.own_segment, labs.parent_segment) == ("Large", "SMB", "Large")
    assert labs.decided_by == "rheinwerk"
    assert "its own count alone would give SMB" in labs.why
    assert result["rheinwerk"].segment == "Large"


def test_S7_a_global_account_adopts_a_larger_childs_segment() -> None:
    world = [
        account("g", employees_datafox=50),
        account("c1", "g", employees_datafox=500),
        account("c2", "g", employees_datafox=20),
        account("gc", "c2", employees_datafox=3000),
        account("other", employees_datafox=60),
    ]
    result = hierarchy_segments(world, PB, NOW)
    assert {i: r.segment for i, r in result.items()} == {
        "g": "Large",
        "c1": "Large",
        "c2": "Large",
        "gc": "Large",
        "other": "SMB",
    }
    assert {r.decided_by for i, r in result.items() if i != "other"} == {"gc"}
    assert result["gc"].ultimate_parent_id == "g"
    assert "largest segment in the hierarchy of g" in result["g"].why


def test_S7_parent_sales_segmentation_is_the_parents_own_segment() -> None:
    world = [
        account("g", employees_datafox=5000),
        account("c", "g", employees_datafox=300),
        account("gc", "c", employees_datafox=10),
    ]
    result = hierarchy_segments(world, PB, NOW)
    assert result["g"].parent_segment is None
    assert result["c"].parent_segment == "Large"
    assert result["gc"].parent_segment == "Mid-Market"
    assert result["gc"].own_segment == "SMB"


def test_S7_child_potential_users_do_not_roll_up() -> None:
    world = [account("g", how_many_developers=60)] + [account(f"c{i}", "g", how_many_developers=60) for i in range(20)]
    result = hierarchy_segments(world, USERS, NOW)
    assert result["g"].segment == "SMB"  # 21 x 60 = 1,260 would be Large if summed
    assert result["g"].measure.value == 60
    assert all(r.own_measure.value == 60 for r in result.values())


def test_S7_under_potential_users_the_largest_account_still_lifts_the_hierarchy() -> None:
    world = [account("g", how_many_developers=60), account("c", "g", it_tedd_employees=900)]
    result = hierarchy_segments(world, LEGACY, NOW)
    assert (result["g"].segment, result["g"].own_segment) == ("Large", "SMB")
    assert (result["g"].measure.source, result["c"].parent_segment) == ("it_tedd_employees", "SMB")


def test_S7_a_hierarchy_with_no_counts_is_unknown() -> None:
    result = hierarchy_segments([account("g"), account("c", "g", employees_linkedin=900)], PB, NOW)
    assert {r.segment for r in result.values()} == {"Unknown"}
    assert result["c"].why.startswith("Unknown: no account in the hierarchy of g")


def test_S7_a_parent_not_given_ends_the_chain_and_a_loop_is_broken() -> None:
    assert ultimate_parents({"c": "missing", "d": "c"}) == {"c": "c", "d": "c"}
    assert ultimate_parents({"a": "b", "b": "a", "x": "a"}) == {"a": "a", "b": "a", "x": "a"}
    assert ultimate_parents({"s": "s"}) == {"s": "s"}
    looped = [account("a", "b", employees_datafox=10), account("b", "a", employees_datafox=2500)]
    result = hierarchy_segments(looped, PB, NOW)
    assert {r.segment for r in result.values()} == {"Large"}


# --------------------------------------------------------------------------- playbook checks


def _broken(mutate: Any) -> list[tuple[str, str]]:
    data = yaml.safe_load(default_playbook_path().read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    mutate(data)
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return caught.value.issues


def test_S6_an_employee_source_listed_twice_is_refused() -> None:
    issues = _broken(lambda d: d["segmentation"]["employee_sources"].append("datafox"))
    assert any(p.startswith("segmentation.employee_sources") and "datafox" in r for p, r in issues)


def test_S6_an_unknown_employee_source_is_refused() -> None:
    issues = _broken(lambda d: d["segmentation"]["employee_sources"].append("crunchbase"))
    assert any(p.startswith("segmentation.employee_sources") for p, _ in issues)


def test_S6_a_fiscal_year_starting_after_the_28th_is_refused() -> None:
    issues = _broken(lambda d: d["fiscal"]["year_start"].update(day=30))
    assert any(p.startswith("fiscal.year_start.day") for p, _ in issues)


# --------------------------------------------------------------------------- properties


@st.composite
def hierarchies(draw: st.DrawFn) -> list[AccountSizing]:
    """A forest of up to 12 accounts: each parent is an earlier account (or none)."""
    size = draw(st.integers(min_value=1, max_value=12))
    out: list[AccountSizing] = []
    for i in range(size):
        parent = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=i - 1))) if i else None
        count = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=20000)))
        zoom = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=20000)))
        out.append(
            account(
                f"a{i}", f"a{parent}" if parent is not None else None, employees_datafox=count, employees_zoominfo=zoom
            )
        )
    return out


@settings(max_examples=200, deadline=None)
@given(world=hierarchies(), extra=st.integers(min_value=0, max_value=20000), where=st.integers(min_value=0))
def test_S7_adding_an_account_never_lowers_a_segment(world: list[AccountSizing], extra: int, where: int) -> None:
    before = hierarchy_segments(world, PB, NOW)
    parent = world[where % len(world)].id
    after = hierarchy_segments([*world, account("new", parent, employees_datafox=extra)], PB, NOW)
    seg = PB.segmentation
    for i, old in before.items():
        assert segment_rank(seg, after[i].segment) >= segment_rank(seg, old.segment)
        if before[i].ultimate_parent_id == before[parent].ultimate_parent_id:
            assert segment_rank(seg, after[i].segment) >= segment_rank(seg, after["new"].own_segment)


@settings(max_examples=200, deadline=None)
@given(world=hierarchies(), seed=st.integers())
def test_S7_every_account_of_a_hierarchy_has_its_max_segment_whatever_the_order(
    world: list[AccountSizing], seed: int
) -> None:
    first = hierarchy_segments(world, PB, NOW)
    shuffled = list(world)
    random.Random(seed).shuffle(shuffled)
    assert hierarchy_segments(shuffled, PB, NOW) == first
    assert hierarchy_segments(world, PB, NOW) == first  # computing twice changes nothing
    seg = PB.segmentation
    for result in first.values():
        peers = [r for r in first.values() if r.ultimate_parent_id == result.ultimate_parent_id]
        assert {p.segment for p in peers} == {result.segment}
        assert segment_rank(seg, result.segment) == max(segment_rank(seg, p.own_segment) for p in peers)
