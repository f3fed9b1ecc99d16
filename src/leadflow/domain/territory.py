"""Decides territory: which address counts (S8), and the region of a country or US/Canadian state.

Pure rules over the playbook. The address comes from the first source in the playbook's
priority that names a country, and the ultimate parent's address decides for its whole
hierarchy. Regions come from geography only; public sector is a separate, playbook-driven
question (`is_public_sector`) that routing asks.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pycountry

from leadflow.domain.segments import ultimate_parents
from leadflow.playbook.countries import Country, resolve_country, resolve_subdivision
from leadflow.playbook.schema import Playbook

# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True)
class Address:
    """A postal address as far as territory cares: country and state (province) decide."""

    country: str | None = None
    state: str | None = None
    city: str | None = None
    postal_code: str | None = None

    @classmethod
    def of(cls, value: Address | Mapping[str, Any] | None) -> Address | None:
        """An Address from a mapping such as the store's `addresses` JSON (`zip` is a postal code)."""
        if value is None or isinstance(value, Address):
            return value
        return cls(
            _text(value, "country"),
            _text(value, "state", "province"),
            _text(value, "city"),
            _text(value, "postal_code", "zip"),
        )

    def __str__(self) -> str:
        return ", ".join(p for p in (self.city, self.state, self.country) if p) or "(empty)"


def _text(value: Mapping[str, Any], *keys: str) -> str | None:
    """The first non-blank of `keys` in `value`, as stripped text."""
    for key in keys:
        found = value.get(key)
        if found is not None and str(found).strip():
            return str(found).strip()
    return None


@dataclass(frozen=True)
class SourcedAddress:
    """The territory address, the source that gave it (None: no source did), and why."""

    address: Address | None
    source: str | None
    why: str


_ADDRESS_LABELS = {
    "admin_override": "the admin override",
    "datafox": "DataFox",
    "zoominfo": "ZoomInfo",
    "shipping": "the shipping address",
    "billing": "the billing address",
}


def territory_address(pb: Playbook, addresses: Mapping[str, Address | Mapping[str, Any] | None]) -> SourcedAddress:
    """The "Account - Territory" address: the first playbook source that names a country (S8)."""
    skipped: list[str] = []
    for source in pb.territory.address_sources:
        address = Address.of(addresses.get(source))
        label = _ADDRESS_LABELS.get(source, source)
        if address is None or address.country is None:
            skipped.append(f"{label} has no country")
            continue
        why = f"{label}: {address}"
        return SourcedAddress(address, source, f"{why} ({'; '.join(skipped)})" if skipped else why)
    return SourcedAddress(None, None, "no address source names a country: " + "; ".join(skipped))


# --------------------------------------------------------------------------- regions


@dataclass(frozen=True)
class RegionResult:
    """The region of a place (None when none fits), the resolved ISO codes, and why."""

    region: str | None
    country: str | None  # ISO 3166-1 alpha-2
    subdivision: str | None  # ISO 3166-2, when the state decided
    why: str


@dataclass(frozen=True)
class RegionRef:
    """A region name as the playbook spells it; `legacy` regions are accepted but never assigned."""

    name: str
    legacy: bool


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join("".join(c if c.isalnum() else " " for c in plain.casefold()).split())


@dataclass
class RegionIndex:
    """A playbook's regions as lookups (built once per playbook): country and subdivision -> region."""

    by_country: dict[str, str] = field(default_factory=dict)  # "DE" -> "EMEA"
    by_subdivision: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # "US" -> key -> (code, region)
    by_name: dict[str, RegionRef] = field(default_factory=dict)  # folded name -> region
    countries: dict[str, Country | None] = field(default_factory=dict)  # memo of country text

    @classmethod
    def build(cls, pb: Playbook) -> RegionIndex:
        index = cls()
        aliases = pb.countries.aliases
        for region in pb.regions:
            index.by_name[region.name.casefold()] = RegionRef(region.name, region.legacy)
            if region.legacy:
                continue
            for text in region.countries:
                country = resolve_country(text, aliases)
                if country is not None:
                    index.by_country.setdefault(country.alpha_2, region.name)
            for text, subs in region.subdivisions.items():
                country = resolve_country(text, aliases)
                if country is None:
                    continue
                keys = index.by_subdivision.setdefault(country.alpha_2, {})
                for sub in subs:
                    code = resolve_subdivision(country, sub)
                    if code is None:
                        continue
                    record = pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]
                    names = [code, code.split("-", 1)[1], getattr(record, "name", "") or ""]
                    for key in names:
                        if key:
                            keys.setdefault(_fold(key), (code, region.name))
        return index

    def country(self, text: str, pb: Playbook) -> Country | None:
        key = text.strip()
        if key not in self.countries:
            if len(self.countries) > 10_000:
                self.countries.clear()
            self.countries[key] = resolve_country(key, pb.countries.aliases)
        return self.countries[key]


_INDEXES: dict[int, tuple[Playbook, RegionIndex]] = {}


def region_index(pb: Playbook) -> RegionIndex:
    """The region lookups of `pb`, built on first use (the playbook is frozen)."""
    cached = _INDEXES.get(id(pb))
    if cached is None or cached[0] is not pb:
        if len(_INDEXES) >= 16:
            _INDEXES.clear()
        cached = (pb, RegionIndex.build(pb))
        _INDEXES[id(pb)] = cached
    return cached[1]


def region_of(
    pb: Playbook, country: str | None, state: str | None = None, *, public_sector: bool = False
) -> RegionResult:
    """The region of a country, or of a US state / Canadian province where the playbook splits it (S8).

    With `public_sector` (see `is_public_sector`) the playbook's public-sector region is given
    instead. Legacy regions (NCSA) are never assigned.
    """
    index = region_index(pb)
    found = index.country(country, pb) if country and country.strip() else None
    code = found.alpha_2 if found else None
    public_region = pb.territory.public_sector.region
    if public_sector and public_region:
        return RegionResult(public_region, code, None, f"{public_region}: the record is public sector")
    if not country or not country.strip():
        return RegionResult(None, None, None, "no country")
    if found is None:
        return RegionResult(None, None, None, f"'{country}' is not a known country")
    region = index.by_country.get(found.alpha_2)
    if region is not None:
        return RegionResult(region, code, None, f"{found.name} is in {region}")
    subdivisions = index.by_subdivision.get(found.alpha_2)
    if subdivisions is None:
        return RegionResult(None, code, None, f"{found.name} is in no region of the playbook")
    if not state or not state.strip():
        return RegionResult(None, code, None, f"{found.name} is divided between regions by state; no state given")
    hit = subdivisions.get(_fold(state))
    if hit is not None:
        sub_code, region = hit
        return RegionResult(region, code, sub_code, f"{state.strip()}, {found.name} ({sub_code}) is in {region}")
    resolved = resolve_subdivision(found, state)
    if resolved is None:
        return RegionResult(None, code, None, f"'{state}' is not a state or province of {found.name}")
    return RegionResult(
        None, code, resolved, f"{state.strip()}, {found.name} ({resolved}) is in no region of the playbook"
    )


def normalise_region(pb: Playbook, text: str | None) -> RegionRef | None:
    """The playbook's region for a stored or imported region name (case-insensitive); legacy ones too."""
    if not text or not text.strip():
        return None
    return region_index(pb).by_name.get(text.strip().casefold())


# --------------------------------------------------------------------------- public sector


@dataclass(frozen=True)
class PublicSectorResult:
    public_sector: bool
    why: str


def is_public_sector(
    pb: Playbook, *, industry: str | None, country: str | None = None, flagged: bool = False
) -> PublicSectorResult:
    """Whether a record is public sector (R4, R7): flagged so, or of a playbook industry in its countries."""
    if flagged:
        return PublicSectorResult(True, "the account is flagged public sector")
    if not industry or not industry.strip():
        return PublicSectorResult(False, "no industry")
    words = f" {_fold(industry.replace('-', ''))} "
    index = region_index(pb)
    found = index.country(country, pb) if country and country.strip() else None
    for entry in pb.territory.public_sector.industries:
        if f" {_fold(entry.name.replace('-', ''))} " not in words:
            continue
        if not entry.countries:
            return PublicSectorResult(True, f"industry '{industry}' is {entry.name}")
        places = [index.country(c, pb) for c in entry.countries]
        codes = {p.alpha_2 for p in places if p is not None}
        if found is not None and found.alpha_2 in codes:
            return PublicSectorResult(True, f"industry '{industry}' is {entry.name} in {found.name}")
        where = found.name if found else "an unknown country"
        return PublicSectorResult(
            False, f"{entry.name} is public sector only in {', '.join(entry.countries)}, not {where}"
        )
    return PublicSectorResult(False, f"industry '{industry}' is not a public-sector industry")


# --------------------------------------------------------------------------- hierarchy


@dataclass(frozen=True)
class AccountPlace:
    """Where an account is, per address source (`admin_override`, `datafox`, ..., `billing`)."""

    id: str
    parent_id: str | None = None
    addresses: Mapping[str, Address | Mapping[str, Any] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountTerritory:
    """An account's territory: the address that decided, whose it is, and its region."""

    account_id: str
    ultimate_parent_id: str
    decided_by: str | None  # the account whose address decided; None when no account has one
    address: SourcedAddress
    region: RegionResult
    why: str


def hierarchy_territories(accounts: Iterable[AccountPlace], pb: Playbook) -> dict[str, AccountTerritory]:
    """Every account's territory: its ultimate parent's address decides (S8).

    When the ultimate parent has no address, the closest account below it on the way down to
    this account that has one decides, and the why says so.
    """
    by_id = {a.id: a for a in accounts}
    parent_of = {i: a.parent_id for i, a in by_id.items()}
    roots = ultimate_parents(parent_of)
    own = {i: territory_address(pb, a.addresses) for i, a in by_id.items()}
    regions: dict[str | None, RegionResult] = {}  # by deciding account: one lookup per hierarchy
    out: dict[str, AccountTerritory] = {}
    for i in by_id:
        top = roots[i]
        chain = [i]
        while chain[-1] != top and own[top].address is None:
            parent = parent_of[chain[-1]]
            if parent is None or parent in chain:
                break
            chain.append(parent)
        decider = (
            top
            if own[top].address is not None
            else next((a for a in reversed(chain) if own[a].address is not None), None)
        )
        chosen = own[decider] if decider is not None else own[top]
        place = chosen.address
        if decider not in regions or decider is None:
            regions[decider] = (
                region_of(pb, place.country, place.state) if place else RegionResult(None, None, None, chosen.why)
            )
        region = regions[decider]
        if decider is None:
            why = f"no account from {top} down to {i} has a territory address"
        elif decider == top:
            why = "its own address, as the ultimate parent" if decider == i else f"the ultimate parent {top}'s address"
            why = f"{why}: {chosen.why}; {region.why}"
        else:
            why = f"{decider}'s address ({top}, the ultimate parent, has none): {chosen.why}; {region.why}"
        out[i] = AccountTerritory(i, top, decider, chosen, region, why)
    return out
