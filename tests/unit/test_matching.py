"""Lead-to-account matching (M2): domains first, then normalised names, country as evidence."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.domain.matching import AccountIndex, AccountRow, LeadRow, Match
from leadflow.playbook.load import cached_playbook

ALIASES = cached_playbook().countries.aliases


def an_index(*accounts: AccountRow) -> AccountIndex:
    return AccountIndex(accounts, country_aliases=ALIASES)


def an_account(
    id: str, name: str, website: str | None = None, country: str | None = None, parent: str | None = None
) -> AccountRow:
    return AccountRow(id=id, name=name, website=website, parent_id=parent, country=country)


def a_lead(
    email: str | None = None, company: str | None = None, website: str | None = None, country: str | None = None
) -> LeadRow:
    return LeadRow(id="l1", email=email, company=company, website=website, country=country)


ACME = an_account("acme", "Acme GmbH", "https://www.acme.de", "Germany")


def matched(index: AccountIndex, lead: LeadRow) -> str | None:
    found = index.match(lead)
    return found.account_id if found else None


# --------------------------------------------------------------------------- domains


def test_M2_email_domain_matches_the_account_website() -> None:
    found = an_index(ACME).match(a_lead(email="jane@acme.de", country="Germany"))
    assert found == Match("acme", 0.98, "email domain acme.de = website acme.de")


def test_M2_subdomain_of_the_email_matches_the_registrable_domain() -> None:
    found = an_index(ACME).match(a_lead(email="jane@eu.mail.acme.de"))
    assert found is not None and found.account_id == "acme"
    assert found.evidence == "email domain eu.mail.acme.de is under website acme.de"


def test_M2_website_column_written_any_way_matches() -> None:
    found = an_index(ACME).match(a_lead(website="WWW.Acme.de/contact"))
    assert found is not None and found.account_id == "acme"
    assert "website acme.de" in found.evidence


def test_M2_child_sharing_its_parents_domain_is_matched_to_the_parent() -> None:
    index = an_index(
        an_account("uk", "Acme UK Ltd", "acme.com", "United Kingdom", parent="de"),
        an_account("jp", "Acme Japan K.K.", "http://acme.com/about", "Japan", parent="uk"),
        an_account("de", "Acme GmbH", "https://www.acme.com", "Germany"),
    )
    found = index.match(a_lead(email="jane@acme.com", country="Japan"))
    assert found is not None and found.account_id == "de"
    assert "shared by 3 accounts" in found.evidence


def test_M2_highest_account_holding_the_domain_wins_when_the_top_has_another() -> None:
    index = an_index(
        an_account("top", "Acme GmbH", "acme.de", "Germany"),
        an_account("fr", "Acme France SAS", "acmefrance.fr", "France", parent="top"),
        an_account("es", "Acme España S.L.", "acmefrance.fr", "Spain", parent="fr"),
    )
    assert matched(index, a_lead(email="x@acmefrance.fr", country="Spain")) == "fr"
    assert index.ultimate_parent("es") == "top"


def test_M2_child_with_its_own_domain_is_matched_itself() -> None:
    index = an_index(ACME, an_account("fr", "Acme France SAS", "acmefrance.fr", "France", parent="acme"))
    assert matched(index, a_lead(email="x@acmefrance.fr")) == "fr"


def test_M2_same_name_under_another_suffix_matches_in_the_leads_country() -> None:
    index = an_index(
        an_account("in", "Onyx Capital Pvt Ltd", "http://onyxcapital.com/about", "India"),
        an_account("uk", "Onyx Capital PLC", "www.onyxcapital.co.uk", "United Kingdom"),
    )
    found = index.match(a_lead(email="hana@onyxcapital.in", country="India"))
    assert found is not None and found.account_id == "in"
    assert "other suffix" in found.evidence


def test_M2_free_mail_never_matches_by_domain() -> None:
    index = an_index(an_account("fan", "Gmail Fan Club Ltd", "gmail.com", "United Kingdom"))
    assert index.match(a_lead(email="jane@gmail.com", country="United Kingdom")) is None
    assert index.match(a_lead(website="https://gmail.com", country="United Kingdom")) is None


def test_M2_free_mail_with_a_typed_company_matches_by_name() -> None:
    found = an_index(ACME).match(a_lead(email="jane.doe77@gmail.com", company="ACME gmbh", country="Deutschland"))
    assert found is not None and found.account_id == "acme"
    assert found.evidence == "company 'ACME gmbh' ≈ 'Acme GmbH' (name 1.00, same country)"


# --------------------------------------------------------------------------- names


def test_M2_names_match_across_accents_suffixes_ampersand_abbreviations_and_typos() -> None:
    index = an_index(
        an_account("pf", "Patel & Fernández K.K.", country="Japan"),
        an_account("ka", "Keystone Analytics S.p.A.", country="Italy"),
        an_account("rs", "Rossi Security International Pvt Ltd", country="India"),
    )
    assert matched(index, a_lead(company="PATEL AND FERNANDEZ", country="Japan")) == "pf"
    assert matched(index, a_lead(company="Keystone Anallytics Inc", country="Italy")) == "ka"
    assert matched(index, a_lead(company="rossi security intl", country="India")) == "rs"


def test_M2_word_order_costs_but_partner_names_keep_their_order() -> None:
    index = an_index(
        an_account("ad", "Acme Data Inc.", country="United States"),
        an_account("sb", "Silva & Bianchi S.r.l.", country="Italy"),
    )
    in_order = index.match(a_lead(company="Acme Data", country="United States"))
    reordered = index.match(a_lead(company="Data Acme", country="United States"))
    assert in_order is not None and reordered is not None and reordered.account_id == "ad"
    assert reordered.confidence < in_order.confidence
    assert index.match(a_lead(company="Bianchi & Silva", country="Italy")) is None


def test_M2_near_miss_in_another_country_does_not_match() -> None:
    """An existing brand with a different trade word, in another country, is another company."""
    index = an_index(
        an_account("uw", "Union Willow Robotics PLC", "unionwillowrobotics.co.uk", "United Kingdom"),
        an_account("sz", "Solstice Zephyr Learning Ltd", "solsticezephyrlearning.ca", "Canada"),
        an_account("gb", "Glacier Biotech Limited", "glacierbiotech.co.uk", "United Kingdom"),
    )
    assert index.match(a_lead(email="a@gmx.de", company="Union Willow Retail AG", country="Germany")) is None
    assert index.match(a_lead(company="Solstice Zenith Learning Ltd", country="United Kingdom")) is None
    assert index.match(a_lead(company="Glacier Elm Biotech Ltd", country="United Kingdom")) is None


def test_M2_same_name_in_different_countries_goes_to_the_one_in_the_leads_country() -> None:
    index = an_index(
        an_account("de", "The Silver Motors AG", "https://silvermotors.de/", "Germany"),
        an_account("ca", "The Silver Motors Inc.", "www.silvermotors.com", "Canada"),
    )
    assert matched(index, a_lead(email="x@gmail.com", company="Silver Motors", country="Canada")) == "ca"
    assert matched(index, a_lead(email="x@gmail.com", company="silver motors gmbh", country="Germany")) == "de"
    nowhere = index.decide(a_lead(email="x@gmail.com", company="Silver Motors", country="France"))
    assert nowhere.match is None and "ambiguous" in nowhere.reason


def test_M2_country_word_in_the_typed_name_points_to_the_subsidiary() -> None:
    index = an_index(
        an_account("top", "Rossi Security International Pvt Ltd", "rossisecurity.in", "India"),
        an_account("de", "Rossi Security International Deutschland GmbH", "rossisecurity.de", "Germany", "top"),
    )
    assert matched(index, a_lead(company="Rossi Security Intl Deutschlnd", country="Germany")) == "de"
    assert matched(index, a_lead(company="Rossi Security International", country="India")) == "top"


def test_M2_country_word_naming_a_third_country_is_another_name() -> None:
    index = an_index(an_account("ap", "Apex Payments Limited", country="India"))
    assert matched(index, a_lead(company="Apex Payments UK", country="United Kingdom")) == "ap"
    assert index.match(a_lead(company="Apex Payments Japan", country="United Kingdom")) is None


def test_M2_unknown_company_does_not_match_and_says_why() -> None:
    decision = an_index(ACME).decide(a_lead(email="x@nothing-like-it.example", company="Nothing Like It Ltd"))
    assert decision.match is None
    assert decision.reason == "no account has this domain or a name like it"


def test_M2_corporate_email_elsewhere_weakens_a_name_match() -> None:
    index = an_index(ACME)
    free = index.match(a_lead(email="x@gmail.com", company="Acme", country="Germany"))
    elsewhere = index.match(a_lead(email="x@acme-robotics.fr", company="Acme", country="Germany"))
    assert free is not None and elsewhere is not None
    assert elsewhere.confidence < free.confidence
    assert "is not its website" in elsewhere.evidence


@settings(max_examples=150, deadline=None)
@given(
    email=st.one_of(st.none(), st.emails(), st.text(max_size=30)),
    company=st.one_of(st.none(), st.text(max_size=40)),
    website=st.one_of(st.none(), st.text(max_size=30)),
    country=st.one_of(st.none(), st.sampled_from(["Germany", "de", "Narnia", ""])),
)
def test_M2_any_lead_gets_a_match_in_unit_interval_or_none(
    email: str | None, company: str | None, website: str | None, country: str | None
) -> None:
    index = an_index(ACME, an_account("x", "&", None, None), an_account("y", "The The Ltd", "", "Canada"))
    found = index.match(LeadRow("l", email, company, website, country))
    assert found is None or (0.0 <= found.confidence <= 1.0 and found.evidence)


def test_M2_index_once_then_match_without_comparing_every_pair() -> None:
    """5,000 x 5,000 in well under the time a pairwise loop needs (bench/matching.py does 100k x 100k)."""
    words = ["Alder", "Birch", "Cedar", "Delta", "Ember", "Falcon", "Glacier", "Harbor", "Indigo", "Juniper"]
    trades = ["Analytics", "Biotech", "Capital", "Devices", "Energy", "Foods", "Games", "Hotels", "Logistics", "Media"]
    rows = [
        an_account(f"a{i}", f"{words[i % 10]} {words[i // 10 % 10]} {trades[i // 100 % 10]} {i // 1000} GmbH")
        for i in range(5000)
    ]
    start = time.perf_counter()
    index = an_index(*rows)
    hits = sum(matched(index, a_lead(company=row.name.upper())) == row.id for row in rows)
    assert hits == len(rows)
    assert time.perf_counter() - start < 10


# --------------------------------------------------------------------------- incremental index

_NAMES = ["Acme", "Acme Holdings", "Globex", "Initech", "Umbrella Corp", "Acme Deutschland", "Stark Industries",
          "Wayne Enterprises", "Globex UK", "Hooli"]
_SITES = [None, "acme.com", "acme.de", "globex.com", "initech.io", "hooli.xyz", "stark.com", "gmail.com"]
_account_rows = st.builds(
    lambda i, name, site, parent, country: AccountRow(
        id=f"a{i}", name=name, website=site, parent_id=f"a{parent}" if parent is not None else None, country=country
    ),
    st.integers(0, 7), st.sampled_from(_NAMES), st.sampled_from(_SITES), st.none() | st.integers(0, 7),
    st.sampled_from([None, "Germany", "US", "United Kingdom"]),
)
_PROBES = [a_lead(email=f"x@{site}", company=name) for site in ("acme.com", "globex.com", "hooli.xyz", "other.org")
           for name in ("Acme", "Globex Ltd", "Hooli", "Wayne")] + [a_lead(company=n) for n in _NAMES]


def _by_id(rows: list[AccountRow]) -> dict[str, AccountRow]:
    return {r.id: r for r in rows}  # the last version of each id wins, as in the store


@settings(max_examples=150, deadline=None)
@given(st.lists(_account_rows, max_size=8), st.lists(_account_rows, max_size=6), st.lists(st.integers(0, 7)))
def test_M2_index_brought_up_to_date_matches_like_one_built_afresh(
    first: list[AccountRow], changed: list[AccountRow], deleted: list[int]
) -> None:
    """A long-lived index (a server's) applies account changes instead of being rebuilt per request:
    after creations, changes, re-parenting and deletions it must decide every lead like a fresh one."""
    before = _by_id(first)
    index = an_index(*before.values())
    gone = [f"a{i}" for i in deleted if f"a{i}" in before and f"a{i}" not in _by_id(changed)]
    index.apply_changes(_by_id(changed).values(), removed=gone)
    after = {**before, **_by_id(changed)}
    for account_id in gone:
        after.pop(account_id, None)
    fresh = an_index(*after.values())
    for probe in _PROBES:
        assert index.decide(probe) == fresh.decide(probe), probe
    for account_id in after:
        assert index.ultimate_parent(account_id) == fresh.ultimate_parent(account_id)
