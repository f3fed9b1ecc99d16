"""Normalisation (I4, I5) and the company-name reduction used by matching (M2)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from leadflow.domain.normalise import (
    domain_parts,
    email_domain,
    is_free_mail,
    normalise_company,
    normalise_country,
    normalise_email,
    normalise_phone,
    registrable_domain,
    same_word,
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
