"""S8 as pure rules: the territory address, the ultimate parent's address, country/state -> region."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pycountry
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.domain.territory import (
    AccountPlace,
    Address,
    hierarchy_territories,
    is_public_sector,
    normalise_region,
    region_index,
    region_of,
    territory_address,
)
from leadflow.errors import PlaybookError
from leadflow.playbook.load import cached_playbook, default_playbook_path, load_playbook, parse_playbook

PB = cached_playbook(None)
LEGACY = load_playbook(Path(__file__).parents[2] / "playbooks" / "gitlab-legacy.yaml")


# --------------------------------------------------------------------------- address priority


def test_S8_the_address_source_priority_is_playbook_data() -> None:
    assert PB.territory.address_sources == ["admin_override", "datafox", "zoominfo", "shipping", "billing"]


ALL_SOURCES = {
    "admin_override": Address("Japan"),
    "datafox": Address("Germany"),
    "zoominfo": Address("France"),
    "shipping": Address("Brazil"),
    "billing": Address("United States", "California"),
}


@pytest.mark.parametrize(
    ("missing", "source", "country"),
    [
        ([], "admin_override", "Japan"),
        (["admin_override"], "datafox", "Germany"),
        (["admin_override", "datafox"], "zoominfo", "France"),
        (["admin_override", "datafox", "zoominfo"], "shipping", "Brazil"),
        (["admin_override", "datafox", "zoominfo", "shipping"], "billing", "United States"),
    ],
)
def test_S8_territory_address_takes_the_first_source_in_priority(missing: list[str], source: str, country: str) -> None:
    given_sources = {k: v for k, v in ALL_SOURCES.items() if k not in missing}
    got = territory_address(PB, given_sources)
    assert got.source == source
    assert got.address is not None and got.address.country == country


def test_S8_a_source_without_a_country_is_skipped_and_mappings_are_read() -> None:
    stored: dict[str, Any] = {
        "admin_override": {"country": "", "state": "Bavaria"},
        "datafox": None,
        "zoominfo": {"country": "Netherlands", "city": "Utrecht", "zip": "3511"},
    }
    got = territory_address(PB, stored)
    assert got.source == "zoominfo"
    assert got.address == Address("Netherlands", None, "Utrecht", "3511")
    assert "the admin override has no country" in got.why


def test_S8_no_address_at_all_is_said_so() -> None:
    got = territory_address(PB, {})
    assert (got.address, got.source) == (None, None)
    assert got.why.startswith("no address source names a country")


# --------------------------------------------------------------------------- regions


@pytest.mark.parametrize(
    ("country", "state", "region", "subdivision"),
    [
        ("Germany", None, "EMEA", None),
        ("Deutschland", "Bayern", "EMEA", None),  # a country in one region: the state does not matter
        ("Netherlands", None, "EMEA", None),
        ("United Kingdom", None, "EMEA", None),
        ("Japan", None, "APAC", None),
        ("JP", None, "APAC", None),
        ("Brazil", None, "LATAM", None),
        ("Mexico", None, "LATAM", None),
        ("United States", "California", "US West", "US-CA"),
        ("USA", "CA", "US West", "US-CA"),
        ("US", "Washington", "US West", "US-WA"),
        ("United States", "Massachusetts", "US East", "US-MA"),
        ("United States", "US-TX", "US East", "US-TX"),
        ("United States", "new york", "US East", "US-NY"),
        ("Canada", "British Columbia", "US West", "CA-BC"),
        ("Canada", "AB", "US West", "CA-AB"),
        ("Canada", "Ontario", "US East", "CA-ON"),
        ("Canada", "Québec", "US East", "CA-QC"),
    ],
)
def test_S8_region_from_country_and_us_state_or_canadian_province(
    country: str, state: str | None, region: str, subdivision: str | None
) -> None:
    got = region_of(PB, country, state)
    assert (got.region, got.subdivision) == (region, subdivision)
    assert region in got.why


@pytest.mark.parametrize(
    ("country", "state", "why"),
    [
        ("Atlantis", None, "'Atlantis' is not a known country"),
        (None, None, "no country"),
        ("  ", None, "no country"),
        ("United States", None, "divided between regions by state; no state given"),
        ("United States", "Narnia", "'Narnia' is not a state or province of United States"),
        ("Canada", "", "no state given"),
    ],
)
def test_S8_no_region_comes_with_a_reason(country: str | None, state: str | None, why: str) -> None:
    got = region_of(PB, country, state)
    assert got.region is None
    assert why in got.why


def test_S8_every_country_and_state_lands_in_one_current_region_never_ncsa() -> None:
    current = {r.name for r in PB.regions if not r.legacy}
    for record in pycountry.countries:
        got = region_of(PB, record.alpha_2)
        if got.region is None:
            assert record.alpha_2 in {"US", "CA"}, got.why
        else:
            assert got.region in current
    for sub in pycountry.subdivisions.get(country_code="US") or []:  # type: ignore[no-untyped-call]
        if sub.type in {"State", "District"}:
            assert region_of(PB, "US", sub.code).region in {"US East", "US West"}, sub.code


def test_S8_ncsa_is_accepted_as_a_legacy_region() -> None:
    ncsa = normalise_region(PB, "ncsa")
    assert ncsa is not None and (ncsa.name, ncsa.legacy) == ("NCSA", True)
    emea = normalise_region(PB, " EMEA ")
    assert emea is not None and (emea.name, emea.legacy) == ("EMEA", False)
    assert normalise_region(PB, "Narnia") is None
    assert normalise_region(PB, None) is None


def test_S8_the_region_index_is_built_once_per_playbook() -> None:
    assert region_index(PB) is region_index(PB)
    assert region_index(PB).by_country["DE"] == "EMEA"
    assert region_index(LEGACY).by_country["US"] == "NA"


def test_S8_the_legacy_playbook_keeps_its_own_regions() -> None:
    assert region_of(LEGACY, "United States", "California").region == "NA"
    assert region_of(LEGACY, "Brazil").region == "NA"
    assert region_of(LEGACY, "Germany").region == "EMEA"


# --------------------------------------------------------------------------- public sector


def test_S8_public_sector_is_playbook_data() -> None:
    public = PB.territory.public_sector
    assert public.region == "Public Sector"
    assert {i.name for i in public.industries} >= {"Federal", "Government", "Non-Profit", "Education"}
    assert LEGACY.territory.public_sector.region is None


@pytest.mark.parametrize(
    ("industry", "country", "flagged", "public"),
    [
        ("Education", "United States", False, True),  # R7: a US university, public or private
        ("Higher Education", "USA", False, True),
        ("Education", "Germany", False, False),  # R7: elsewhere the regional SDR
        ("Government", "Germany", False, True),
        ("Government Administration", None, False, True),
        ("Non-Profit", "France", False, True),
        ("Nonprofit Organization Management", "France", False, True),
        ("Software", "United States", False, False),
        ("Software", "United States", True, True),
        (None, None, False, False),
    ],
)
def test_S8_is_public_sector_by_industry_country_and_flag(
    industry: str | None, country: str | None, flagged: bool, public: bool
) -> None:
    got = is_public_sector(PB, industry=industry, country=country, flagged=flagged)
    assert got.public_sector is public
    assert got.why


def test_S8_a_public_sector_record_gets_the_public_sector_region() -> None:
    got = region_of(PB, "United States", "Massachusetts", public_sector=True)
    assert (got.region, got.country) == ("Public Sector", "US")
    # The legacy playbook has no Public Sector region: geography decides.
    assert region_of(LEGACY, "United States", "Massachusetts", public_sector=True).region == "NA"


def test_S8_a_public_sector_region_that_does_not_exist_is_refused() -> None:
    data = copy.deepcopy(yaml.safe_load(default_playbook_path().read_text(encoding="utf-8")))
    data["territory"]["public_sector"]["region"] = "Federal"
    data["territory"]["public_sector"]["industries"].append({"name": "Military", "countries": ["Narnia"]})
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    paths = " ".join(p for p, _ in caught.value.issues)
    assert "territory.public_sector.region" in paths
    assert "territory.public_sector.industries[5].countries[0]" in paths


# --------------------------------------------------------------------------- hierarchy


def place(id: str, parent: str | None = None, **addresses: Address) -> AccountPlace:
    return AccountPlace(id, parent, addresses)


def test_S8_the_ultimate_parents_address_decides_for_the_hierarchy() -> None:
    world = [
        place("global", datafox=Address("United States", "California")),
        place("de", "global", admin_override=Address("Germany")),
        place("jp", "de", billing=Address("Japan")),
    ]
    result = hierarchy_territories(world, PB)
    for i in ("global", "de", "jp"):
        assert result[i].region.region == "US West"
        assert result[i].decided_by == "global"
        assert result[i].ultimate_parent_id == "global"
    assert result["jp"].address.source == "datafox"
    assert "the ultimate parent global's address" in result["jp"].why


def test_S8_without_a_parent_address_the_closest_account_below_it_decides() -> None:
    world = [
        place("global"),
        place("emea", "global", zoominfo=Address("France")),
        place("office", "emea", shipping=Address("Japan")),
        place("lone", "global"),
    ]
    result = hierarchy_territories(world, PB)
    assert (result["office"].decided_by, result["office"].region.region) == ("emea", "EMEA")
    assert "global, the ultimate parent, has none" in result["office"].why
    assert (result["lone"].decided_by, result["lone"].region.region) == (None, None)
    assert result["global"].region.region is None


@st.composite
def forests(draw: st.DrawFn) -> list[AccountPlace]:
    countries = ["Germany", "Japan", "Brazil", "Atlantis", None]
    size = draw(st.integers(min_value=1, max_value=10))
    out = []
    for i in range(size):
        parent = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=i - 1))) if i else None
        country = draw(st.sampled_from(countries))
        addresses = {"billing": Address(country)} if country else {}
        out.append(place(f"a{i}", f"a{parent}" if parent is not None else None, **addresses))
    return out


@settings(max_examples=100, deadline=None)
@given(world=forests())
def test_S8_a_hierarchy_shares_its_ultimate_parents_territory_and_twice_is_the_same(world: list[AccountPlace]) -> None:
    result = hierarchy_territories(world, PB)
    assert hierarchy_territories(list(reversed(world)), PB) == result
    for account in world:
        mine = result[account.id]
        top = result[mine.ultimate_parent_id]
        if top.decided_by == top.account_id:
            assert (mine.decided_by, mine.region) == (top.decided_by, top.region)
