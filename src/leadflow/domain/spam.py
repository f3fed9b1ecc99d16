"""Spam (I6): is this lead from a temporary address, forged or incoherent, or from a blocked domain?

Seed 002 sends leads "with incoherent or obviously forged information, or email addresses from
temporary domains that self-terminate" to the SPAM DELETION campaign, and puts a domain that keeps
sending them on a block list. Temporary domains come from the maintained community list
(`disposable-email-domains` on PyPI, the list most sign-up forms use), adjusted by the playbook's
own extra and allow lists; every sign of forged data is a playbook rule with an id, a severity and
a sentence that says why it fired. Deletion is irreversible, so the default rules aim at precision:
real names in any script, short names ("Ng"), apostrophes and accents never look like spam.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from disposable_email_domains import blocklist as _DISPOSABLE_DOMAINS

from leadflow.domain.normalise import email_domain, fold_text, normalise_phone
from leadflow.playbook.schema import SpamDef, SpamRuleDef

Severity = Literal["spam", "suspect", "blocked"]

BLOCKED_RULE = "blocked_domain"

_LABELS = {
    "email": "email",
    "first_name": "first name",
    "last_name": "last name",
    "company": "company",
    "title": "title",
    "phone": "phone",
    "website": "website",
}
# A pattern is tried on at most this much of a field: playbook patterns are trusted, field text is not.
_MAX_MATCHED = 1024
_SHOWN = 40


@dataclass(frozen=True)
class SpamInput:
    """What the spam rules read of a person, as it arrived (the email may already be normalised)."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    title: str | None = None
    phone: str | None = None
    country_alpha2: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class SpamReason:
    """One rule that fired: its id, what it means (spam, suspect, blocked) and a sentence for people."""

    rule: str
    severity: Severity
    why: str


@dataclass(frozen=True)
class SpamVerdict:
    """`spam`: a `spam` rule fired (SPAM DELETION); `blocked`: intake refuses the lead; `reasons`: all that fired."""

    spam: bool
    blocked: bool
    reasons: list[SpamReason] = field(default_factory=list)

    @property
    def suspect(self) -> bool:
        """Only `suspect` signs: worth a look, never deleted on their own."""
        return not self.spam and any(r.severity == "suspect" for r in self.reasons)


def check_spam(person: SpamInput, spam: SpamDef, *, blocked_domains: frozenset[str]) -> SpamVerdict:
    """Run the block list, then the playbook's spam rules in order; every rule that fires gives a reason.

    `blocked_domains` is the block list kept at run time (lower-case domains); the playbook's own
    `blocked_domains` always count too. A domain blocks its subdomains.
    """
    reasons: list[SpamReason] = []
    hosts = _email_hosts(person.email)
    blocked = _listed(hosts, blocked_domains) or _listed(hosts, frozenset(spam.blocked_domains))
    if blocked is not None:
        reasons.append(SpamReason(BLOCKED_RULE, "blocked", _blocked_why(hosts[0], blocked)))
    for rule in spam.rules:
        why = _CHECKS[rule.check](person, rule, spam)
        if why is not None:
            reasons.append(SpamReason(rule.id, rule.severity, why))
    # A finding is reported once, at its highest severity ("asdf qwerty" fires the spam rule for both
    # names and the suspect rule for one name with the same words).
    certain = {r.why for r in reasons if r.severity == "spam"}
    reasons = [r for r in reasons if r.severity != "suspect" or r.why not in certain]
    return SpamVerdict(
        spam=any(r.severity == "spam" for r in reasons),
        blocked=blocked is not None,
        reasons=reasons,
    )


# --------------------------------------------------------------------------- domains


def disposable_domain(host: str | None, spam: SpamDef) -> str | None:
    """The temporary-address domain `host` is (or is under), or None; the allow list wins."""
    hosts = _domain_and_parents(host)
    if not hosts or _listed(hosts, frozenset(spam.allow_domains)) is not None:
        return None
    return _listed(hosts, _DISPOSABLE_DOMAINS) or _listed(hosts, frozenset(spam.disposable_domains_extra))


def blocked_domain(host: str | None, blocked_domains: Iterable[str]) -> str | None:
    """The block-list entry that `host` is (or is under), or None."""
    return _listed(_domain_and_parents(host), frozenset(blocked_domains))


def _email_hosts(email: str | None) -> tuple[str, ...]:
    """The email's domain and every domain it is under; read raw when the address is not valid."""
    host = email_domain(email)
    if host is None and email and "@" in email:
        host = email.rsplit("@", 1)[1]
    return _domain_and_parents(host)


@lru_cache(maxsize=4096)
def _domain_and_parents(host: str | None) -> tuple[str, ...]:
    """ "a.b.mailinator.com" -> ("a.b.mailinator.com", "b.mailinator.com", "mailinator.com"), also in punycode."""
    if not host:
        return ()
    text = "".join(host.split()).lower().strip(".")
    spellings = [text]
    if not text.isascii():
        with contextlib.suppress(UnicodeError):  # not a valid international name: the Unicode spelling only
            spellings.append(text.encode("idna").decode("ascii"))
    out: list[str] = []
    for spelling in spellings:
        labels = spelling.split(".")
        out.extend(".".join(labels[i:]) for i in range(len(labels) - 1))
    return tuple(dict.fromkeys(d for d in out if d))


def _listed(hosts: tuple[str, ...], listed: frozenset[str] | set[str]) -> str | None:
    return next((h for h in hosts if h in listed), None)


def _blocked_why(host: str, entry: str) -> str:
    which = "" if host == entry else f" is under {entry}, which"
    return f"email domain {host}{which} is on the domain block list: new leads from it are refused"


# --------------------------------------------------------------------------- checks


Check = Callable[[SpamInput, SpamRuleDef, SpamDef], str | None]


def _disposable(person: SpamInput, rule: SpamRuleDef, spam: SpamDef) -> str | None:
    hosts = _email_hosts(person.email)
    found = disposable_domain(hosts[0], spam) if hosts else None
    if found is None:
        return None
    if found == hosts[0]:
        return f"email domain {found} is a temporary address"
    return f"email domain {hosts[0]} is under {found}, a temporary address service"


def _fields_equal(person: SpamInput, rule: SpamRuleDef, spam: SpamDef) -> str | None:
    folded = [" ".join(fold_text(_value(person, f)).split()) for f in rule.fields]
    if not folded[0] or any(v != folded[0] for v in folded):
        return None
    labels = [_LABELS[f] for f in rule.fields]
    both = "both" if len(labels) == 2 else "all"
    return f"{_join(labels)} are {both} '{_short(folded[0])}'"


def _field_matches(person: SpamInput, rule: SpamRuleDef, spam: SpamDef) -> str | None:
    pattern = _compiled(rule.pattern or "")
    meaning = f": {rule.description}" if rule.description else f" matches /{rule.pattern}/"
    return _per_field(person, rule, lambda text: meaning if pattern.search(text[:_MAX_MATCHED]) else None)


def _no_letters(person: SpamInput, rule: SpamRuleDef, spam: SpamDef) -> str | None:
    return _per_field(person, rule, lambda text: None if _has_letter(text) else " has no letters")


def _keyboard_mash(person: SpamInput, rule: SpamRuleDef, spam: SpamDef) -> str | None:
    return _per_field(person, rule, lambda text: _tail(mash(text)))


def _phone_invalid(person: SpamInput, rule: SpamRuleDef, spam: SpamDef) -> str | None:
    phone = (person.phone or "").strip()
    country = (person.country_alpha2 or "").strip().upper()
    known_country = len(country) == 2 and country.isascii() and country.isalpha()
    if not phone or not (known_country or phone.startswith("+")):
        return None  # without a country a national number cannot be judged
    if normalise_phone(phone, country if known_country else None) is not None:
        return None
    where = f" for {country}" if known_country and not phone.startswith("+") else ""
    return f"phone '{_short(phone)}' is not a valid number{where}"


_CHECKS: dict[str, Check] = {
    "disposable_domain": _disposable,
    "fields_equal": _fields_equal,
    "field_matches": _field_matches,
    "no_letters": _no_letters,
    "keyboard_mash": _keyboard_mash,
    "phone_invalid": _phone_invalid,
}


def _per_field(person: SpamInput, rule: SpamRuleDef, sign: Callable[[str], str | None]) -> str | None:
    """Apply `sign` to each filled-in field; `match: all` needs every listed field filled in and showing it."""
    found: list[str] = []
    for name in rule.fields:
        text = _value(person, name).strip()
        if not text:
            if rule.match == "all":
                return None
            continue
        what = sign(text)
        if what is not None:
            found.append(f"{_LABELS[name]} '{_short(text)}'{what}")
        elif rule.match == "all":
            return None
    return "; ".join(found) or None


def _value(person: SpamInput, name: str) -> str:
    value = getattr(person, name, None)
    return value if isinstance(value, str) else ""


def _tail(what: str | None) -> str | None:
    return f" {what}" if what else None


def _has_letter(text: str) -> bool:
    return any(unicodedata.category(c).startswith("L") for c in text)


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SHOWN else flat[: _SHOWN - 1] + "\u2026"


def _join(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


# --------------------------------------------------------------------------- keyboard mash

# Letter rows of the QWERTY, QWERTZ and AZERTY layouts. A word typed straight along a row is a mash
# ("asdf", "qwerty", "lkjh"). Top rows hold vowels, so short runs there are real names ("Trew",
# "Wertz", "Azer"): they count only from six keys; the vowel-less middle and bottom rows from four.
_ROWS: tuple[tuple[str, int], ...] = (
    ("qwertyuiop", 6),
    ("qwertzuiop", 6),
    ("azertyuiop", 6),
    ("asdfghjkl", 4),
    ("qsdfghjklm", 4),
    ("zxcvbnm", 4),
    ("yxcvbnm", 4),
    ("wxcvbn", 4),
)
_VOWELS = frozenset("aeiouy")
_ROMAN_SUFFIXES = frozenset({"ii", "iii", "iv", "vi", "vii", "viii", "ix", "xi", "xii"})  # "John Smith III"
_LATIN_WORD = re.compile(r"[a-z]+")


def _row_run(word: str, min_keys: int | None = None) -> bool:
    """`word` is typed key after key in one direction along one keyboard row."""
    for row, shortest in _ROWS:
        if len(word) < (min_keys or shortest) or not set(word) <= set(row):
            continue
        steps = {row.index(b) - row.index(a) for a, b in zip(word, word[1:], strict=False)}
        if steps in ({1}, {-1}):
            return True
    return False


def _repeated_chunk(word: str) -> str | None:
    """The chunk `word` repeats: one letter three times or more ("xxx"), two or three letters four times or
    more, or a row run twice ("asdasd"). Doubled and tripled names ("Lili", "Yanyan", "Yeyeye") are not."""
    for size in range(1, len(word) // 2 + 1):
        chunk, times = word[:size], len(word) // size
        if chunk * times != word:
            continue
        if (size == 1 and times >= 3) or (size <= 3 and times >= 4) or _row_run(chunk, min_keys=3):
            return chunk
    return None


def mash(text: str) -> str | None:
    """Why `text` looks typed without meaning (a keyboard row, a chunk repeated, five letters and no
    vowel), or None. Only Latin script is judged: a name in another script is never a keyboard mash."""
    folded = fold_text(text)
    if any(not c.isascii() and unicodedata.category(c).startswith("L") for c in folded):
        return None
    for word in _LATIN_WORD.findall(folded):
        if word in _ROMAN_SUFFIXES:
            continue
        if _row_run(word):
            return "is typed straight along a keyboard row"
        chunk = _repeated_chunk(word)
        if chunk is not None:
            return f"is '{chunk}' typed over and over"
        if len(word) >= 5 and not _VOWELS & set(word):
            return "has five or more letters in a row and no vowel"
    return None
