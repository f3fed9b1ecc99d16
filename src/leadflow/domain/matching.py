"""Lead-to-account matching (M2): which account a lead belongs to, how sure we are, and why.

Evidence is weighed in the order the handbook uses it:

1. the lead's email domain (never a free-mail one, I5) equals an account's website domain,
   subdomains included ("x@eu.acme.com" belongs to acme.com);
2. the lead's website, written any way, likewise;
3. the same registrable name under another public suffix ("onyxcapital.in" / "onyxcapital.com"),
   when the country or the company name says which hierarchy it is;
4. the company name, normalised (case, accents, legal forms, "&", abbreviations, country words)
   and compared word by word in any order, with room for one typing slip per longer word, so a
   different word ("Robotics" for "Retail", "Amber" for "Ember") is never taken for a typo.
   Reordered words weaken the evidence; partners' names keep their order ("Silva & Bianchi" is
   not "Bianchi & Silva"). Country supports or contradicts; a country word in one name only is
   accepted when it places the lead or the account ("Acme UK" for a British lead).

Several accounts sharing a domain are one hierarchy's: the highest account that has the domain wins
(the ultimate parent when it has it). A name shared by different companies is decided by country;
when nothing decides, there is no match. The index is built once: lookups are by dictionary and by
a delete-neighbourhood of words (typo-tolerant blocking), never by comparing every pair.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from leadflow.domain.normalise import (
    domain_parts,
    fold_text,
    is_free_mail,
    normalise_company,
    normalise_country,
    normalise_email,
    registrable_domain,
    same_word,
    typo_allowance,
)
from leadflow.playbook.countries import master_names

MIN_CONFIDENCE = 0.6
"""Below this a lead is left without an account (CONTRACTS §2: "with enough confidence")."""

_AMBIGUITY_MARGIN = 0.04
_PLACE_WORD_COST = 0.06  # "Acme India" vs "Acme": likely the same group, but a name with it agrees better
_REORDER_COST = 0.08  # people rarely reorder a company's words: the same words in order agree better
_CONNECTORS = frozenset({"and"})
_MIN_LABEL = 6  # shorter domain names ("abc", "mail") are shared by unrelated organisations


@dataclass(frozen=True)
class AccountRow:
    """An account as the matcher needs it."""

    id: str
    name: str
    website: str | None = None
    parent_id: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class LeadRow:
    """A lead as the matcher needs it."""

    id: str
    email: str | None = None
    company: str | None = None
    website: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class Match:
    """The matched account, a confidence in [0, 1] and a short readable reason."""

    account_id: str
    confidence: float
    evidence: str


@dataclass(frozen=True)
class Decision:
    """The match, or None with the reason there is none (shown where a match's evidence would be)."""

    match: Match | None
    reason: str


@dataclass(frozen=True)
class _Name:
    """A name split into the words that identify the company and the country words that place it."""

    core: tuple[str, ...]
    places: frozenset[str]  # ISO alpha-2 codes named in it ("Acme Deutschland" -> {"DE"})
    partners: bool = False  # "Ernst & Young": the order of the names is the firm's identity

    @property
    def compact(self) -> str:
        return "".join(self.core)


@dataclass
class _Account:
    id: str
    name: str
    country: str | None
    domain: str | None
    parsed: _Name
    parent_id: str | None = None
    label: str | None = None  # the domain's name, when long enough to be looked up on its own
    parent: int = -1
    top: int = -1
    depth: int = 0
    live: bool = True


@dataclass(frozen=True)
class _Agreement:
    similarity: float  # 1 - typing slips / letters
    places: int  # country words in one name only
    in_order: bool


@dataclass(frozen=True)
class _Scored:
    index: int
    confidence: float
    detail: str


def _deletes(word: str) -> set[str]:
    """The word with each single letter removed: two words within one edit share one of these."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _country_text(alpha2: str | None) -> str:
    return alpha2 or "?"


@dataclass
class _Countries:
    """Country words in names and country text of rows, both resolved through the master list."""

    aliases: Mapping[str, str]
    phrases: dict[tuple[str, ...], str] = field(default_factory=dict)
    words: dict[str, str] = field(default_factory=dict)
    _resolved: dict[str, str | None] = field(default_factory=dict)
    _fuzzy: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        spellings = list(master_names()) + list(self.aliases)
        for text in spellings:
            country = normalise_country(text, self.aliases)
            folded = tuple(fold_text(text).split())
            if country is None or not folded:
                continue
            self.phrases.setdefault(folded, country.alpha_2)
            if len(folded) == 1:
                self.words.setdefault(folded[0], country.alpha_2)
        self.longest = max((len(p) for p in self.phrases), default=1)

    def of_row(self, text: str | None) -> str | None:
        """The alpha-2 code of a row's country text, cached (a file repeats a few countries)."""
        if not text:
            return None
        if text not in self._resolved:
            found = normalise_country(text, self.aliases)
            self._resolved[text] = found.alpha_2 if found else None
        return self._resolved[text]

    def of_word(self, word: str) -> str | None:
        """A single word naming a country, allowing a typing slip in long ones ("Deutschlnd")."""
        exact = self.words.get(word)
        if exact or typo_allowance(len(word) + 1) == 0:  # a typed word may have lost a letter
            return exact
        if word not in self._fuzzy:
            self._fuzzy[word] = next((c for w, c in self.words.items() if same_word(word, w) is not None), None)
        return self._fuzzy[word]

    def split(self, tokens: tuple[str, ...]) -> _Name:
        """Separate country words (and "and") from the words that identify the company."""
        core: list[str] = []
        places: set[str] = set()
        i = 0
        while i < len(tokens):
            for size in range(min(self.longest, len(tokens) - i), 1, -1):
                code = self.phrases.get(tokens[i : i + size])
                if code:
                    places.add(code)
                    i += size
                    break
            else:
                word = tokens[i]
                code = self.of_word(word)
                if code:
                    places.add(code)
                elif word not in _CONNECTORS:
                    core.append(word)
                i += 1
        partners = any(w in _CONNECTORS for w in tokens)
        if not core:  # a name made only of country words ("Canada Ltd") is itself the identity
            return _Name(core=tuple(w for w in tokens if w not in _CONNECTORS) or tokens, places=frozenset())
        return _Name(core=tuple(core), places=frozenset(places), partners=partners)


class AccountIndex:
    """Every account, indexed once by domain, by domain name and by name words."""

    def __init__(
        self,
        accounts: Iterable[AccountRow],
        *,
        country_aliases: Mapping[str, str] | None = None,
        free_mail_extra: Iterable[str] = (),
        min_confidence: float = MIN_CONFIDENCE,
    ) -> None:
        self._free_extra = tuple(e.strip().lower() for e in free_mail_extra)
        self._countries = _Countries(dict(country_aliases or {}))
        self._min_confidence = min_confidence
        self._accounts: list[_Account] = []
        self._position: dict[str, int] = {}
        self._by_domain: dict[str, list[int]] = defaultdict(list)
        self._by_label: dict[str, list[int]] = defaultdict(list)
        self._by_word: dict[str, set[int]] = defaultdict(set)
        self._by_compact: dict[str, set[int]] = defaultdict(set)
        self._neighbours: dict[str, set[str]] = defaultdict(set)
        self._near_cache: dict[str, frozenset[int]] = {}
        self._parents_named: set[str] = set()  # ids some account names as its parent
        for row in accounts:
            self._add(row)
        self._link_hierarchies()

    # ------------------------------------------------------------------ building

    def _add(self, row: AccountRow) -> None:
        index = len(self._accounts)
        parts = domain_parts(row.website)
        if parts and is_free_mail(parts.domain, self._free_extra):
            parts = None  # I5: a free-mail domain is never an account's website
        parsed = self._countries.split(normalise_company(row.name).tokens)
        account = _Account(
            id=row.id,
            name=row.name,
            country=self._countries.of_row(row.country),
            domain=parts.domain if parts else None,
            parsed=parsed,
            parent_id=(row.parent_id or "").strip() or None,
            label=parts.label if parts and len(parts.label) >= _MIN_LABEL else None,
        )
        self._accounts.append(account)
        self._position.setdefault(row.id, index)
        if account.parent_id:
            self._parents_named.add(account.parent_id)
        if parts:
            self._by_domain[parts.domain].append(index)
            if len(parts.label) >= _MIN_LABEL:
                self._by_label[parts.label].append(index)
        for word in set(parsed.core):
            if word not in self._by_word and typo_allowance(len(word) + 1) > 0:  # "Frost" typed "Frosst"
                for variant in _deletes(word) | {word}:
                    self._neighbours[variant].add(word)
            self._by_word[word].add(index)
        if parsed.core:
            self._by_compact[parsed.compact].add(index)

    def _link_hierarchies(self) -> None:
        for index, account in enumerate(self._accounts):
            parent = self._position.get(account.parent_id, -1) if account.parent_id and account.live else -1
            account.parent = parent if parent != index else -1
        for index, account in enumerate(self._accounts):
            seen = {index}
            node, depth = index, 0
            while self._accounts[node].parent >= 0 and self._accounts[node].parent not in seen:
                node = self._accounts[node].parent
                seen.add(node)
                depth += 1
            account.top, account.depth = node, depth

    def _unindex(self, index: int) -> None:
        """Take one stored account out of every lookup; its slot stays, marked dead."""
        account = self._accounts[index]
        account.live = False
        for table, key in ((self._by_domain, account.domain), (self._by_label, account.label)):
            members = table.get(key) if key else None
            if members and index in members:
                members.remove(index)
        for word in set(account.parsed.core):
            self._by_word.get(word, set()).discard(index)
        if account.parsed.core:
            self._by_compact.get(account.parsed.compact, set()).discard(index)

    def apply_changes(self, rows: Iterable[AccountRow], removed: Iterable[str] = ()) -> int:
        """Bring the index up to date with accounts created, changed or deleted since it was built.

        Each changed account is taken out of the lookups and added again as it is now; hierarchies
        are re-linked when a parent could have changed. Returns how many accounts were applied.
        """
        count = 0
        relink = False
        for account_id in removed:
            index = self._position.pop(account_id, None)
            if index is not None:
                self._unindex(index)
                relink = True
                count += 1
        for row in rows:
            old = self._position.pop(row.id, None)
            if old is not None:
                self._unindex(old)
                relink = True
            self._add(row)
            self._position[row.id] = len(self._accounts) - 1
            relink = relink or bool(row.parent_id) or row.id in self._parents_named
            count += 1
        if count:
            self._near_cache.clear()
            if relink:
                self._link_hierarchies()
            else:  # new accounts without a parent: each is its own hierarchy
                for account in self._accounts[len(self._accounts) - count :]:
                    account.parent, account.top, account.depth = -1, self._position[account.id], 0
        return count

    # ------------------------------------------------------------------ public

    def __len__(self) -> int:
        return len(self._accounts)

    def ultimate_parent(self, account_id: str) -> str | None:
        """The top of the account's hierarchy (itself when it has no parent)."""
        index = self._position.get(account_id)
        return None if index is None else self._accounts[self._accounts[index].top].id

    def match(self, lead: LeadRow) -> Match | None:
        """The lead's account by email domain, website, domain name, then company name; None if unsure."""
        return self.decide(lead).match

    def decide(self, lead: LeadRow) -> Decision:
        """As `match`, with the reason when there is no match."""
        country = self._countries.of_row(lead.country)
        email = normalise_email(lead.email)
        host = email.rsplit("@", 1)[1] if email else None
        free_mail = bool(host) and is_free_mail(host, self._free_extra)
        if free_mail:
            host = None  # I5: a free-mail domain says nothing about the company
        name = self._countries.split(normalise_company(lead.company).tokens) if lead.company else None
        website = (lead.website or "").strip() or None
        found = (
            (self._by_domain_of(host, "email domain", country, name, 0.98) if host else None)
            or (self._by_domain_of(website, "website", country, name, 0.96) if website else None)
            or (self._by_label_of(host, "email domain", country, name) if host else None)
            or (self._by_label_of(website, "website", country, name) if website else None)
        )
        reason = "no account has this domain or a name like it"
        if found is None and name and name.core:
            found, reason = self._by_name(lead.company or "", name, country, host)
        if found is None:
            if free_mail and email:
                reason += f" (free-mail domain {email.rsplit('@', 1)[1]} ignored)"
            return Decision(None, reason)
        if found.confidence < self._min_confidence:
            return Decision(None, f"not sure enough ({found.confidence:.2f}): {found.evidence}")
        return Decision(found, found.evidence)

    # ------------------------------------------------------------------ domains

    def _domain_of(self, host_or_url: str) -> str | None:
        domain = registrable_domain(host_or_url)
        return None if domain is None or is_free_mail(domain, self._free_extra) else domain

    def _by_domain_of(
        self, host_or_url: str, source: str, country: str | None, name: _Name | None, confidence: float
    ) -> Match | None:
        domain = self._domain_of(host_or_url)
        members = self._by_domain.get(domain, []) if domain else []
        if not members or domain is None:
            return None
        chosen, hierarchies = self._choose(members, country, name)
        if chosen is None:
            return None
        account = self._accounts[chosen]
        if source == "email domain":
            written = host_or_url.strip().lower()
            relation = "=" if written == domain else "is under"
            evidence = f"email domain {written} {relation} website {domain}"
        else:
            evidence = f"website {domain} = account website {domain}"
        if len(members) > 1:
            evidence += f" (shared by {len(members)} accounts; highest in the hierarchy chosen)"
        if hierarchies > 1:
            confidence -= 0.05
            evidence += f"; {hierarchies} hierarchies share it, {self._country_phrase(country, account.country)}"
        return Match(account.id, round(confidence, 3), evidence)

    def _by_label_of(self, host_or_url: str, source: str, country: str | None, name: _Name | None) -> Match | None:
        """The same registrable name under another suffix: "onyxcapital.in" for website onyxcapital.com."""
        parts = domain_parts(host_or_url)
        if parts is None or is_free_mail(parts.domain, self._free_extra):
            return None
        members = self._by_label.get(parts.label, [])
        if not members:
            return None
        tops = {self._accounts[m].top for m in members}
        if len(tops) > 1:
            local = [m for m in members if country and self._accounts[m].country == country]
            if len({self._accounts[m].top for m in local}) == 1:
                members = local
            else:
                named = [m for m in members if name and self._compare(name, m, country) is not None]
                if len({self._accounts[m].top for m in named}) != 1:
                    return None
                members = named
        chosen, _ = self._choose(members, country, name)
        if chosen is None:
            return None
        account = self._accounts[chosen]
        same_country = bool(country) and any(self._accounts[m].country == country for m in members)
        name_agrees = name is not None and any(self._compare(name, m, country) is not None for m in members)
        confidence = 0.9 if same_country else (0.8 if name_agrees else 0.72)
        why = "same country" if same_country else ("company name agrees" if name_agrees else "no other evidence")
        evidence = f"{source} {parts.domain} ≈ website {account.domain} (same name, other suffix; {why})"
        return Match(account.id, confidence, evidence)

    def _choose(self, members: list[int], country: str | None, name: _Name | None) -> tuple[int | None, int]:
        """Among accounts sharing a domain: one hierarchy (by country, then name), then its highest account."""
        by_top: dict[int, list[int]] = defaultdict(list)
        for m in members:
            by_top[self._accounts[m].top].append(m)
        if len(by_top) > 1:
            ranked = sorted(by_top.items(), key=lambda item: self._hierarchy_rank(item[1], country, name), reverse=True)
            if self._hierarchy_rank(ranked[0][1], country, name) == self._hierarchy_rank(ranked[1][1], country, name):
                return None, len(by_top)
            group = ranked[0][1]
        else:
            group = next(iter(by_top.values()))
        best = min(
            group,
            key=lambda m: (self._accounts[m].depth, self._accounts[m].country != country, self._accounts[m].id),
        )
        return best, len(by_top)

    def _hierarchy_rank(self, group: list[int], country: str | None, name: _Name | None) -> tuple[bool, float]:
        local = bool(country) and any(self._accounts[m].country == country for m in group)
        scores = [s.confidence for m in group if name and (s := self._score_name(name, m, country, None))]
        return local, max(scores, default=0.0)

    # ------------------------------------------------------------------ names

    def _near(self, word: str) -> frozenset[int]:
        """Accounts having `word`, or a word one typing slip away from it (delete-neighbourhood lookup)."""
        cached = self._near_cache.get(word)
        if cached is not None:
            return cached
        found: set[int] = set(self._by_word.get(word, ()))
        if typo_allowance(len(word) + 1) > 0:  # a typed word may have lost a letter
            similar: set[str] = set()
            for variant in _deletes(word) | {word}:
                similar |= self._neighbours.get(variant, set())
            for other in similar:
                if other != word and same_word(word, other) is not None:
                    found |= self._by_word[other]
        result = frozenset(found)
        if len(self._near_cache) > 200_000:  # a long-lived index (a server's) must not grow without end
            self._near_cache.clear()
        self._near_cache[word] = result
        return result

    def _candidates(self, name: _Name) -> set[int]:
        """Accounts whose name has a word like each of the lead's words (and those with the same letters)."""
        postings = sorted((self._near(word) for word in set(name.core)), key=len)
        found: set[int] = set(postings[0]) if postings else set()
        for other in postings[1:]:
            if not found:
                break
            found &= other
        # The same letters spaced otherwise: "Pinnacle Freight" / "Pinnaclefreight".
        found |= self._by_compact.get(name.compact, set())
        return found

    def _compare(self, lead: _Name, index: int, country: str | None) -> _Agreement | None:
        """How a lead's name agrees with an account's, or None when they are different names."""
        account = self._accounts[index]
        theirs = account.parsed
        aligned = _align(lead.core, theirs.core)
        if aligned is None and len(lead.core) != len(theirs.core) and lead.compact == theirs.compact:
            aligned = (0, True)  # "Pinnacle Freight" / "Pinnaclefreight": the same letters, spaced otherwise
        if aligned is None:
            return None
        edits, in_order = aligned
        if not in_order and (lead.partners or theirs.partners):
            return None  # "Silva & Bianchi" is not "Bianchi & Silva"
        similarity = 1.0 - edits / max(len(lead.compact), len(theirs.compact), 1)
        # A country word in one name only is fine when it places the lead or the account ("Acme UK" for a
        # British lead or a British subsidiary); any other country word is part of another name.
        extra = lead.places ^ theirs.places
        if not extra <= {country, account.country} - {None}:
            return None
        return _Agreement(max(similarity, 0.0), len(extra), in_order)

    def _score_name(self, lead: _Name, index: int, country: str | None, host: str | None) -> _Scored | None:
        compared = self._compare(lead, index, country)
        if compared is None:
            return None
        account = self._accounts[index]
        confidence = 0.55 + 0.35 * compared.similarity - _PLACE_WORD_COST * compared.places
        if country and account.country:
            confidence += 0.07 if country == account.country else -0.12
        where = self._country_phrase(country, account.country)
        if compared.places:
            where += ", country word in one name only"
        if not compared.in_order:
            confidence -= _REORDER_COST
            where += ", words reordered"
        if host and account.domain and self._domain_conflicts(host, account.domain):
            confidence -= 0.08
            where += f", email domain {host} is not its website {account.domain}"
        detail = f"name {compared.similarity:.2f}, {where}"
        return _Scored(index, max(0.0, min(1.0, confidence)), detail)

    @staticmethod
    def _domain_conflicts(host: str, account_domain: str) -> bool:
        mine = domain_parts(host)
        theirs = domain_parts(account_domain)
        if mine is None or theirs is None:
            return True
        return mine.domain != theirs.domain and mine.label != theirs.label

    @staticmethod
    def _country_phrase(lead_country: str | None, account_country: str | None) -> str:
        if not lead_country or not account_country:
            return "country unknown"
        if lead_country == account_country:
            return "same country"
        return f"other country ({_country_text(lead_country)} vs {_country_text(account_country)})"

    def _by_name(self, typed: str, name: _Name, country: str | None, host: str | None) -> tuple[Match | None, str]:
        best_by_top: dict[int, _Scored] = {}
        for index in self._candidates(name):
            scored = self._score_name(name, index, country, host)
            if scored is None:
                continue
            top = self._accounts[index].top
            held = best_by_top.get(top)
            # the best of a hierarchy: most confident, then highest; ties by id, so the answer never
            # depends on the order the accounts were indexed in
            mine, theirs = self._accounts[index], self._accounts[held.index] if held else None
            if theirs is None or (scored.confidence, -mine.depth, theirs.id) > (
                held.confidence,  # type: ignore[union-attr]
                -theirs.depth,
                mine.id,
            ):
                best_by_top[top] = scored
        if not best_by_top:
            return None, "no account has this domain or a name like it"
        ranked = sorted(best_by_top.values(), key=lambda s: (-s.confidence, self._accounts[s.index].id))
        if len(ranked) > 1 and ranked[1].confidence > ranked[0].confidence - _AMBIGUITY_MARGIN:
            # The same name is several companies' and nothing (country, domain) tells which.
            tied = [self._accounts[s.index] for s in ranked if s.confidence > ranked[0].confidence - _AMBIGUITY_MARGIN]
            names = ", ".join(f"'{a.name}' ({_country_text(a.country)})" for a in tied[:3])
            return None, f"company '{typed.strip()}' is ambiguous: {names}"
        best = ranked[0]
        account = self._accounts[best.index]
        evidence = f"company '{typed.strip()}' ≈ '{account.name}' ({best.detail})"
        return Match(account.id, round(best.confidence, 3), evidence), evidence


def _align(mine: tuple[str, ...], theirs: tuple[str, ...]) -> tuple[int, bool] | None:
    """Typing slips when every word of each name pairs with one of the other's, and whether in the same order."""
    if len(mine) != len(theirs):
        return None
    if mine == theirs:
        return 0, True
    pairs: list[tuple[int, int, int]] = []
    for i, word in enumerate(mine):
        for j, other in enumerate(theirs):
            edits = same_word(word, other)
            if edits is not None:
                pairs.append((edits, i, j))
    pairs.sort()
    paired: dict[int, int] = {}
    used: set[int] = set()
    total = 0
    for edits, i, j in pairs:
        if i in paired or j in used:
            continue
        paired[i] = j
        used.add(j)
        total += edits
    if len(paired) != len(mine):
        return None
    order = [paired[i] for i in range(len(mine))]
    return total, order == sorted(order)
