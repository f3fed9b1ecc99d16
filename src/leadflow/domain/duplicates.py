"""Duplicate search (M1): which leads and contacts are the same person as this one, how sure, and why.

The playbook's `duplicates` section lists the rules (002 "Find Duplicates": the same email; the same
domain and last name; similar names at a similar company). Each rule that holds for a pair gives its
score times how well the names agree; the pair's score is that of its strongest rule and every rule
that held is kept as readable evidence. Names are compared folded (case, accents, punctuation), in
either order (first and last swapped), with room for typing slips (Jaro-Winkler), initials ("J.")
and nicknames ("Bill" / "William", from the `nicknames` package's table plus the playbook's own).
A free-mail domain is never a shared domain (I5), and two people at one company with different
first names are never the same person.

Pure: the service fetches candidates (see `candidate_keys`) and calls `find_duplicates`; for batches
`PersonIndex` blocks people by email, phone, domain + last name and phonetic name keys, so
de-duplicating N people compares each with a few others, never every pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import jellyfish
from nicknames import NickNamer
from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

from leadflow.domain.normalise import (
    NormalisedName,
    fold_text,
    is_free_mail,
    normalise_company,
    normalise_country,
    registrable_domain,
    stored_email,
    stored_phone,
    website_domain,
)
from leadflow.playbook.schema import DuplicateRuleDef, DuplicatesDef

PersonType = Literal["lead", "contact"]

_DOUBLE_BARREL = 0.95
"""'Garcia' vs 'Garcia Lopez': one last name is the other's part (double-barrelled or married name)."""

# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class PersonRow:
    """A lead or contact as the duplicate search needs it; build it with `person_row` to normalise."""

    type: PersonType
    id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    phone: str | None = None  # E.164
    domain: str | None = None  # registrable domain of the email, else of the website; None for free mail
    country: str | None = None  # ISO alpha-2

    def _fields(self) -> tuple[str | None, ...]:
        return (self.type, self.id, self.email, self.first_name, self.last_name, self.company, self.phone,
                self.domain, self.country)  # fmt: skip

    def __hash__(self) -> int:
        """The fields' hash, computed once: a row is a cache key of the search (`_parse`) for every person
        it is compared with, and a frozen dataclass would hash its nine fields each time."""
        found: int | None = self.__dict__.get("_hash")
        if found is None:
            found = hash(self._fields())
            object.__setattr__(self, "_hash", found)
        return found

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled and copied by its fields only: a string's hash differs between processes."""
        return (PersonRow, self._fields())


@dataclass(frozen=True)
class DuplicateCandidate:
    """An existing lead or contact that may be the same person, with the strongest rule and why."""

    type: PersonType
    id: str
    score: float
    rule: str
    evidence: tuple[str, ...]


def _clean(text: str | None) -> str | None:
    stripped = " ".join(text.split()) if text else ""
    return stripped or None


def person_row(
    type: PersonType,
    id: str,
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    company: str | None = None,
    phone: str | None = None,
    website: str | None = None,
    country: str | None = None,
    free_mail_extra: Iterable[str] = (),
    country_aliases: Mapping[str, str] | None = None,
    email_key: str | None = None,
    phone_key: str | None = None,
) -> PersonRow:
    """A PersonRow from raw fields: email checked and lower-cased, phone in E.164, country as ISO alpha-2,
    domain from the email (or else the website) unless it is free mail (I5). A stored person's `email_key`
    and `phone_key` (`normalise.email_key`, `phone_key`) stand for checking its address and number again."""
    extra = tuple(free_mail_extra)
    found_country = normalise_country(country, country_aliases)
    alpha2 = found_country.alpha_2 if found_country else None
    address = stored_email(email, email_key)
    # `address` is normalised, and normalising is idempotent (a property test holds it): its domain as is
    mail_domain = registrable_domain(address.rsplit("@", 1)[1]) if address else None
    if mail_domain is not None and is_free_mail(mail_domain, extra):
        mail_domain = None
    return PersonRow(
        type=type,
        id=id,
        email=address,
        first_name=_clean(first_name),
        last_name=_clean(last_name),
        company=_clean(company),
        phone=stored_phone(phone, alpha2, phone_key),
        domain=mail_domain or website_domain(website, extra),
        country=alpha2,
    )


def fold_name(text: str | None) -> str:
    """A name as compared: lower-case, accents and punctuation gone, single spaces ("O'Brien" -> "obrien")."""
    return " ".join(fold_text(text).split()) if text else ""


def candidate_keys(row: PersonRow) -> dict[str, str]:
    """What a store should query to find this person's possible duplicates (only keys with a value).

    `email` (same address), `domain` (same registrable domain; free mail never appears),
    `last_name_folded` (the same `fold_name` of the last name; compare it against the stored last
    name folded the same way), and `phone` (E.164). The domain and the last name are broad keys (a big
    company, a common name): read them through `name_filter`, on the stored initials.
    """
    keys: dict[str, str] = {}
    if row.email:
        keys["email"] = row.email
    if row.domain and not _free_mail(row.domain):
        keys["domain"] = row.domain
    last = fold_name(row.last_name)
    if last:
        keys["last_name_folded"] = last
    if row.phone:
        keys["phone"] = row.phone
    return keys


def name_initial(name: str | None) -> str | None:
    """The first letter of a name's first folded word ("Élodie Marie" -> "e"), None when it has none: what
    the store keeps beside a person's first and last name (`first_initial`, `last_initial`) so that the
    broad duplicate keys are read with `name_filter`."""
    words = fold_text(name or "").split()
    return words[0][0] if words else None


@dataclass(frozen=True)
class NameFilter:
    """Which people of a broad key (the same last name, the same domain) may be a person's duplicate: those
    with no first name, a first name starting with one of `first`, or a last name starting with one of
    `last`. Each is a string of initials (one character each); see `name_filter`."""

    first: str
    last: str

    def admits(self, first_initial: str | None, last_initial: str | None) -> bool:
        return (
            first_initial is None
            or first_initial in self.first
            or (last_initial is not None and last_initial in self.last)
        )

    def admitted(self, people: Iterable[tuple[str, str | None, str | None]]) -> list[str]:
        """The ids of the (id, first initial, last initial) that `admits`, in order: one call for a whole read
        (a big company's colleagues through each of a chunk's filters), without a method call per person."""
        first, last = self.first, self.last
        return [id_ for id_, f, s in people if f is None or f in first or (s is not None and s in last)]


_NAME_RULES = frozenset({"same_email", "same_domain_last_name", "same_phone_last_name", "similar_name_company"})


def name_filter(row: PersonRow, rules: DuplicatesDef) -> NameFilter | None:
    """What a candidate's names must start with for any rule but the same email to hold, or None when any
    candidate may (this person has no first name, a rule is of a kind this does not know, or the rules take
    any first name for a typing slip: a first-name minimum similarity of 0).

    Every name rule goes through `_names`, which needs first names that `_agreement` does not call two
    names in one of its readings: as written (this first name against theirs), or, with all four names
    there, swapped (this first name against their last name; this last name, read as a first name,
    against their first name). `_agreement` agrees only when one name is missing, when both start with
    the same letter (the same name, an initial, a typing slip, "Mary Ann" / "Maryann"), or when one is a
    nickname of the other (the `nicknames` table both ways, or the playbook's pairs). So a candidate
    whose first name starts with none of the initials of this first name, of its nicknames, or of this
    last name's, and whose last name starts with none of this first name's, can only be this person by
    the same email, which its own key finds. Reading a broad key through this filter keeps a big
    company's other colleagues and a common last name's other namesakes from crowding the oldest 200
    the search reads."""
    if any(rule.kind not in _NAME_RULES for rule in rules.rules):
        return None
    if rules.first_name.min_similarity <= 0.0:  # a slip of 0 similarity is a slip: any two first names agree
        return None
    parsed = _parse(row)
    if not parsed.first:
        return None
    pairs = _playbook_nicknames(rules)
    mine = _initials_of(parsed.first[0], pairs)
    if not parsed.last:
        return NameFilter(first=mine, last="")
    return NameFilter(first="".join(sorted(set(mine) | set(_initials_of(parsed.last[0], pairs)))), last=mine)


def last_name_filter(row: PersonRow, rules: DuplicatesDef) -> NameFilter | None:
    """`name_filter` for the last-name key, whose people all have this person's last name: narrower, because
    the swapped readings of `_names` then depend on this person alone.

    Read swapped one way, their first name is compared as a last name with this last name (fuzzily) and
    this first name with their last name, that is with this last name: possible only when this person's
    own first and last name agree as first names ("Sam Sam"), and then anyone may be them (no filter).
    Read swapped the other way, this first name is compared as a last name with their last name, this
    last name again: possible only when this person's first and last name are similar as last names
    ("Smith Smith"), and only then do the initials of this last name admit their first names. Otherwise
    only this first name's initials (and its nicknames') admit, which sets aside the namesakes whose first
    initial happens to be this last name's (a sixth of a common last name's people in a typical list)."""
    filt = name_filter(row, rules)
    if filt is None:
        return None
    parsed = _parse(row)
    if not parsed.last:
        return filt  # no last name: no last-name key to read
    least = _least(rules, True, True, True)  # every name rule's minimum (name_filter took their kinds)
    if least is None:
        return filt  # only the same email: no name rule to admit anyone for
    if _agreement(parsed.first, parsed.last, _first_terms(rules)) is not None:
        return None
    pairs = _playbook_nicknames(rules)
    first = set(_initials_of(parsed.first[0], pairs))
    if _surname_similarity(parsed.first, parsed.last) >= least:
        first |= set(_initials_of(parsed.last[0], pairs))
    return NameFilter(first="".join(sorted(first)), last="")


@lru_cache(maxsize=65536)
def _related_names(word: str, pairs: frozenset[tuple[str, str]]) -> frozenset[str]:
    """A folded first name with the names it is a nickname of, its nicknames (the `nicknames` table) and
    its partners in the playbook's pairs ("bill": william, will, ...)."""
    namer = _nick_namer()
    related = {word, *namer.nicknames_of(word), *namer.canonicals_of(word)}
    related |= {b for a, b in pairs if a == word}
    return frozenset(r for r in related if r)


def _initials_of(word: str, pairs: frozenset[tuple[str, str]]) -> str:
    """The initials a first name `word` agrees with (`_agreement`): those of its related names, sorted."""
    return "".join(sorted({r[0] for r in _related_names(word, pairs)}))


# --------------------------------------------------------------------------- parsed forms


@dataclass(frozen=True)
class _Parsed:
    row: PersonRow
    first: tuple[str, ...]  # folded words of the first name
    last: tuple[str, ...]  # folded words of the last name
    company: NormalisedName

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.row.first_name, self.row.last_name) if p)


@lru_cache(maxsize=131072)
def _parse(row: PersonRow) -> _Parsed:
    return _Parsed(
        row=row,
        first=tuple(fold_text(row.first_name or "").split()),
        last=tuple(fold_text(row.last_name or "").split()),
        company=_company(row.company),
    )


@lru_cache(maxsize=65536)
def _company(name: str | None) -> NormalisedName:
    return normalise_company(name)


@lru_cache(maxsize=65536)
def _free_mail(domain: str) -> bool:
    return is_free_mail(domain)


@lru_cache(maxsize=1)
def _nick_namer() -> NickNamer:
    return NickNamer()


@lru_cache(maxsize=65536)
def _nicknames_related(a: str, b: str) -> bool:
    """One name is a nickname of the other in the `nicknames` table (either direction)."""
    namer = _nick_namer()
    return b in namer.nicknames_of(a) or a in namer.nicknames_of(b)


@lru_cache(maxsize=64)
def _extra_nicknames(items: tuple[tuple[str, tuple[str, ...]], ...]) -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for name, nicks in items:
        for nick in nicks:
            pairs.update({(fold_name(name), fold_name(nick)), (fold_name(nick), fold_name(name))})
    return frozenset(pairs)


def _playbook_nicknames(rules: DuplicatesDef) -> frozenset[tuple[str, str]]:
    return _extra_nicknames(tuple(sorted((k, tuple(v)) for k, v in rules.nicknames.items())))


@lru_cache(maxsize=131072)
def _phonetic(word: str) -> str:
    """Metaphone of a folded word (its own letters when metaphone has nothing, e.g. digits)."""
    return jellyfish.metaphone(word) or word


# --------------------------------------------------------------------------- names


@dataclass(frozen=True)
class _First:
    kind: Literal["same", "nickname", "initial", "similar", "missing"]
    factor: float


@dataclass(frozen=True)
class _Names:
    """How two people's names agree: last-name similarity times first-name factor, maybe swapped."""

    last_similarity: float
    first: _First
    swapped: bool
    last_shown: tuple[str, str]  # the two names compared as last names, as written
    first_shown: tuple[str, str]  # the two compared as first names

    @property
    def value(self) -> float:
        return self.last_similarity * self.first.factor


@lru_cache(maxsize=262144)
def _surname_similarity(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    if not a or not b:
        return 0.0
    compact_a, compact_b = "".join(a), "".join(b)
    if compact_a == compact_b:
        return 1.0
    if set(a) <= set(b) or set(b) <= set(a):
        return _DOUBLE_BARREL
    return float(JaroWinkler.normalized_similarity(compact_a, compact_b))


def _first_agreement(a: tuple[str, ...], b: tuple[str, ...], rules: DuplicatesDef) -> _First | None:
    """How two first names agree, or None when they are different names."""
    return _agreement(a, b, _first_terms(rules))


_FirstTerms = tuple[float, float, float, float, frozenset[tuple[str, str]]]
_TERMS: dict[int, tuple[DuplicatesDef, _FirstTerms]] = {}


def _first_terms(rules: DuplicatesDef) -> _FirstTerms:
    """What `_agreement` reads of the rules, hashable: the weights and the playbook's nickname pairs (kept per
    rules object, with the object, so an id is never reused while it is a key)."""
    found = _TERMS.get(id(rules))
    if found is None or found[0] is not rules:
        weights = rules.first_name
        pairs = _playbook_nicknames(rules)  # once per rules object: empty when the playbook has none
        if len(_TERMS) >= 64:
            _TERMS.clear()
        found = _TERMS[id(rules)] = (
            rules,
            (weights.missing, weights.initial, weights.nickname, weights.min_similarity, pairs),
        )
    return found[1]


@lru_cache(maxsize=262144)
def _agreement(a: tuple[str, ...], b: tuple[str, ...], terms: _FirstTerms) -> _First | None:
    """`_first_agreement` of two folded first names under `terms`, cached: a search compares a person with
    hundreds of others, whose first names are a few hundred common ones."""
    missing, initial, nickname, min_similarity, pairs = terms
    if not a or not b:
        return _First("missing", missing)
    x, y = a[0], b[0]
    if x == y or "".join(a) == "".join(b):
        return _First("same", 1.0)
    if len(x) == 1 or len(y) == 1:
        return _First("initial", initial) if x[0] == y[0] else None
    if _nicknames_related(x, y) or (x, y) in pairs:
        return _First("nickname", nickname)
    similarity = _typo_similarity(x, y)
    if similarity >= min_similarity:
        return _First("similar", similarity)
    return None


@lru_cache(maxsize=65536)
def _typo_similarity(x: str, y: str) -> float:
    """How alike two first names are when one may be a slip of the other; 0 when they are two names.

    The first letter must agree ("Anna" / "Hanna" are two names), as in `normalise.same_word`. Two
    names that the nickname table knows and does not relate are different names ("Paul" / "Paula",
    "Jane" / "June"), unless one is the other with letters swapped ("Micheal" / "Michael").
    """
    if x[0] != y[0]:
        return 0.0
    if x in _known_first_names() and y in _known_first_names() and sorted(x) != sorted(y):
        return 0.0
    return float(JaroWinkler.normalized_similarity(x, y))


@lru_cache(maxsize=1)
def _known_first_names() -> frozenset[str]:
    namer = _nick_namer()
    return frozenset(namer.nickname_lookup) | frozenset(namer.canonical_lookup)


def _names(a: _Parsed, b: _Parsed, rules: DuplicatesDef, min_last: float) -> _Names | None:
    """The best reading of two names, or None when they disagree.

    Read as written, and, when both are complete, with one side's first and last name swapped: then
    either cross pair may be the last names, so the result is the same whichever person comes first.
    """
    fa, la, fb, lb = a.row.first_name or "", a.row.last_name or "", b.row.first_name or "", b.row.last_name or ""
    readings = [(a.first, a.last, b.first, b.last, (fa, fb), (la, lb), False)]
    if a.first and a.last and b.first and b.last:
        readings.append((a.first, a.last, b.last, b.first, (fa, lb), (la, fb), True))
        readings.append((a.last, a.first, b.first, b.last, (la, fb), (fa, lb), True))
    best: _Names | None = None
    for first_a, last_a, first_b, last_b, first_shown, last_shown, swapped in readings:
        last = _surname_similarity(last_a, last_b)
        if last < min_last:
            continue
        first = _first_agreement(first_a, first_b, rules)
        if first is None:
            continue
        found = _Names(last, first, swapped, last_shown, first_shown)
        if best is None or found.value > best.value:
            best = found
    return best


def _name_words(a: _Parsed, b: _Parsed, names: _Names) -> str:
    """Evidence on the names: "last name Doe" or "last name 'Smtih' ≈ 'Smith' (0.95)", then the first name."""
    last_a, last_b = names.last_shown
    if names.last_similarity == 1.0:
        parts = [f"last name {last_a}"]
    else:
        parts = [f"last name '{last_a}' ≈ '{last_b}' ({names.last_similarity:.2f})"]
    first_a, first_b = names.first_shown
    kind = names.first.kind
    if kind == "missing":
        parts.append("first name missing on one side")
    elif kind in ("nickname", "initial"):
        parts.append(f"first name '{first_a}' ~ '{first_b}' ({kind})")
    elif kind == "similar":
        parts.append(f"first name '{first_a}' ≈ '{first_b}' ({names.first.factor:.2f})")
    if names.swapped:
        parts.append("first and last name swapped")
    return ", ".join(parts)


def _full_name_words(a: _Parsed, b: _Parsed, names: _Names) -> str:
    if a.full_name.casefold() == b.full_name.casefold():
        return f"name '{a.full_name}'"
    swapped = " (first and last swapped)" if names.swapped else ""
    return f"name '{a.full_name}' ≈ '{b.full_name}' ({names.value:.2f}){swapped}"


# --------------------------------------------------------------------------- companies


def _company_similarity(a: NormalisedName, b: NormalisedName) -> float:
    if not a or not b:
        return 0.0
    if a.key == b.key or a.compact == b.compact:
        return 1.0
    return max(fuzz.token_sort_ratio(a.key, b.key), fuzz.ratio(a.compact, b.compact)) / 100.0


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class _Held:
    """One rule that holds for a pair: its score and its evidence."""

    rule: str
    score: float
    evidence: str


def _same_email(a: _Parsed, b: _Parsed, rule: DuplicateRuleDef, rules: DuplicatesDef) -> _Held | None:
    if a.row.email and a.row.email == b.row.email:
        return _Held(rule.id, rule.score, f"same email {a.row.email}")
    return None


def _same_domain_last_name(a: _Parsed, b: _Parsed, rule: DuplicateRuleDef, rules: DuplicatesDef) -> _Held | None:
    domain = a.row.domain
    if not domain or domain != b.row.domain or _free_mail(domain):
        return None
    names = _names(a, b, rules, rule.min_last_name_similarity)
    if names is None:
        return None
    return _Held(rule.id, rule.score * names.value, f"same domain {domain} and {_name_words(a, b, names)}")


def _same_phone_last_name(a: _Parsed, b: _Parsed, rule: DuplicateRuleDef, rules: DuplicatesDef) -> _Held | None:
    if not a.row.phone or a.row.phone != b.row.phone:
        return None
    names = _names(a, b, rules, rule.min_last_name_similarity)
    if names is None:
        return None
    return _Held(rule.id, rule.score * names.value, f"same phone {a.row.phone} and {_name_words(a, b, names)}")


def _similar_name_company(a: _Parsed, b: _Parsed, rule: DuplicateRuleDef, rules: DuplicatesDef) -> _Held | None:
    if not (a.first and a.last and b.first and b.last):
        return None  # a last name alone at a company is the domain rule's business, not a similar name
    company = _company_similarity(a.company, b.company)
    if company < rule.min_company_similarity:
        return None
    names = _names(a, b, rules, rule.min_last_name_similarity)
    if names is None or names.value < rule.min_name_similarity:
        return None
    ca, cb = a.row.company or "", b.row.company or ""
    company_words = f"company '{ca}' = '{cb}'" if company == 1.0 else f"company '{ca}' ≈ '{cb}' ({company:.2f})"
    return _Held(rule.id, rule.score * names.value * company, f"{_full_name_words(a, b, names)}, {company_words}")


_RULES = {
    "same_email": _same_email,
    "same_domain_last_name": _same_domain_last_name,
    "same_phone_last_name": _same_phone_last_name,
    "similar_name_company": _similar_name_company,
}


def _may_hold(a: _Parsed, b: _Parsed, rules: DuplicatesDef) -> bool:
    """A quick, exact necessary test: could any rule hold for the pair? Every rule but the same email goes
    through `_names`, which needs, in one of the readings it tries, a last-name similarity of at least the
    rule's minimum and first names that `_first_agreement` does not call two names: one of them missing,
    the same first letter (the same name, an initial, a typo), or a nickname of the other. So two colleagues
    at a big company (same domain, other names) and two namesakes with other first names (the same last
    name: the bulk of a last-name search) are set aside after a few cached comparisons."""
    ra, rb = a.row, b.row
    if ra.email and ra.email == rb.email:
        return True
    complete = bool(a.first and a.last and b.first and b.last)  # the swapped readings of `_names` need all four
    least = _least(rules, bool(ra.domain) and ra.domain == rb.domain, bool(ra.phone) and ra.phone == rb.phone, complete)
    if least is None:
        return False
    if least is _ANY_RULE:
        return True
    return _names_may_hold(a.first, a.last, b.first, b.last, least, complete, _first_terms(rules))


_ANY_RULE = -1.0  # `_least` of rules with a kind `_may_hold` does not know: never set a pair aside for it
_LEAST: dict[tuple[int, bool, bool, bool], tuple[DuplicatesDef, float | None]] = {}


def _least(rules: DuplicatesDef, same_domain: bool, same_phone: bool, complete: bool) -> float | None:
    """The smallest last-name minimum of the rules that may apply to a pair (None: no rule may), kept per
    rules object and pair kind: a search asks it for every candidate."""
    key = (id(rules), same_domain, same_phone, complete)
    found = _LEAST.get(key)
    if found is not None and found[0] is rules:
        return found[1]
    least: float | None = None
    for rule in rules.rules:
        kind = rule.kind
        if kind == "same_email":
            continue
        if kind == "same_domain_last_name":
            if not same_domain:
                continue
        elif kind == "same_phone_last_name":
            if not same_phone:
                continue
        elif kind == "similar_name_company":
            if not complete:
                continue
        else:
            least = _ANY_RULE
            break
        if least is None or rule.min_last_name_similarity < least:
            least = rule.min_last_name_similarity
    if len(_LEAST) >= 512:
        _LEAST.clear()
    _LEAST[key] = (rules, least)
    return least


@lru_cache(maxsize=262144)
def _names_may_hold(
    a_first: tuple[str, ...],
    a_last: tuple[str, ...],
    b_first: tuple[str, ...],
    b_last: tuple[str, ...],
    least: float,
    complete: bool,
    terms: _FirstTerms,
) -> bool:
    """The name part of `_may_hold`, cached as one lookup: a search meets the same pairs of common names
    (a namesake with another first name) over and over."""
    if _surname_similarity(a_last, b_last) >= least and _agreement(a_first, b_first, terms) is not None:
        return True
    if not complete:
        return False
    return (_surname_similarity(a_last, b_first) >= least and _agreement(a_first, b_last, terms) is not None) or (
        _surname_similarity(a_first, b_last) >= least and _agreement(a_last, b_first, terms) is not None
    )


def _score(a: _Parsed, b: _Parsed, rules: DuplicatesDef) -> DuplicateCandidate | None:
    if not _may_hold(a, b, rules):
        return None
    held = [h for rule in rules.rules if (h := _RULES[rule.kind](a, b, rule, rules)) is not None]
    if not held:
        return None
    held.sort(key=lambda h: -h.score)  # stable: ties keep the playbook's order
    score = round(min(1.0, max(0.0, held[0].score)), 4)
    if score < rules.min_score:
        return None
    return DuplicateCandidate(
        type=b.row.type, id=b.row.id, score=score, rule=held[0].rule, evidence=tuple(h.evidence for h in held)
    )


# --------------------------------------------------------------------------- public search


def score_pair(new: PersonRow, existing: PersonRow, rules: DuplicatesDef) -> DuplicateCandidate | None:
    """`existing` as a duplicate candidate of `new` (score in [0, 1], evidence), or None below `min_score`."""
    if new.type == existing.type and new.id == existing.id:
        return None
    return _score(_parse(new), _parse(existing), rules)


def find_duplicates(new: PersonRow, candidates: Iterable[PersonRow], rules: DuplicatesDef) -> list[DuplicateCandidate]:
    """Every candidate that may be `new`, best first (ties: contacts before leads, then by id)."""
    me = _parse(new)
    found = [
        c
        for existing in candidates
        if not (existing.type == new.type and existing.id == new.id)
        and (c := _score(me, _parse(existing), rules)) is not None
    ]
    return _ordered(found)


def duplicate_of(found: Sequence[DuplicateCandidate], rules: DuplicatesDef) -> DuplicateCandidate | None:
    """The best candidate when it reaches the playbook's `threshold`: the record `new` duplicates."""
    best = _ordered(list(found))
    return best[0] if best and best[0].score >= rules.threshold else None


def _ordered(found: list[DuplicateCandidate]) -> list[DuplicateCandidate]:
    # A contact is the record a lead is merged into (M3), so it comes first among equals.
    return sorted(found, key=lambda c: (-c.score, c.type != "contact", c.id))


# --------------------------------------------------------------------------- batch index


class PersonIndex:
    """People held in memory and blocked by keys, so each search compares a person with a few others.

    Keys: the email; the phone; the domain with the first two letters of the last name; the phonetic
    (metaphone) last name with the first initial (nicknames' initials too: "Bob" is also an "R");
    the last name's first three letters with the first initial (typos in both names); the phonetic
    first name with the last initial (a last name mistyped beyond its sound). Each is
    also looked up with first and last swapped. A person without both names is found by email, phone
    or domain only: no name rule can hold for them. Blocks larger than `max_block` are skipped,
    except email and phone, which are evidence by themselves. A typo in the first letter of a last
    name at the same domain is beyond these keys (the store's query by domain still finds it).
    """

    def __init__(self, rules: DuplicatesDef, rows: Iterable[PersonRow] = (), *, max_block: int = 1000) -> None:
        self.rules = rules
        self.max_block = max_block
        self._people: list[_Parsed] = []
        self._at: dict[tuple[str, str], int] = {}
        self._blocks: dict[str, list[int]] = {}
        for row in rows:
            self.add(row)

    def __len__(self) -> int:
        return len(self._people)

    def add(self, row: PersonRow) -> None:
        """Hold `row` (a second row with the same type and id replaces nothing: ids are unique)."""
        position = len(self._people)
        parsed = _parse(row)
        self._people.append(parsed)
        self._at[(row.type, row.id)] = position
        for key in self._insert_keys(parsed):
            self._blocks.setdefault(key, []).append(position)

    def candidates(self, row: PersonRow) -> list[PersonRow]:
        """The held people who share a key with `row` (never `row` itself)."""
        return [self._people[i].row for i in sorted(self._candidate_positions(_parse(row)))]

    def find(self, row: PersonRow) -> list[DuplicateCandidate]:
        """`find_duplicates` of `row` against the held people who share a key with it."""
        parsed = _parse(row)
        found = [c for i in self._candidate_positions(parsed) if (c := _score(parsed, self._people[i], self.rules))]
        return _ordered(found)

    def duplicate_pairs(self) -> list[tuple[PersonRow, DuplicateCandidate]]:
        """Every pair of held people at or above the playbook's `threshold`, each pair once.

        Each pair is scored as if the later-added person arrived and searched the earlier ones.
        """
        pairs: list[tuple[PersonRow, DuplicateCandidate]] = []
        seen: set[tuple[int, int]] = set()
        for position, parsed in enumerate(self._people):
            for other in self._candidate_positions(parsed):
                new, old = max(position, other), min(position, other)
                if (new, old) in seen:
                    continue
                seen.add((new, old))
                found = _score(self._people[new], self._people[old], self.rules)
                if found is not None and found.score >= self.rules.threshold:
                    pairs.append((self._people[new].row, found))
        return pairs

    # ---- keys

    def _related(self, first: tuple[str, ...]) -> set[str]:
        """A first name with its nicknames and the names it is a nickname of ("Bill": William, Will, ...)."""
        return set(_related_names(first[0], _playbook_nicknames(self.rules))) if first else set()

    def _initials(self, first: tuple[str, ...]) -> set[str]:
        """The first letters under which a first name is filed: its own and its nicknames'."""
        return {r[0] for r in self._related(first)}

    def _insert_keys(self, p: _Parsed) -> set[str]:
        keys: set[str] = set()
        if p.row.email:
            keys.add(f"e:{p.row.email}")
        if p.row.phone:
            keys.add(f"t:{p.row.phone}")
        last = "".join(p.last)
        if last and p.row.domain:
            keys.add(f"d:{p.row.domain}|{last[:2]}")
        if last and p.first:
            initials = self._initials(p.first)
            keys.update(f"n:{_phonetic(last)}|{i}" for i in initials)
            keys.update(f"p:{last[:3]}|{i}" for i in initials)
            # the sound of the first name and of its nicknames ("Bill" is filed as "William" too)
            keys.update(f"f:{_phonetic(name)}|{last[0]}" for name in self._related(p.first))
        return keys

    def _query_keys(self, p: _Parsed) -> set[str]:
        keys: set[str] = set()
        if p.row.email:
            keys.add(f"e:{p.row.email}")
        if p.row.phone:
            keys.add(f"t:{p.row.phone}")
        last, first = "".join(p.last), "".join(p.first)
        if last and p.row.domain:
            keys.add(f"d:{p.row.domain}|{last[:2]}")
        if last and first:
            for surname, given in ((last, p.first), (first, p.last)):  # as written, then swapped
                if p.row.domain:
                    keys.add(f"d:{p.row.domain}|{surname[:2]}")
                keys.add(f"n:{_phonetic(surname)}|{given[0][0]}")
                keys.add(f"p:{surname[:3]}|{given[0][0]}")
                keys.add(f"f:{_phonetic(given[0])}|{surname[0]}")
        return keys

    def _candidate_positions(self, p: _Parsed) -> set[int]:
        found: set[int] = set()
        for key in self._query_keys(p):
            block = self._blocks.get(key, ())
            if len(block) > self.max_block and key[0] not in "et":
                continue
            found.update(block)
        own = self._at.get((p.row.type, p.row.id))
        if own is not None:
            found.discard(own)
        return found
