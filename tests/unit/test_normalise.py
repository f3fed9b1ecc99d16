"""Normalisation (I4, I5) and the company-name reduction used by matching (M2)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.domain.normalise import (
    domain_parts,
    email_domain,
    email_key,
    is_free_mail,
    normalise_company,
    normalise_country,
    normalise_email,
    normalise_phone,
    phone_key,
    registrable_domain,
    same_word,
    stored_email,
    stored_phone,
    website_domain,
)
from leadflow.playbook.load import cached_playbook

ALIASES = cached_playbook().countries.aliases

# --------------------------------------------------------------------------- email


def test_I4_email_is_lower_cased_and_validated() -> None:
    assert normalise_email("  Jane.Doe@ACME.de ") == "jane.doe@acme.de"


@pytest.mark.parametrize("text", ["", "   ", None, "not an email", "jane@", "@acme.de", "jane@acme", "a b@acme.de"])
def test_I4_invalid_email_is_none(text: str | None) -> None:
    assert normalise_email(text) is None


def test_I4_email_domain_is_the_part_after_the_at_sign() -> None:
    assert email_domain("x@Mail.Acme.DE") == "mail.acme.de"
    assert email_domain("broken") is None


def test_I4_normalising_never_touches_the_network() -> None:
    """Email validation (no DNS) and the suffix list (bundled snapshot, never downloaded) work offline."""
    script = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise AssertionError("network used")

        class NoNetwork(socket.socket):
            connect = connect_ex = sendto = refuse

        socket.socket = NoNetwork
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        socket.gethostbyname = refuse
        from leadflow.domain.normalise import normalise_email, website_domain
        assert normalise_email("Jane@Acme.DE") == "jane@acme.de"
        assert website_domain("https://shop.acme.co.uk/x") == "acme.co.uk"
        print("offline ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "offline ok" in done.stdout


# --------------------------------------------------------------------------- websites and domains


@pytest.mark.parametrize(
    ("written", "domain"),
    [
        ("https://www.acme.de/", "acme.de"),
        ("acme.de", "acme.de"),
        ("WWW.Acme.co.uk/path", "acme.co.uk"),
        ("http://shop.acme.com", "acme.com"),
        ("http://acme.com/about", "acme.com"),
        ("  www.acme.com.au  ", "acme.com.au"),
        ("acme.com:8080/contact?x=1", "acme.com"),
        ("info@acme.fr", "acme.fr"),
        ("https://acme.github.io/site", "acme.github.io"),
        ("ACME.CO.JP.", "acme.co.jp"),
    ],
)
def test_I4_website_written_any_way_gives_its_registrable_domain(written: str, domain: str) -> None:
    assert website_domain(written) == domain


@pytest.mark.parametrize("written", ["", None, "localhost", "not a website", "192.168.0.1", "acme"])
def test_I4_text_without_a_public_suffix_is_no_website(written: str | None) -> None:
    assert website_domain(written) is None


def test_I4_registrable_domain_drops_subdomains() -> None:
    assert registrable_domain("eu.mail.acme.com.br") == "acme.com.br"
    parts = domain_parts("us.onyxcapital.co.uk")
    assert parts is not None and (parts.label, parts.suffix) == ("onyxcapital", "co.uk")


def test_I5_free_mail_domain_is_not_a_website() -> None:
    assert website_domain("gmail.com") is None
    assert website_domain("https://www.yahoo.co.uk/") is None
    assert website_domain("acme.io", free_mail_extra=["acme.io"]) is None


@pytest.mark.parametrize("domain", ["gmail.com", "GMX.de", "proton.me", "hotmail.fr", "qq.com", "mail.yahoo.co.uk"])
def test_I5_free_mail_domains_come_from_the_maintained_list(domain: str) -> None:
    assert is_free_mail(domain)


def test_I5_company_domains_are_not_free_mail_unless_the_playbook_says_so() -> None:
    assert not is_free_mail("acme.de")
    assert not is_free_mail(None)
    assert is_free_mail("staff.acme-mail.de", extra=["acme-mail.de"])


# --------------------------------------------------------------------------- phone and country


@pytest.mark.parametrize(
    ("text", "country", "e164"),
    [
        ("+49 30 1234567", None, "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("+44 20 7946 0958", "FR", "+442079460958"),
    ],
)
def test_I4_phone_is_e164(text: str, country: str | None, e164: str) -> None:
    assert normalise_phone(text, country) == e164


@pytest.mark.parametrize(
    ("text", "country"), [("555-1234", "US"), ("garbage", "US"), ("", "DE"), ("030 1234567", None)]
)
def test_I4_invalid_phone_is_none(text: str, country: str | None) -> None:
    assert normalise_phone(text, country) is None


@pytest.mark.parametrize(("text", "alpha2"), [("Deutschland", "DE"), ("usa", "US"), ("U.K.", "GB"), ("Brazil", "BR")])
def test_I4_country_text_maps_to_the_master_list(text: str, alpha2: str) -> None:
    found = normalise_country(text, ALIASES)
    assert found is not None and found.alpha_2 == alpha2


def test_I4_unknown_country_is_none() -> None:
    assert normalise_country("Narnia", ALIASES) is None
    assert normalise_country("", ALIASES) is None


# --------------------------------------------------------------------------- company names (M2)


@pytest.mark.parametrize(
    ("written", "same_as"),
    [
        ("Acme GmbH", "ACME"),
        ("Keystone Analytics S.p.A.", "keystone analytics"),
        ("Acme Pty. Ltd.", "Acme"),
        ("Acme Co., Ltd.", "Acme"),
        ("Acme GmbH & Co. KG", "Acme"),
        ("Orion A/S", "Orion"),
        ("Patel & Fernández India Pvt Ltd", "patel and fernandez india"),
        ("The Ivanova & Okafor S.L.", "ivanova and okafor"),
        ("Rossi Security Intl", "Rossi Security International Limited"),
        ("Müller Søren Ltd", "Muller Soren"),
        ("Alder Crystal Industries Corporaton", "Alder Crystal Industries Corp"),
        ("Weber and Nielsen K.K.", "Weber & Nielsen KK"),
    ],
)
def test_M2_company_name_loses_case_accents_legal_forms_and_abbreviations(written: str, same_as: str) -> None:
    assert normalise_company(written) == normalise_company(same_as)


def test_M2_company_key_ignores_word_order() -> None:
    assert normalise_company("Data Acme").key == normalise_company("Acme Data Ltd").key
    assert normalise_company("Pinnacle Freight").compact == normalise_company("Pinnaclefreight S.A.").compact


def test_M2_country_words_holdings_and_group_stay_in_the_name() -> None:
    """Removing them would merge distinct companies (measured in bench/matching.py's generated sets)."""
    assert normalise_company("Apex Payments UK Limited").tokens == ("apex", "payments", "uk")
    assert normalise_company("Quantum Holdings Pty Ltd").tokens == ("quantum", "holdings")
    assert normalise_company("Cedar Group AG").tokens == ("cedar", "group")


def test_M2_a_name_that_is_only_a_legal_form_is_kept() -> None:
    assert normalise_company("AG").tokens == ("ag",)
    assert not normalise_company("")


@pytest.mark.parametrize(
    ("typed", "known"),
    [
        ("captial", "capital"),
        ("anallytics", "analytics"),
        ("softwre", "software"),
        ("semicnoductors", "semiconductors"),
    ],
)
def test_M2_one_typing_slip_is_the_same_word(typed: str, known: str) -> None:
    assert same_word(typed, known) == 1


@pytest.mark.parametrize(
    ("typed", "known"),
    [("ember", "amber"), ("nova", "novak"), ("cordor", "corcor"), ("zenith", "zephyr"), ("retail", "robotics")],
)
def test_M2_other_words_are_not_typing_slips(typed: str, known: str) -> None:
    assert same_word(typed, known) is None


@pytest.mark.parametrize(
    ("written", "domain"),
    [("acme.example", "acme.example"), ("https://www.tulpdata.example/", "tulpdata.example"),
     ("eu.shop.acme.test", "acme.test")],
)
def test_I4_an_unknown_top_level_label_is_its_own_public_suffix(written: str, domain: str) -> None:
    """The Public Suffix List's default rule "*": reserved and unlisted TLDs still give a domain."""
    assert website_domain(written) == domain


# --------------------------------------------------------------------------- stored keys (M1)

# Addresses as typed, including what email-validator rewrites or refuses: case, accents, a dotless and a
# dotted capital i, a ligature, full-width letters, a combining dot, quotes, spaces, several @.
_EMAIL_CHARS = st.sampled_from([*"abcXYZ.+-_'0 @\"", "İ", "ı", "ß", "É", "é", "\u0307", "ﬁ", "Ａ", "K", "ǅ"])
_EMAILS = st.one_of(
    st.emails(),
    st.text(_EMAIL_CHARS, max_size=30),
    st.builds(lambda local, host: f"{local}@{host}.com", st.text(_EMAIL_CHARS, min_size=1, max_size=12),
              st.text(_EMAIL_CHARS, min_size=1, max_size=12)),
    st.none(),
)
_COUNTRIES = st.sampled_from([None, "US", "DE", "GB", "FR", "IN", "MX", "NL", "de", ""])
_PHONES = st.one_of(
    st.none(),
    st.text(st.sampled_from([*"0123456789 +-()x."]), max_size=18),
    st.sampled_from(["030 1234567", "+49 30 1234567", "(617) 810-6583", "+1 617 810 6583", "020 7946 0018",
                     "+44 20 7946 0018", "1234", "", "  ", "+52 55 2095 4312", "022 7823 5781"]),
)


@settings(max_examples=600, deadline=None)
@given(_EMAILS)
def test_M1_an_address_is_normalised_once_its_stored_key_reads_as_normalising_it(email: str | None) -> None:
    """A stored candidate's address is read from its `email_key` instead of being checked again; that is
    exactly `normalise_email`, and a missing key (a row written another way) normalises it on the spot.
    The search takes the domain of a normalised address as it is: normalising is idempotent."""
    assert stored_email(email, email_key(email)) == normalise_email(email)
    assert stored_email(email, None) == normalise_email(email)
    normalised = normalise_email(email)
    if normalised is not None:
        assert normalise_email(normalised) == normalised
        assert email_domain(normalised) == normalised.rsplit("@", 1)[1]


@settings(max_examples=600, deadline=None)
@given(_PHONES, _COUNTRIES, _COUNTRIES)
def test_M1_a_number_is_read_from_its_stored_key_only_in_the_country_it_was_read_in(
    phone: str | None, stored_in: str | None, read_in: str | None
) -> None:
    """The key remembers the country a number was read in: read in another (a playbook alias gives the
    record another country), the number is normalised again, so the key never changes the answer."""
    assert stored_phone(phone, read_in, phone_key(phone, stored_in)) == normalise_phone(phone, read_in)
    assert stored_phone(phone, read_in, None) == normalise_phone(phone, read_in)


def test_M1_stored_keys_name_an_invalid_value_apart_from_a_missing_one() -> None:
    assert (email_key(None), email_key("not an address"), email_key("Jane@Acme.COM")) == \
        (None, "", "jane@acme.com")
    assert (phone_key(None, "DE"), phone_key("1234", "DE"), phone_key("030 1234567", "de")) == \
        (None, "DE:", "DE:+49301234567")
    assert phone_key("+1 617 810 6583", None) == ":+16178106583"
