"""Lead-to-account matching (M2): leadflow's matcher against baselines, for quality and speed.

Two data sets: the shared sample (../shared/matching, scored against its truth.csv) and a set
generated here the same way at 100,000 accounts x 100,000 leads (legal suffixes per country,
hierarchies of up to three levels with children sharing a parent's domain, websites written every
way, free mail with typed company names and typos, names shared by companies in different countries,
near misses, leads of no account). On each, in the same process:

- leadflow: `AccountIndex` (domain, registrable name, word-level typo-tolerant names, country);
  also `leadflow match` end to end (`match_files` over CSV files) on the generated set;
- exact-domain: email (non-free) or website registrable domain looked up, nothing else;
- domain+fuzzy: the README's baseline: domain, then rapidfuzz token_sort_ratio >= 90 on names with
  cleanco's legal suffixes removed (all accounts on the sample; blocked by first word at 100k,
  where comparing every pair would take hours);
- recordlinkage: standard blocking (first name word, domain) + comparison (Jaro-Winkler name,
  exact country and domain) + ECM classifier, the most probable matched pair per lead.

Scoring as the sample's README says: right = the account is one of the truth's, or no match when
the truth is empty; precision = right matches / matches made; recall = right matches / leads with
an account.

    .venv/bin/python bench/matching.py [--quick] [--size 100000] [--no-recordlinkage]

Writes bench/results/matching.json and prints a table.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cleanco import basename
from rapidfuzz import fuzz, process
from rich.console import Console
from rich.table import Table

from leadflow.cli_match import match_files
from leadflow.domain.matching import AccountIndex, AccountRow, LeadRow
from leadflow.domain.normalise import is_free_mail, normalise_company, normalise_email, registrable_domain
from leadflow.playbook.load import cached_playbook

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "matching"
RESULTS = Path(__file__).with_name("results")
console = Console(highlight=False, width=140)

Predictions = dict[str, str]  # lead id -> account id ("" for none)


@dataclass
class DataSet:
    name: str
    accounts: list[AccountRow]
    leads: list[LeadRow]
    truth: dict[str, set[str]]
    category: dict[str, str]


# --------------------------------------------------------------------------- scoring


def score(data: DataSet, predicted: Predictions) -> dict[str, Any]:
    made = right = with_account = correct = 0
    per_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for lead in data.leads:
        expected = data.truth[lead.id]
        got = predicted.get(lead.id, "")
        with_account += bool(expected)
        ok = (got in expected) if got else not expected
        if got:
            made += 1
            right += got in expected
        correct += ok
        per_category[data.category[lead.id]][0] += ok
        per_category[data.category[lead.id]][1] += 1
    precision = right / made if made else 1.0
    recall = right / with_account if with_account else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "matches_made": made,
        "accuracy_by_category": {k: round(v[0] / v[1], 4) for k, v in sorted(per_category.items())},
    }


# --------------------------------------------------------------------------- matchers


def run_leadflow(data: DataSet) -> tuple[Predictions, dict[str, float]]:
    aliases = cached_playbook().countries.aliases
    start = time.perf_counter()
    index = AccountIndex(data.accounts, country_aliases=aliases)
    built = time.perf_counter()
    predicted: Predictions = {}
    for lead in data.leads:
        found = index.match(lead)
        predicted[lead.id] = found.account_id if found else ""
    done = time.perf_counter()
    return predicted, {"index_s": built - start, "match_s": done - built}


def _lead_domains(lead: LeadRow) -> list[str]:
    found = []
    email = normalise_email(lead.email)
    if email:
        domain = registrable_domain(email.rsplit("@", 1)[1])
        if domain and not is_free_mail(domain):
            found.append(domain)
    if lead.website:
        domain = registrable_domain(lead.website)
        if domain and not is_free_mail(domain):
            found.append(domain)
    return found


def _account_domain(account: AccountRow) -> str | None:
    domain = registrable_domain(account.website)
    return domain if domain and not is_free_mail(domain) else None


def _domain_table(accounts: list[AccountRow]) -> dict[str, str]:
    table: dict[str, str] = {}
    for account in accounts:
        domain = _account_domain(account)
        if domain:
            table.setdefault(domain, account.id)
    return table


def run_exact_domain(data: DataSet) -> tuple[Predictions, dict[str, float]]:
    start = time.perf_counter()
    table = _domain_table(data.accounts)
    built = time.perf_counter()
    predicted = {}
    for lead in data.leads:
        predicted[lead.id] = next((table[d] for d in _lead_domains(lead) if d in table), "")
    return predicted, {"index_s": built - start, "match_s": time.perf_counter() - built}


def _clean(name: str | None) -> str:
    return basename(name or "").lower().strip() if name else ""


def run_domain_fuzzy(data: DataSet, blocked: bool) -> tuple[Predictions, dict[str, float]]:
    start = time.perf_counter()
    table = _domain_table(data.accounts)
    names = [_clean(a.name) for a in data.accounts]
    ids = [a.id for a in data.accounts]
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        blocks[name.split(" ", 1)[0] if name else ""].append(i)
    block_names = {k: [names[i] for i in v] for k, v in blocks.items()}
    built = time.perf_counter()
    predicted = {}
    for lead in data.leads:
        got = next((table[d] for d in _lead_domains(lead) if d in table), "")
        typed = _clean(lead.company)
        if not got and typed:
            if blocked:
                key = typed.split(" ", 1)[0]
                choices = block_names.get(key, [])
                best = process.extractOne(typed, choices, scorer=fuzz.token_sort_ratio, score_cutoff=90)
                got = ids[blocks[key][best[2]]] if best else ""
            else:
                best = process.extractOne(typed, names, scorer=fuzz.token_sort_ratio, score_cutoff=90)
                got = ids[best[2]] if best else ""
        predicted[lead.id] = got
    return predicted, {"index_s": built - start, "match_s": time.perf_counter() - built}


def run_recordlinkage(data: DataSet) -> tuple[Predictions, dict[str, float]]:
    import pandas as pd
    import recordlinkage as rl

    start = time.perf_counter()

    def frame(rows: Iterable[tuple[str, str, str | None, str | None]]) -> pd.DataFrame:
        records = []
        for row_id, name, country, domain in rows:
            cleaned = _clean(name)
            records.append(
                {
                    "id": row_id,
                    "name": cleaned or None,
                    "first": cleaned.split(" ", 1)[0] if cleaned else None,
                    "country": country or None,
                    "domain": domain,
                }
            )
        return pd.DataFrame.from_records(records).set_index("id")

    accounts = frame((a.id, a.name, a.country, _account_domain(a)) for a in data.accounts)
    leads = frame(
        (lead.id, lead.company or "", lead.country, next(iter(_lead_domains(lead)), None)) for lead in data.leads
    )
    indexer = rl.Index()
    indexer.block(left_on="first", right_on="first")
    indexer.block(left_on="domain", right_on="domain")
    pairs = indexer.index(leads, accounts)
    compare = rl.Compare()
    # 0.93: at the usual 0.85 the name feature is so loose that ECM learns "same domain" only (F1 0.81).
    compare.string("name", "name", method="jarowinkler", threshold=0.93, label="name")
    compare.exact("country", "country", label="country")
    compare.exact("domain", "domain", label="domain")
    features = compare.compute(pairs, leads, accounts)
    built = time.perf_counter()
    classifier = rl.ECMClassifier(binarize=None)
    matched = classifier.fit_predict(features)
    predicted = {lead.id: "" for lead in data.leads}
    if len(matched):
        probability = classifier.prob(features.loc[matched])
        best = probability.groupby(level=0).idxmax()
        for lead_id, (_, account_id) in best.items():
            predicted[str(lead_id)] = str(account_id)
    return predicted, {"index_s": built - start, "match_s": time.perf_counter() - built, "pairs": float(len(pairs))}


def run_cli(data: DataSet) -> dict[str, float]:
    """`leadflow match` end to end: CSV files in, MATCHES rows out (the command's own code path)."""
    with tempfile.TemporaryDirectory() as tmp:
        accounts_csv, leads_csv = Path(tmp) / "accounts.csv", Path(tmp) / "leads.csv"
        with accounts_csv.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "name", "website", "parent_id", "country"])
            for a in data.accounts:
                writer.writerow([a.id, a.name, a.website or "", a.parent_id or "", a.country or ""])
        with leads_csv.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "email", "company", "website", "country"])
            for lead in data.leads:
                writer.writerow([lead.id, lead.email or "", lead.company or "", lead.website or "", lead.country or ""])
        start = time.perf_counter()
        rows = sum(1 for _ in match_files(accounts_csv, leads_csv))
        return {"seconds": time.perf_counter() - start, "rows": float(rows)}


# --------------------------------------------------------------------------- the shared sample


def load_sample() -> DataSet | None:
    if not (SAMPLE / "truth.csv").is_file():
        return None

    def rows(name: str) -> list[dict[str, str]]:
        with (SAMPLE / name).open(newline="", encoding="utf-8-sig") as handle:
            return list(csv.DictReader(handle))

    accounts = [
        AccountRow(r["id"], r["name"], r["website"] or None, r["parent_id"] or None, r["country"] or None)
        for r in rows("accounts.csv")
    ]
    leads = [
        LeadRow(r["id"], r["email"] or None, r["company"] or None, r["website"] or None, r["country"] or None)
        for r in rows("leads.csv")
    ]
    truth_rows = rows("truth.csv")
    truth = {r["lead_id"]: {x for x in r["account_ids"].split("|") if x} for r in truth_rows}
    category = {r["lead_id"]: r["category"] for r in truth_rows}
    return DataSet("shared sample", accounts, leads, truth, category)


# --------------------------------------------------------------------------- the generator

# country: (name, website suffix, legal forms, the country's word in a subsidiary's name)
COUNTRIES: dict[str, tuple[str, str, list[str], str]] = {
    "DE": ("Germany", "de", ["GmbH", "AG"], "Deutschland"),
    "GB": ("United Kingdom", "co.uk", ["Ltd", "Limited", "PLC"], "UK"),
    "FR": ("France", "fr", ["SAS", "S.A."], "France"),
    "US": ("United States", "com", ["Inc.", "Inc", "LLC", "Corp", "Corporation"], "USA"),
    "AU": ("Australia", "com.au", ["Pty Ltd"], "Australia"),
    "IN": ("India", "in", ["Pvt Ltd", "Limited"], "India"),
    "ES": ("Spain", "es", ["S.L.", "S.A."], "España"),
    "NL": ("Netherlands", "nl", ["B.V.", "BV", "N.V."], "Nederland"),
    "JP": ("Japan", "co.jp", ["K.K."], "Japan"),
    "BR": ("Brazil", "com.br", ["Ltda"], "Brasil"),
    "CA": ("Canada", "ca", ["Ltd", "Inc."], "Canada"),
    "IT": ("Italy", "it", ["S.p.A.", "S.r.l."], "Italia"),
}


def _words(text: str) -> list[str]:
    return text.split()


FREE_MAIL = [
    "gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "aol.com", "proton.me",
    "gmx.de", "web.de", "hotmail.fr", "yahoo.co.uk", "qq.com",
]  # fmt: skip
BRANDS = _words("""Alder Amber Anchor Apex Atlas Aurora Beacon Birch Blaze Blue Borealis Bright Canyon Cedar Clear
Cobalt Compass Condor Coral Crescent Crystal Delta Elm Ember Equinox Evergreen Falcon Fjord Frost Glacier
Granite Harbinger Harbor Hazel Helix Heron Horizon Indigo Iron Ivory Juniper Kestrel Keystone Lagoon Lantern
Lark Lumen Maple Meridian Mesa Nimbus Northwind Nova Onyx Orion Osprey Paragon Pinnacle Pioneer Polar Prairie
Quantum Quill Redwood Ridge Rowan Sable Saffron Scarlet Sentinel Sierra Sigma Silver Solstice Sterling Summit
Swift Titan Tundra Union Vanguard Vertex Willow Zenith Zephyr""")
SURNAMES = _words("""Andersson Becker Bianchi Costa Dubois Fernández Fischer García Haddad Horvat Ivanova Jensen Johnson
Kim Kowalski Larsen Laurent Lindqvist Moreau Müller Nakamura Nielsen Novak Okafor Patel Petrov Romano Rossi
Sato Schmidt Silva Tanaka Weber Yamamoto""")
TRADES = _words("""Aerospace Agri Airlines Analytics Bank Biotech Capital Chemicals Cloud Consulting Data Devices
Dynamics Energy Engineering Foods Foundry Freight Games Health Holdings Hotels Industries Instruments Insurance Labs
Learning Logistics Marine Materials Media Motors Networks Paper Partners Payments Pharma Retail Robotics
Security Semiconductors Software Solutions Studios Systems Technologies Telecom Textiles Water""")
FIRST_NAMES = _words("anna ben carla dev eli fatima george hana ivan julia kenji lara mo nadia omar pia quentin rosa")
FIRST_NAMES += _words("sven tariq uma viktor wen xavier yara zoe")
SYLLABLES = _words("bar cor dan fel gar hal ken lor mar nor pel quin ros sal tor val wen zar bel cam dor fin")


def _synthetic_brands(rng: random.Random, count: int) -> list[str]:
    """More brand words for large sets, so names stay distinct as in a real market."""
    words: set[str] = set(BRANDS)
    while len(words) < count:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize())
    return sorted(words)


def _compact(base: str) -> str:
    return "".join(c for c in base.replace("&", "and").lower() if c.isalnum() and c.isascii())


def _name_key(base: str) -> str:
    """One key per name however it is spaced: "Pinnacle Freight" and "Pinnaclefreight" are one name."""
    return normalise_company(base).compact


def _website(rng: random.Random, domain: str) -> str:
    return rng.choice(
        [f"www.{domain}", f"https://{domain}/", f"http://{domain}/about", f"https://www.{domain}", domain, domain]
    )


def _typo(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    p = rng.randrange(1, len(w) - 1)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        w = w[:p] + w[p + 1] + w[p] + w[p + 2 :]
    elif kind == "drop":
        w = w[:p] + w[p + 1 :]
    else:
        w = w[:p] + w[p] + w[p:]
    words[i] = w
    return " ".join(words)


def _typed(rng: random.Random, base: str, country: str, typo_rate: float = 0.35) -> str:
    """A company name as a person types it: case, suffix, "&"/"and", "Intl", maybe a typing slip."""
    text = base
    if "&" in text and rng.random() < 0.4:
        text = text.replace("&", "and")
    if "International" in text and rng.random() < 0.5:
        text = text.replace("International", "Intl")
    if rng.random() < typo_rate:
        text = _typo(rng, text)
    roll = rng.random()
    if roll < 0.45:
        text += " " + rng.choice(COUNTRIES[country][2])
    elif roll < 0.6:
        text += " " + rng.choice(COUNTRIES[rng.choice(list(COUNTRIES))][2])
    elif roll < 0.7:
        text += " Co."
    roll = rng.random()
    return text.lower() if roll < 0.2 else (text.upper() if roll < 0.35 else text)


@dataclass
class _Company:
    base: str
    country: str
    members: list[int] = field(default_factory=list)  # account positions, top first


def generate(n_accounts: int, n_leads: int, seed: int = 7) -> DataSet:
    rng = random.Random(seed)
    brands = _synthetic_brands(rng, max(len(BRANDS), n_accounts // 40))
    codes = list(COUNTRIES)
    accounts: list[AccountRow] = []
    domains_of: list[str | None] = []
    company_of: list[int] = []
    companies: list[_Company] = []
    used_bases: set[tuple[str, str]] = set()  # (normalised key, country)
    used_keys: set[str] = set()
    taken_domains: dict[str, int] = {}

    def new_base() -> str:
        kind = rng.random()
        if kind < 0.35:
            base = f"{rng.choice(brands)} {rng.choice(TRADES)}"
        elif kind < 0.65:
            first, second = rng.sample(brands, 2)
            base = f"{first} {second} {rng.choice(TRADES)}"
        elif kind < 0.77:
            first, second = rng.sample(SURNAMES, 2)
            base = f"{first} & {second}"
        elif kind < 0.87:
            base = f"{rng.choice(brands)}{rng.choice(TRADES).lower()}"
        else:
            base = f"{rng.choice(SURNAMES)} {rng.choice(TRADES)}"
        if rng.random() < 0.1:
            base += " International"
        if rng.random() < 0.06:
            base = "The " + base
        return base

    def add_account(name: str, country: str, domain: str | None, parent: int | None, company: int) -> int:
        position = len(accounts)
        website = _website(rng, domain) if domain and rng.random() > 0.05 else None
        accounts.append(
            AccountRow(
                id=f"A{position + 1:06d}",
                name=name,
                website=website,
                parent_id=accounts[parent].id if parent is not None else None,
                country=COUNTRIES[country][0],
            )
        )
        domains_of.append(domain if website else None)
        company_of.append(company)
        companies[company].members.append(position)
        return position

    def claim(domain: str, company: int) -> str | None:
        holder = taken_domains.setdefault(domain, company)
        return domain if holder == company else None

    while len(accounts) < n_accounts:
        country = rng.choice(codes)
        # now and then the same name for another company in another country
        base = rng.choice(companies).base if companies and rng.random() < 0.02 else new_base()
        key = _name_key(base)
        if (key, country) in used_bases or (key in used_keys and rng.random() > 0.02):
            continue
        used_bases.add((key, country))
        used_keys.add(key)
        company = len(companies)
        companies.append(_Company(base, country))
        tld = COUNTRIES[country][1] if rng.random() < 0.6 else "com"
        label = _compact(base)
        domain = claim(f"{label}.{tld}", company) or claim(f"{label}.{COUNTRIES[country][1]}", company)
        top = add_account(f"{base} {rng.choice(COUNTRIES[country][2])}", country, domain, None, company)
        if rng.random() < 0.22:
            parents = [(top, domain)]
            for child_country in rng.sample([c for c in codes if c != country], rng.randint(1, 4)):
                if len(accounts) >= n_accounts:
                    break
                parent, parent_domain = rng.choice(parents) if rng.random() < 0.2 else parents[0]
                word = COUNTRIES[child_country][3]
                name = f"{base} {word} {rng.choice(COUNTRIES[child_country][2])}"
                if rng.random() < 0.5 and parent_domain:
                    child_domain: str | None = parent_domain  # shares its parent's domain
                else:
                    child_domain = claim(f"{_compact(base + ' ' + word)}.{COUNTRIES[child_country][1]}", company)
                child = add_account(name, child_country, child_domain, parent, company)
                parents.append((child, child_domain))

    # ---- leads
    leads: list[LeadRow] = []
    truth: dict[str, set[str]] = {}
    category: dict[str, str] = {}
    with_domain = [i for i, d in enumerate(domains_of) if d]
    tops_by_position = {}
    for c in companies:
        for m in c.members:
            tops_by_position[m] = c.members[0]

    def sharing(position: int) -> set[str]:
        domain = domains_of[position]
        members = companies[company_of[position]].members
        return {accounts[m].id for m in members if domains_of[m] == domain}

    def person(free: bool) -> str:
        first, last = rng.choice(FIRST_NAMES), _compact(rng.choice(SURNAMES))
        return f"{first}.{last}{rng.randint(1, 99)}" if free else f"{first}.{last}"

    def typed_name(position: int) -> tuple[str, str]:
        account = accounts[position]
        company = companies[company_of[position]]
        country = next(c for c, v in COUNTRIES.items() if v[0] == account.country)
        base = company.base
        if position != company.members[0]:
            base = f"{base} {COUNTRIES[country][3]}"
        return _typed(rng, base, country), country

    def fresh_name(country: str) -> str:
        while True:
            if rng.random() < 0.03:
                partners = [c.base for c in companies if "&" in c.base]
                if partners:
                    first, second = rng.choice(partners).replace("The ", "").split(" & ", 1)
                    base = f"{second} & {first}"
                else:
                    base = new_base()
            else:
                base = new_base()
            if _name_key(base) not in used_keys:
                return base

    for n in range(n_leads):
        lead_id = f"L{n + 1:06d}"
        roll = rng.random()
        if roll < 0.54 and with_domain:
            position = rng.choice(with_domain)
            domain = domains_of[position] or ""
            label, suffix = domain.split(".", 1)
            variant = rng.random()
            if variant < 0.12:
                host = f"{rng.choice(['eu', 'us', 'mail', 'corp'])}.{domain}"
            elif variant < 0.22:
                other = rng.choice([v[1] for v in COUNTRIES.values() if v[1] != suffix] + ["com"])
                host = f"{label}.{other}" if f"{label}.{other}" not in taken_domains else domain
            else:
                host = domain
            company = typed_name(position)[0] if rng.random() < 0.7 else ""
            country = accounts[position].country
            lead = LeadRow(lead_id, f"{person(False)}@{host}", company or None, None, country)
            truth[lead_id], category[lead_id] = sharing(position), "corporate-domain"
        elif roll < 0.75:
            position = rng.randrange(len(accounts))
            company, _ = typed_name(position)
            email = f"{person(True)}@{rng.choice(FREE_MAIL)}"
            lead = LeadRow(lead_id, email, company, None, accounts[position].country)
            truth[lead_id] = {accounts[position].id, accounts[tops_by_position[position]].id}
            category[lead_id] = "free-mail-company"
        elif roll < 0.84 and with_domain:
            position = rng.choice(with_domain)
            email = f"{person(True)}@{rng.choice(FREE_MAIL)}" if rng.random() < 0.4 else None
            company = typed_name(position)[0] if rng.random() < 0.4 else None
            website = _website(rng, domains_of[position] or "")
            lead = LeadRow(lead_id, email, company, website, accounts[position].country)
            truth[lead_id], category[lead_id] = sharing(position), "website"
        elif roll < 0.95:
            country = rng.choice(codes)
            base = fresh_name(country)
            free = rng.random() < 0.4
            host = rng.choice(FREE_MAIL) if free else f"{_compact(base)}-{rng.randint(1, 99)}.example"
            company = _typed(rng, base, country, typo_rate=0.0)
            lead = LeadRow(lead_id, f"{person(free)}@{host}", company, None, COUNTRIES[country][0])
            truth[lead_id], category[lead_id] = set(), "no-account"
        else:
            # An existing brand with a different trade word, in another country: not the same company.
            source = companies[rng.randrange(len(companies))]
            words = source.base.replace("The ", "").split(" ")
            if len(words) < 2 or words[-1] not in TRADES:
                words = [words[0], rng.choice(TRADES)]
            base = " ".join(words[:-1] + [rng.choice([t for t in TRADES if t != words[-1]])])
            if _name_key(base) in used_keys:
                base = f"{words[0]} {rng.choice(brands)} {rng.choice(TRADES)}"
            if _name_key(base) in used_keys:
                continue
            country = rng.choice([c for c in codes if c != source.country])
            free = rng.random() < 0.45
            host = rng.choice(FREE_MAIL) if free else f"{_compact(base)}-{rng.randint(1, 99)}.example"
            company = f"{base} {rng.choice(COUNTRIES[country][2])}"
            lead = LeadRow(lead_id, f"{person(free)}@{host}", company, None, COUNTRIES[country][0])
            truth[lead_id], category[lead_id] = set(), "no-account-near-miss"
        leads.append(lead)
    return DataSet(f"generated {n_accounts:,} x {len(leads):,}", accounts, leads, truth, category)


# --------------------------------------------------------------------------- main


Matcher = Callable[[DataSet], tuple[Predictions, dict[str, float]]]


def run(data: DataSet, matchers: dict[str, Matcher]) -> dict[str, Any]:
    out: dict[str, Any] = {"accounts": len(data.accounts), "leads": len(data.leads), "matchers": {}}
    out["categories"] = dict(Counter(data.category.values()))
    for name, matcher in matchers.items():
        console.print(f"  {data.name}: {name} ...")
        try:
            predicted, times = matcher(data)
        except Exception as exc:  # a baseline that cannot run is reported, not fatal
            out["matchers"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        result = score(data, predicted)
        result.update({k: round(v, 3) for k, v in times.items()})
        # end to end: indexing (and, for recordlinkage, blocking and comparing) counts too
        result["leads_per_s"] = round(len(data.leads) / max(times["index_s"] + times["match_s"], 1e-9))
        out["matchers"][name] = result
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="generated set of 20,000 x 20,000")
    parser.add_argument("--size", type=int, default=100_000, help="accounts and leads generated (default 100,000)")
    parser.add_argument("--no-recordlinkage", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    size = 20_000 if args.quick else args.size

    try:
        import recordlinkage  # noqa: F401

        have_rl = not args.no_recordlinkage
        rl_note = "" if have_rl else "skipped (--no-recordlinkage)"
    except ImportError as exc:  # reported, not fatal
        have_rl, rl_note = False, f"not installed: {exc}"

    results: dict[str, Any] = {"machine": platform.platform(), "python": sys.version.split()[0], "sets": {}}
    sample = load_sample()
    if sample is None:
        results["sets"]["shared sample"] = {"skipped": f"{SAMPLE} not found"}
    else:
        matchers = {
            "leadflow": run_leadflow,
            "exact-domain": run_exact_domain,
            "domain+token_sort>=90": lambda d: run_domain_fuzzy(d, blocked=False),
        }
        if have_rl:
            matchers["recordlinkage ECM"] = run_recordlinkage
        results["sets"][sample.name] = run(sample, matchers)

    started = time.perf_counter()
    generated = generate(size, size, args.seed)
    results["generate_s"] = round(time.perf_counter() - started, 2)
    matchers = {
        "leadflow": run_leadflow,
        "exact-domain": run_exact_domain,
        "domain+token_sort>=90 (blocked)": lambda d: run_domain_fuzzy(d, blocked=True),
    }
    if have_rl:
        matchers["recordlinkage ECM"] = run_recordlinkage
    results["sets"][generated.name] = run(generated, matchers)
    console.print(f"  {generated.name}: leadflow match (CSV in, rows out) ...")
    results["sets"][generated.name]["leadflow match command"] = {k: round(v, 2) for k, v in run_cli(generated).items()}
    if rl_note:
        results["recordlinkage"] = rl_note

    table = Table(title="Lead-to-account matching (M2)")
    for column in ("set", "matcher", "F1", "precision", "recall", "index s", "match s", "leads/s"):
        table.add_column(column, justify="left" if column in ("set", "matcher") else "right")
    for set_name, found in results["sets"].items():
        for matcher_name, r in found.get("matchers", {}).items():
            if "error" in r:
                table.add_row(set_name, matcher_name, r["error"], "", "", "", "", "")
                continue
            table.add_row(
                set_name,
                matcher_name,
                f"{r['f1']:.4f}",
                f"{r['precision']:.4f}",
                f"{r['recall']:.4f}",
                f"{r['index_s']:.2f}",
                f"{r['match_s']:.2f}",
                f"{r['leads_per_s']:,}",
            )
    console.print(table)
    command = results["sets"][generated.name]["leadflow match command"]
    console.print(f"leadflow match on {generated.name}: {command['seconds']:.1f} s end to end (CSV in, rows out)")
    if rl_note:
        console.print(f"recordlinkage: {rl_note}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "matching.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"written {RESULTS / 'matching.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
