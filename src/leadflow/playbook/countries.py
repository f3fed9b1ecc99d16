"""The master country list (I4): ISO 3166 from pycountry, one display name per country.

Every intake, every region table and every import resolves country text through here, so a
country is spelled one way in the whole database. The playbook adds its own aliases.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import pycountry


@dataclass(frozen=True)
class Country:
    alpha_2: str
    name: str


def _fold(text: str) -> str:
    """Case-, accent- and punctuation-insensitive key for country text."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    kept = "".join(c if c.isalnum() else " " for c in plain.casefold())
    return " ".join(kept.split())


def display_name(record: object) -> str:
    """The everyday name: pycountry's common name where it has one ("South Korea")."""
    return str(getattr(record, "common_name", None) or record.name)  # type: ignore[attr-defined]


@lru_cache(maxsize=1)
def _index() -> dict[str, Country]:
    index: dict[str, Country] = {}
    for record in pycountry.countries:
        country = Country(alpha_2=record.alpha_2, name=display_name(record))
        keys = [record.alpha_2, record.alpha_3, record.name, country.name]
        keys += [getattr(record, "official_name", "") or ""]
        for key in keys:
            if key:
                index.setdefault(_fold(key), country)
    return index


@lru_cache(maxsize=32)
def _folded_aliases(aliases: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The playbook's aliases, folded once: alias key -> target key."""
    folded: dict[str, str] = {}
    for alias, target in aliases:
        folded.setdefault(_fold(alias), _fold(target))
    return folded


def master_names() -> list[str]:
    """Every country of the master list, by display name."""
    return sorted({c.name for c in _index().values()})


_ALIAS_KEYS: dict[int, tuple[Mapping[str, str], tuple[tuple[str, str], ...]]] = {}


def _alias_key(aliases: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The aliases as a hashable key, remembered per mapping object (a playbook's mapping is read-only)."""
    hit = _ALIAS_KEYS.get(id(aliases))
    if hit is not None and hit[0] is aliases and len(hit[1]) == len(aliases):
        return hit[1]
    key = tuple(aliases.items())
    if len(_ALIAS_KEYS) > 64:
        _ALIAS_KEYS.clear()
    _ALIAS_KEYS[id(aliases)] = (aliases, key)
    return key


def resolve_country(text: str | None, aliases: Mapping[str, str] | None = None) -> Country | None:
    """The master-list country for `text` (name, ISO code or alias), or None if unknown."""
    if not text or not text.strip():
        return None
    return _resolve(text, _alias_key(aliases) if aliases else ())


@lru_cache(maxsize=16384)
def _resolve(text: str, aliases: tuple[tuple[str, str], ...]) -> Country | None:
    index = _index()
    key = _fold(text)
    if aliases:
        key = _folded_aliases(aliases).get(key, key)
    found = index.get(key)
    if found is None and key:
        try:
            record = pycountry.countries.lookup(text.strip())
        except LookupError:
            return None
        found = index.get(_fold(record.alpha_2))
    return found


def resolve_subdivision(country: Country, text: str | None) -> str | None:
    """The ISO 3166-2 code ("US-CA") of a state or province given by name or code."""
    if not text or not text.strip():
        return None
    key = _fold(text)
    for sub in pycountry.subdivisions.get(country_code=country.alpha_2) or []:  # type: ignore[no-untyped-call]
        short = sub.code.split("-", 1)[1]
        if key in (_fold(sub.code), _fold(short), _fold(sub.name)):
            return str(sub.code)
    return None
