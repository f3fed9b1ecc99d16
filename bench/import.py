"""CSV list import (I3): rows per second through the full intake, beside raw inserts of the same rows.

Data (generated, `random.Random(--seed)`): an event-scan list with the columns such lists have
(First Name, Last Name, Email Address, Company Name, Job Title, Phone, Country, Website) and the mix
they have: corporate addresses at ~2,000 company domains (a Zipf-like few with many visitors), ~20 %
free mail with the company typed by hand, visitors from companies not in the database, the same
person scanned again (same address in another case, a new title), a few invalid and disposable
addresses, rows with no address, countries written every way ("USA", "Deutschland", "UK", "Holland")
and phones in national format. Before each run the database gets the demo organisation (`seed_demo`:
a sales team of ~90 users, so routing has owners to pick, and a few accounts and leads), then ~2,000
accounts for those domains (SQLAlchemy Core bulk insert: prospects, customers by segment, former
customers, partners, subsidiaries under a parent; customers and half the prospects owned by an AE, SAL
or AM), their hierarchies derived as leadflow derives accounts it writes (segment, region), so matching,
M4, derivation, routing and the duplicate search have work to do.

For each store (SQLite in a temp file; PostgreSQL when LEADFLOW_BENCH_POSTGRES_URL or
LEADFLOW_TEST_POSTGRES_URL is set, in a throw-away database), each on a fresh migrated database:

- import: `import_leads(..., channel="event_scan", campaign="Bench Event")` end to end (file digest,
  parsing, validation, the whole intake per row in a savepoint, history, commits per chunk);
- Core insert: the same CSV read and its raw fields inserted with `insert(Lead.__table__)`
  executemany, one transaction per chunk of the import's size; no normalisation, no history;
- ORM + history, no pipeline: the same rows as `Lead` objects, `session.add_all` per chunk inside
  `uow.changing(...)`, so the unit of work writes each lead's creation history row.

A plain ORM baseline without history is not possible: the store's before_flush listener refuses a
tracked record flushed outside a unit of work's change context (checked at run time, reported).

Times are the median of --runs runs (CSV parsing included everywhere). `--profile` instead runs one
SQLite import under cProfile and prints the hotspots and the SQL statements per row.

    .venv/bin/python bench/import.py [--rows 100000] [--runs 3] [--quick] [--profile] [--seed 7]
                                     [--stores sqlite,postgresql]

Writes bench/results/import.json (not with --profile) and prints a table.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import datetime as dt
import io
import json
import os
import platform
import pstats
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.orm import Session

from leadflow.domain.records import Actor
from leadflow.errors import UnrecordedChange
from leadflow.playbook.load import cached_playbook
from leadflow.services import derive
from leadflow.services.demo import seed_demo
from leadflow.services.imports import CHUNK, import_leads
from leadflow.store.db import Store
from leadflow.store.models import (
    Account,
    Activity,
    CampaignMember,
    Contact,
    FieldHistory,
    Intake,
    Lead,
    OutboxEvent,
    User,
    new_id,
)

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
RESULTS = Path(__file__).with_name("results")
HEADER = ["First Name", "Last Name", "Email Address", "Company Name", "Job Title", "Phone", "Country", "Website"]
GOAL_SQLITE = 3000
SEGMENT = 1000  # the import's rows/s is also reported per this many rows: it falls as the tables grow
console = Console(highlight=False, width=150)

# --------------------------------------------------------------------------- the generated list


def _words(text_: str) -> list[str]:
    return text_.split()


FIRST = _words(
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan Joseph "
    "Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa Matthew Betty Anthony Margaret Mark Sandra "
    "Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa "
    "George Deborah Timothy Stephanie Ronald Rebecca Jason Laura Edward Sharon Jeffrey Cynthia Ryan Kathleen Jacob "
    "Amy Gary Angela Nicholas Shirley Eric Anna Jonathan Brenda Stephen Pamela Larry Emma Justin Nicole Scott Helen "
    "Brandon Samantha Benjamin Katherine Samuel Christine Gregory Debra Alexander Rachel Frank Carolyn Patrick Janet "
    "Raymond Catherine Jack Maria Dennis Heather Jerry Diane Tyler Ruth Aaron Julie Jose Olivia Adam Joyce Nathan "
    "Virginia Henry Victoria Zachary Kelly Douglas Lauren Peter Christina Kyle Joan Noah Evelyn Ethan Judith "
    "Lukas Leonie Jonas Hannah Felix Lea Maximilian Lena Paul Mia Finn Sophie Elias Marie Ben Anna-Lena Jürgen "
    "Jörg Sören Björn Zoë Chloé Hélène Élodie Amélie François Jérôme Thierry Sébastien Mathéo Inès Noémie Luca "
    "Giulia Matteo Alessandro Francesca Chiara Lorenzo Sofia Pablo Lucía Hugo Martina Álvaro Daan Sanne Bram Fleur "
    "Ruben Lotte Sem Anouk Oliver Isla Harry Amelia Alfie Freya Arjun Priya Rahul Ananya Vikram Aditi Wei Li Jun "
    "Hiroshi Yuki Kenji Sakura Minh Thi Seo-yeon Ji-ho Kwame Amara Chinedu Ngozi Mohammed Fatima Omar Aisha Ali "
    "Sven Ingrid Lars Astrid Mateo Valentina Santiago Camila"
)
LAST = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera "
    "Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart "
    "Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim "
    "Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo "
    "Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler "
    "Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds "
    "Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford "
    "Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman "
    "Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon "
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter Klein "
    "Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner Krause Meier "
    "Lehmann Köhler Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefebvre "
    "Michel Garnier Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti "
    "Jansen Visser Smit Meijer Mulder Bos Vos Peters Hendriks Dekker Brouwer O'Brien O'Connor McCarthy Byrne "
    "Sharma Gupta Singh Kumar Reddy Iyer Nair Tanaka Suzuki Takahashi Watanabe Yamamoto Wang Zhang Liu Yang "
    "Huang Zhao Wu Zhou Park Choi Jung Kang Andersson Johansson Karlsson Nilsson Eriksson Larsson Novak Horvat "
    "Kowalski Nowak Wiśniewski Okafor Mensah Haddad Khan Hussain Ahmed Costa Santos Oliveira Pereira"
)
WORDS = _words(
    "Acme Apex Atlas Aurora Beacon Birch Blue Bright Cascade Cedar Cobalt Crest Delta Eagle Echo Ember Falcon "
    "Fjord Forge Granite Harbor Helix Horizon Iron Juniper Kestrel Keystone Lumen Maple Meridian Nimbus North "
    "Nova Oak Onyx Orbit Orion Osprey Peak Pine Pioneer Polar Prism Quantum Quartz Raven Redwood Ridge River "
    "Sage Sierra Silver Sky Solar Sterling Stone Summit Terra Tidal Titan Vector Vertex Willow Zenith Becker "
    "Hansen Lindqvist Moreau Rossi Vogel"
)
TRADES = _words(
    "Analytics Bank Biotech Capital Cloud Consulting Data Dynamics Energy Engineering Foods Freight Games Health "
    "Industries Insurance Labs Logistics Media Motors Networks Pharma Retail Robotics Security Software Solutions "
    "Systems Technologies Telecom Ventures Works"
)
TITLES = [
    "Software Engineer", "Senior Software Engineer", "Staff Engineer", "DevOps Engineer", "Site Reliability Engineer",
    "Engineering Manager", "VP Engineering", "CTO", "Head of Platform", "Director of IT", "IT Manager",
    "Security Engineer", "CISO", "Product Manager", "Developer", "Full Stack Developer", "Architect",
    "Solutions Architect", "QA Engineer", "Release Manager", "Student", "Consultant", "CEO", "Founder",
    "Data Engineer", "Platform Engineer", "Team Lead", "Procurement Manager", "Sysadmin", "",
]
FREE_MAIL = ["gmail.com"] * 6 + ["yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "gmx.de", "web.de",
                                 "orange.fr", "protonmail.com", "yahoo.co.uk", "aol.com"]
DISPOSABLE = ["mailinator.com", "guerrillamail.com", "yopmail.com", "10minutemail.com", "trashmail.com",
              "sharklasers.com"]
# alpha-2 -> (canonical name as the accounts store it, weight, ways lists write it, TLD, legal forms)
COUNTRIES: dict[str, tuple[str, int, list[str], str, list[str]]] = {
    "US": ("United States", 34, ["USA", "United States", "US", "U.S.A.", "United States of America", "usa"], "com",
           ["Inc.", "Inc", "LLC", "Corp.", "Corporation", ""]),
    "DE": ("Germany", 15, ["Germany", "Deutschland", "DE", "germany"], "de", ["GmbH", "AG", "GmbH & Co. KG", "SE"]),
    "GB": ("United Kingdom", 14, ["UK", "United Kingdom", "England", "Great Britain", "GB", "U.K."], "co.uk",
           ["Ltd", "Limited", "PLC", "Ltd."]),
    "FR": ("France", 8, ["France", "FR", "france"], "fr", ["SA", "SAS", "SARL"]),
    "NL": ("Netherlands", 7, ["Netherlands", "The Netherlands", "Holland", "NL", "Nederland"], "nl", ["B.V.", "N.V."]),
    "CA": ("Canada", 5, ["Canada", "CA"], "ca", ["Inc.", "Ltd.", "Corp."]),
    "ES": ("Spain", 3, ["Spain", "España", "Espana"], "es", ["S.A.", "S.L."]),
    "IT": ("Italy", 3, ["Italy", "Italia"], "it", ["S.p.A.", "S.r.l."]),
    "CH": ("Switzerland", 3, ["Switzerland", "Schweiz", "Suisse", "CH"], "ch", ["AG", "GmbH", "SA"]),
    "AT": ("Austria", 2, ["Austria", "Österreich", "AT"], "at", ["GmbH", "AG"]),
    "AU": ("Australia", 3, ["Australia", "AU"], "com.au", ["Pty Ltd", "Pty. Ltd."]),
    "IN": ("India", 3, ["India", "IN"], "in", ["Pvt. Ltd.", "Private Limited"]),
}
ACCOUNT_TYPES = [("Prospect", 68), ("Customer", 16), ("Former Customer", 8), ("Partner", 4),
                 ("Prospect - CE User", 4)]
SEGMENTS = [("SMB", 40), ("Mid-Market", 30), ("Large", 20), (None, 10)]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def national_phone(rng: random.Random, alpha2: str) -> str:
    """A number as a person writes it at home (no +, national trunk prefix); mostly valid."""
    d = lambda n: _digits(rng, n)  # noqa: E731
    if alpha2 in ("US", "CA"):
        area = rng.choice(["415", "212", "617", "312", "206", "512", "303", "404"] if alpha2 == "US"
                          else ["416", "604", "514", "403"])
        exchange = str(rng.randint(2, 9)) + d(2)
        return rng.choice([f"({area}) {exchange}-{d(4)}", f"{area}-{exchange}-{d(4)}", f"{area}.{exchange}.{d(4)}"])
    if alpha2 == "DE":
        return rng.choice([f"030 {rng.randint(2, 9)}{d(7)}", f"089 {rng.randint(2, 9)}{d(6)}",
                           f"0171 {rng.randint(1, 9)}{d(6)}", f"040 / {rng.randint(2, 9)}{d(6)}"])
    if alpha2 == "GB":
        return rng.choice([f"020 7{d(3)} {d(4)}", f"0161 {rng.randint(2, 9)}{d(2)} {d(4)}",
                           f"07911 {d(6)}"])
    if alpha2 == "FR":
        return f"0{rng.choice('123456')} {d(2)} {d(2)} {d(2)} {d(2)}"
    if alpha2 == "NL":
        return rng.choice([f"020 {rng.randint(2, 9)}{d(2)} {d(4)}", f"06 {rng.randint(1, 9)}{d(7)}"])
    if alpha2 == "ES":
        return rng.choice([f"91{rng.randint(2, 9)} {d(3)} {d(3)}", f"6{rng.randint(0, 9)}{d(1)} {d(3)} {d(3)}"])
    if alpha2 == "IT":
        return rng.choice([f"02 {d(4)} {d(4)}", f"3{rng.randint(2, 4)}{d(1)} {d(3)} {d(4)}"])
    if alpha2 == "CH":
        return rng.choice([f"044 {rng.randint(2, 9)}{d(2)} {d(2)} {d(2)}", f"079 {d(3)} {d(2)} {d(2)}"])
    if alpha2 == "AT":
        return f"01 {rng.randint(2, 9)}{d(6)}"
    if alpha2 == "AU":
        return rng.choice([f"(02) {rng.randint(8, 9)}{d(3)} {d(4)}", f"04{d(2)} {d(3)} {d(3)}"])
    return f"0{rng.choice('89')}{d(1)} {rng.randint(6, 9)}{d(3)} {d(4)}"  # IN mobile with trunk 0


def _slug(text_: str) -> str:
    folded = unicodedata.normalize("NFKD", text_).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", folded.lower())


def _weighted(rng: random.Random, pairs: list[tuple[Any, int]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def make_companies(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """n companies as account rows: ~88 % top level, the rest subsidiaries of one of those."""
    names: set[str] = set()
    tops: list[dict[str, Any]] = []
    alpha2s = list(COUNTRIES)
    weights = [COUNTRIES[a][1] for a in alpha2s]
    n_top = int(n * 0.88)
    while len(tops) < n_top:
        base = f"{rng.choice(WORDS)} {rng.choice(TRADES)}" if rng.random() < 0.8 else \
            f"{rng.choice(WORDS)}{rng.choice(WORDS).lower()}"
        if base in names:
            continue
        names.add(base)
        alpha2 = rng.choices(alpha2s, weights=weights)[0]
        canon, _, _, tld, legal = COUNTRIES[alpha2]
        tld = "com" if rng.random() < 0.35 else tld
        domain = f"{_slug(base)}.{tld}"
        tops.append({"base": base, "alpha2": alpha2, "name": f"{base} {rng.choice(legal)}".strip(),
                     "domain": domain, "parent": None})
    subs: list[dict[str, Any]] = []
    while len(tops) + len(subs) < n:
        parent = rng.choice(tops)
        alpha2 = rng.choices(alpha2s, weights=weights)[0]
        if alpha2 == parent["alpha2"]:
            continue
        canon, _, _, tld, legal = COUNTRIES[alpha2]
        name = f"{parent['base']} {canon} {rng.choice(legal)}".strip()
        if name in names:
            continue
        names.add(name)
        # a subsidiary has its own country domain, or shares the parent's
        domain = f"{_slug(parent['base'])}.{tld}" if rng.random() < 0.6 else parent["domain"]
        subs.append({"base": parent["base"], "alpha2": alpha2, "name": name, "domain": domain, "parent": parent})
    companies = tops + subs
    for i, c in enumerate(companies):
        c["id"] = f"acc_bench{i:05d}"
        c["type"] = _weighted(rng, ACCOUNT_TYPES)
        c["segment"] = _weighted(rng, SEGMENTS)
    return companies


def account_rows(companies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for c in companies:
        rows.append({
            "id": c["id"], "name": c["name"], "website": f"https://www.{c['domain']}/", "domain": c["domain"],
            "country": COUNTRIES[c["alpha2"]][0], "type": c["type"], "segment": c["segment"],
            "parent_id": c["parent"]["id"] if c["parent"] else None,
            "employees_zoominfo": {"SMB": 40, "Mid-Market": 400, "Large": 3000}.get(c["segment"] or ""),
            "addresses": {}, "named": False, "public_sector": False, "restricted": False, "using_ce": False,
            "account_source": "Bench", "created_at": NOW, "updated_at": NOW,
        })
    return rows


def _typed_company(rng: random.Random, c: dict[str, Any]) -> str:
    """The company as a visitor types it at a booth."""
    roll = rng.random()
    if roll < 0.45:
        return c["name"]
    if roll < 0.8:
        return c["base"]
    if roll < 0.9:
        return c["base"].upper()
    return c["base"].lower()


def _email_local(rng: random.Random, first: str, last: str) -> str:
    f, la = _slug(first) or "x", _slug(last) or "y"
    return rng.choice([f"{f}.{la}", f"{f}.{la}", f"{f[0]}{la}", f"{f}_{la}", f"{f}"])


def _website(rng: random.Random, domain: str) -> str:
    roll = rng.random()
    if roll < 0.65:
        return ""
    return rng.choice([f"www.{domain}", f"https://www.{domain}/", domain, f"http://{domain}"])


def _country_written(rng: random.Random, alpha2: str) -> str:
    roll = rng.random()
    if roll < 0.05:
        return ""
    if roll < 0.06:
        return rng.choice(["N/A", "Earth", "-", "Europe"])
    return rng.choice(COUNTRIES[alpha2][2])


def make_rows(rng: random.Random, n: int, companies: list[dict[str, Any]]) -> tuple[list[list[str]], Counter[str]]:
    """n CSV rows and how many of each kind."""
    alpha2s = list(COUNTRIES)
    weights = [COUNTRIES[a][1] for a in alpha2s]
    # visitors per company: Zipf-like, a few big companies send many
    company_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(companies))]
    unknown = make_companies(random.Random(rng.random()), 1200)
    for c in unknown:
        c["domain"] = "x" + c["domain"]  # never one of the accounts' domains
    kinds: Counter[str] = Counter()
    people: list[list[str]] = []
    rows: list[list[str]] = []
    for _ in range(n):
        roll = rng.random()
        if people and roll < 0.06:
            # the same person scanned again: address in another case, maybe a new title or no phone
            prev = list(rng.choice(people))
            if prev[2]:
                prev[2] = rng.choice([prev[2].upper(), prev[2].title(), prev[2].capitalize()])
            prev[4] = rng.choice(TITLES) if rng.random() < 0.3 else prev[4]
            prev[5] = "" if rng.random() < 0.3 else prev[5]
            kinds["repeat (same email, other case)"] += 1
            rows.append(prev)
            continue
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if rng.random() < 0.82:
            company = rng.choices(companies, weights=company_weights)[0]
            kind = "corporate, account in database"
        else:
            company = rng.choice(unknown)
            kind = "corporate, no account"
        alpha2 = company["alpha2"] if rng.random() < 0.9 else rng.choices(alpha2s, weights=weights)[0]
        phone = national_phone(rng, alpha2) if rng.random() < 0.7 else ""
        title = rng.choice(TITLES)
        typed = _typed_company(rng, company)
        website = _website(rng, company["domain"])
        local = _email_local(rng, first, last)
        email = f"{local}@{company['domain']}"
        if roll < 0.26:
            email = f"{_slug(first)}.{_slug(last)}{rng.randint(1, 999)}@{rng.choice(FREE_MAIL)}"
            website = "" if rng.random() < 0.8 else website
            typed = typed if rng.random() < 0.8 else ""
            kind = "free mail"
        elif roll < 0.268:
            email = rng.choice([f"{local}@", f"{local}@{company['domain'].split('.')[0]}", f"{first} {last}@x.com",
                                f"{local}.{company['domain']}", f"{local}@@{company['domain']}"])
            kind = "invalid email (rejected)"
        elif roll < 0.276:
            email = f"{local}{rng.randint(1, 99)}@{rng.choice(DISPOSABLE)}"
            kind = "disposable email (spam)"
        elif roll < 0.281:
            email = ""
            kind = "no email, name + company"
        elif roll < 0.283:
            email, typed = "", ""
            kind = "no email, no company (rejected)"
        row = [first, last, email, typed, title, phone, _country_written(rng, alpha2), website]
        kinds[kind] += 1
        if email and kind not in ("invalid email (rejected)",):
            people.append(row)
        rows.append(row)
    return rows, kinds


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)


# --------------------------------------------------------------------------- stores


class Databases:
    """A fresh database for each run, copied from one template that was migrated and seeded once: every run
    starts from the same state, and the migrations on disk are applied once, by the code this process loaded
    (others may commit while a long benchmark runs). SQLite: a file copy; PostgreSQL: CREATE DATABASE ...
    TEMPLATE, on the server of the URL, every database dropped at the end."""

    def __init__(self, kind: str, pg_url: str | None, tmp: Path, accounts: list[dict[str, Any]]) -> None:
        self.kind, self.pg_url, self.tmp = kind, pg_url, tmp
        self.admin: sqlalchemy.Engine | None = None
        if kind == "sqlite":
            self.template = f"template_{uuid.uuid4().hex[:8]}"
            store = Store(f"sqlite:///{tmp / (self.template + '.db')}")
        else:
            assert pg_url, "postgresql needs a URL"
            self.admin = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1),
                                       isolation_level="AUTOCOMMIT")
            self.template = f"leadflow_bench_tpl_{uuid.uuid4().hex[:8]}"
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.template}"'))
            store = Store(self._url(self.template))
        try:
            store.migrate()
            seed_store(store, accounts)
        finally:
            store.dispose()

    def _url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp / (name + '.db')}"
        assert self.pg_url
        return self.pg_url.rsplit("/", 1)[0] + f"/{name}"

    def fresh(self) -> tuple[Store, str]:
        name = f"leadflow_bench_{uuid.uuid4().hex[:8]}"
        if self.admin is None:
            shutil.copyfile(self.tmp / (self.template + ".db"), self.tmp / (name + ".db"))
        else:
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return Store(self._url(name)), name

    def drop(self, store: Store, name: str) -> None:
        store.dispose()
        if self.admin is None:
            (self.tmp / (name + ".db")).unlink(missing_ok=True)
        else:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        if self.admin is None:
            (self.tmp / (self.template + ".db")).unlink(missing_ok=True)
            return
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
        self.admin.dispose()


def code_version() -> str:
    """The commit measured, "+dirty" when src/ has uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def seed_store(store: Store, accounts: list[dict[str, Any]]) -> None:
    """The demo organisation (a sales team of ~90 users for routing, a few accounts and leads), then the
    bench's accounts by Core bulk insert, parents first (the parent foreign key is checked per row on SQLite).
    Customers and former customers have an owner (an AE, SAL or AM), prospects every other one."""
    seed_demo(store, cached_playbook(None), NOW - dt.timedelta(days=1))
    with store.engine.connect() as conn:
        owners = list(conn.scalars(select(User.id).where(User.role.in_(["AE", "SAL", "AM"])).order_by(User.id)))
    rows = []
    for i, a in enumerate(accounts):
        owned = owners and (a["type"] in ("Customer", "Former Customer") or i % 2 == 0)
        rows.append({**a, "owner_id": owners[i % len(owners)] if owned else None})
    with store.engine.begin() as conn:
        conn.execute(insert(Account.__table__), [a for a in rows if a["parent_id"] is None])
        conn.execute(insert(Account.__table__), [a for a in rows if a["parent_id"] is not None])
    # Derived as accounts written through leadflow are (segment, Parent Sales Segmentation, region), so the
    # import does not derive every hierarchy the first time one of its leads matches it.
    pb = cached_playbook(None)
    roots = [a["id"] for a in rows if a["parent_id"] is None]
    with store.uow() as uow:
        for account_id in roots:
            account = uow.get(Account, account_id)
            if account is not None and derive.needs_hierarchy_refresh(account):
                derive.refresh_hierarchy(uow, pb, account, NOW - dt.timedelta(days=1))
        uow.commit()


class StatementCounter:
    """Counts SQL statements sent to the driver (an executemany counts once), by verb and table, and the
    time each kind spent in the driver (the database's own work plus the driver; not SQLAlchemy's)."""

    PATTERN = re.compile(r"^\s*(\w+)(?:.*?\b(?:FROM|INTO|UPDATE)\s+\"?(\w+))?", re.S | re.I)

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.engine = engine
        self.counts: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self._started: tuple[str, float] | None = None
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        m = self.PATTERN.match(statement)
        verb = m.group(1).upper() if m else "?"
        table = (m.group(2) or "") if m and verb in ("SELECT", "INSERT", "UPDATE", "DELETE") else ""
        kind = f"{verb} {table}".strip() + (" (executemany)" if executemany else "")
        self.counts[kind] += 1
        self._started = (kind, time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if self._started is not None:
            kind, started = self._started
            self.seconds[kind] += time.perf_counter() - started
            self._started = None

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# --------------------------------------------------------------------------- the three methods


def counts(store: Store) -> dict[str, int]:
    """Rows in the tables an import writes (the seeded organisation has some already)."""
    tables = {"history_rows": FieldHistory, "leads": Lead, "contacts": Contact, "intakes": Intake,
              "outbox": OutboxEvent, "activities": Activity, "campaign_members": CampaignMember}
    with store.engine.connect() as conn:
        return {k: conn.scalar(select(func.count()).select_from(m)) or 0 for k, m in tables.items()}


def written(store: Store, before: dict[str, int]) -> dict[str, int]:
    return {k: v - before[k] for k, v in counts(store).items()}


def run_import(store: Store, path: Path) -> dict[str, Any]:
    pb = cached_playbook(None)
    before = counts(store)
    counter = StatementCounter(store.engine)
    marks: list[float] = []
    done = 0

    def on_row(n: int) -> None:
        nonlocal done
        done += n
        if done % SEGMENT == 0:
            marks.append(time.perf_counter())

    start = time.perf_counter()
    report = import_leads(store, pb, path, channel="event_scan", actor=Actor.system("bench-import"), now=NOW,
                          campaign="Bench Event", on_row=on_row)
    seconds = time.perf_counter() - start
    counter.close()
    edges = [start, *marks]
    return {"rows_per_s_by_segment": [round(SEGMENT / (b - a)) for a, b in zip(edges, edges[1:], strict=False)],
            "seconds": seconds, "rows": report.rows, "created": report.created, "updated": report.updated,
            "replayed": report.replayed, "rejected": report.rejected, "other": report.other,
            **written(store, before), "sql_statements": counter.total,
            "sql_by_kind": dict(counter.counts.most_common())}


def _csv_leads(path: Path, channel: str) -> list[dict[str, Any]]:
    """The CSV's raw fields as lead columns, nothing normalised."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        return [{"first_name": r[0] or None, "last_name": r[1] or None, "email": r[2] or None,
                 "company": r[3] or None, "title": r[4] or None, "phone": r[5] or None, "country": r[6] or None,
                 "website": r[7] or None, "channel": channel} for r in reader]


def run_core(store: Store, path: Path) -> dict[str, Any]:
    status = cached_playbook(None).default_status.name
    table = Lead.__table__
    start = time.perf_counter()
    rows = _csv_leads(path, "event_scan")
    for i in range(0, len(rows), CHUNK):
        chunk = [{**r, "id": new_id("ld"), "status": status, "initial_source": "Conference", "created_at": NOW,
                  "updated_at": NOW, "bad_data_reasons": [], "score": 0, "score_parts": [], "spam_reasons": [],
                  "duplicate_candidates": []} for r in rows[i:i + CHUNK]]
        with store.engine.begin() as conn:
            conn.execute(insert(table), chunk)
    return {"seconds": time.perf_counter() - start, "rows": len(rows)}


def run_orm_history(store: Store, path: Path) -> dict[str, Any]:
    status = cached_playbook(None).default_status.name
    actor = Actor.system("bench")
    before = counts(store)
    start = time.perf_counter()
    rows = _csv_leads(path, "event_scan")
    for i in range(0, len(rows), CHUNK):
        with store.uow() as uow:
            with uow.changing(actor=actor, now=NOW):
                uow.session.add_all([Lead(**r, status=status, initial_source="Conference") for r in rows[i:i + CHUNK]])
            uow.commit()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(rows), "history_rows": written(store, before)["history_rows"]}


def pure_orm_refusal(store: Store) -> str | None:
    """Why a plain ORM session cannot insert a lead (None if it could)."""
    with Session(store.engine) as session:
        session.add(Lead(id="ld_probe", last_name="Probe", status="Raw"))
        try:
            session.flush()
        except UnrecordedChange as exc:
            session.rollback()
            return f"UnrecordedChange: {exc}"
        session.rollback()
    return None


METHODS: list[tuple[str, str, Callable[[Store, Path], dict[str, Any]]]] = [
    ("import", "import_leads (full intake, history)", run_import),
    ("core", "Core insert executemany (raw fields)", run_core),
    ("orm_history", "ORM + history, no pipeline", run_orm_history),
]


# --------------------------------------------------------------------------- profile


def profile(rows: int, seed: int, tmp: Path) -> None:
    rng = random.Random(seed)
    companies = make_companies(rng, 2000)
    data, _ = make_rows(rng, rows, companies)
    path = tmp / "event.csv"
    write_csv(path, data)
    dbs = Databases("sqlite", None, tmp, account_rows(companies))
    store, name = dbs.fresh()
    pb = cached_playbook(None)
    counter = StatementCounter(store.engine)
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    report = import_leads(store, pb, path, channel="event_scan", actor=Actor.system("bench-import"), now=NOW,
                          campaign="Bench Event")
    prof.disable()
    seconds = time.perf_counter() - start
    counter.close()
    dbs.drop(store, name)
    dbs.close()
    console.print(f"SQLite import of {rows:,} rows under cProfile: {seconds:.1f} s ({rows / seconds:,.0f} rows/s "
                  f"with the profiler's overhead); {report.summary()}")
    console.print(f"SQL statements: {counter.total:,} = {counter.total / rows:.1f} per row")
    driver = sum(counter.seconds.values())
    console.print(f"time in the driver (cursor.execute, rows not yet fetched): {driver:.1f} s = "
                  f"{driver / seconds:.0%} of the import")
    table = Table(title="SQL statements by kind")
    for column in ("statement", "count", "per row", "driver s", "ms each"):
        table.add_column(column, justify="right" if column != "statement" else "left")
    for kind, count in counter.counts.most_common(25):
        spent = counter.seconds[kind]
        table.add_row(kind, f"{count:,}", f"{count / rows:.2f}", f"{spent:.1f}", f"{spent / count * 1000:.3f}")
    console.print(table)
    stats = pstats.Stats(prof)
    own = [(key, value) for key, value in stats.stats.items()  # type: ignore[attr-defined]
           if "/leadflow/" in key[0]]
    own.sort(key=lambda kv: -kv[1][3])
    table = Table(title=f"leadflow functions by cumulative time (of {seconds:.1f} s under cProfile)")
    for column in ("function", "calls", "per row", "cumulative s", "%", "own s"):
        table.add_column(column, justify="right" if column != "function" else "left")
    for (file, line, name), (_, calls, own_s, cum_s, _) in own[:40]:
        where = file.split("/leadflow/", 1)[1]
        table.add_row(f"{where}:{line} {name}", f"{calls:,}", f"{calls / rows:.2f}", f"{cum_s:.1f}",
                      f"{cum_s / seconds:.0%}", f"{own_s:.1f}")
    console.print(table)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(30)
    console.print(f"--- top functions by own time (total {seconds:.1f} s)")
    console.print(out.getvalue().split("\n", 6)[-1])


# --------------------------------------------------------------------------- main


def load_previous(key: dict[str, Any]) -> list[dict[str, Any]]:
    """Results of an earlier invocation with the same data (rows, seed, accounts), to keep other stores'."""
    try:
        old = json.loads((RESULTS / "import.json").read_text())
    except (OSError, ValueError):
        return []
    if any(old.get(k) != v for k, v in key.items()):
        return []
    return list(old.get("results", []))


def summarise(results: list[dict[str, Any]], n_rows: int) -> None:
    for r in results:
        core = next((c for c in results if c["store"] == r["store"] and c["method"] == "core"), None)
        r["ratio_to_core"] = round(r["rows_per_s"] / core["rows_per_s"], 4) if core else None
    runs = sorted({r["runs"] for r in results})
    table = Table(title=f"CSV import, {n_rows:,} rows (median of {'/'.join(map(str, runs))} run(s))")
    for column in ("store", "method", "rows", "runs", "seconds", "rows/s", "ratio to Core insert", "history rows",
                   "SQL/row", "outcome"):
        table.add_column(column, justify="left" if column in ("store", "method", "outcome") else "right")
    for r in results:
        outcome = (f"{r['created']:,} created, {r['updated']:,} updated, {r['rejected']:,} rejected"
                   if r["method"] == "import" else "")
        history = f"{r['history_rows']:,}" if "history_rows" in r else "none"
        ratio = f"{r['ratio_to_core']:.4f}" if r["ratio_to_core"] is not None else "-"
        table.add_row(r["store"], r["label"], f"{r['rows']:,}", str(r["runs"]), f"{r['seconds']:.2f}",
                      f"{r['rows_per_s']:,}", ratio, history, str(r.get("sql_statements_per_row", "")), outcome)
    console.print(table)
    commits = sorted({str(r.get("commit")) for r in results})
    console.print(f"code measured: {', '.join(commits)}" + (" (MIXED: re-run for one version)" if len(commits) > 1
                                                               else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="CSV rows (default 100,000; 10,000 with --quick)")
    parser.add_argument("--runs", type=int, default=None, help="runs per method and store (default 3; 1 --quick)")
    parser.add_argument("--quick", action="store_true", help="10,000 rows, 1 run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--stores", default=None,
                        help="comma list of sqlite,postgresql (default: sqlite, and postgresql when its URL is set); "
                             "results of the other store from an earlier run with the same rows/seed are kept")
    parser.add_argument("--profile", action="store_true", help="profile one SQLite import (default 5,000 rows)")
    args = parser.parse_args()
    if args.profile:
        with tempfile.TemporaryDirectory() as tmpdir:
            profile(args.rows or 5000, args.seed, Path(tmpdir))
        return
    n_rows = args.rows or (10_000 if args.quick else 100_000)
    runs = args.runs or (1 if args.quick else 3)
    pg_url = os.environ.get("LEADFLOW_BENCH_POSTGRES_URL") or os.environ.get("LEADFLOW_TEST_POSTGRES_URL")
    kinds = args.stores.split(",") if args.stores else ["sqlite"] + (["postgresql"] if pg_url else [])
    if "postgresql" in kinds and not pg_url:
        parser.error("postgresql needs LEADFLOW_BENCH_POSTGRES_URL (or LEADFLOW_TEST_POSTGRES_URL)")

    rng = random.Random(args.seed)
    companies = make_companies(rng, args.accounts)
    accounts = account_rows(companies)
    data, mix = make_rows(rng, n_rows, companies)
    key = {"rows": n_rows, "seed": args.seed, "accounts": len(accounts), "chunk": CHUNK}
    kept = [r for r in load_previous(key) if r["store"] not in kinds]
    results: list[dict[str, Any]] = []
    refusal: str | None = None
    version = code_version()

    def save() -> None:
        every = kept + results
        summarise(every, n_rows)
        sqlite_import = next((r for r in every if r["store"] == "sqlite" and r["method"] == "import"), None)
        met = sqlite_import["rows_per_s"] >= GOAL_SQLITE if sqlite_import else None
        RESULTS.mkdir(exist_ok=True)
        payload = {
            **key, "csv_mix": dict(mix.most_common()),
            "goal": {"sqlite_rows_per_s": GOAL_SQLITE, "met": met},
            "orm_without_history": {"skipped": True, "why": refusal},
            "environment": {"python": platform.python_version(), "sqlalchemy": sqlalchemy.__version__,
                            "sqlite": __import__("sqlite3").sqlite_version, "machine": platform.machine(),
                            "cpus": os.cpu_count()},
            "results": every,
        }
        (RESULTS / "import.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        if sqlite_import:
            console.print(f"goal >= {GOAL_SQLITE:,} rows/s on SQLite with history: "
                          f"{'met' if met else 'NOT met'} ({sqlite_import['rows_per_s']:,} rows/s)")

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        path = tmp / "event.csv"
        write_csv(path, data)
        console.print(f"{n_rows:,} rows ({path.stat().st_size / 1e6:.1f} MB), {len(accounts):,} accounts, "
                      f"{runs} run(s) on {', '.join(kinds)}")
        for kind in kinds:
            dbs = Databases(kind, pg_url, tmp, accounts)
            try:
                for method, label, fn in METHODS:
                    outcomes = []
                    for run in range(runs):
                        store, name = dbs.fresh()
                        try:
                            if refusal is None and method == "orm_history":
                                refusal = pure_orm_refusal(store)
                            outcome = fn(store, path)
                        finally:
                            dbs.drop(store, name)
                        console.print(f"  {kind} {method} run {run + 1}: {outcome['seconds']:.1f} s "
                                      f"({outcome['rows'] / outcome['seconds']:,.0f} rows/s)")
                        outcomes.append(outcome)
                    seconds = statistics.median(o["seconds"] for o in outcomes)
                    n = outcomes[0]["rows"]
                    entry: dict[str, Any] = {
                        "store": kind, "method": method, "label": label, "rows": n, "runs": runs,
                        "seconds": round(seconds, 3), "rows_per_s": round(n / seconds),
                        "runs_seconds": [round(o["seconds"], 3) for o in outcomes], "commit": version,
                    }
                    extra = {k: v for k, v in outcomes[0].items() if k not in ("seconds", "rows")}
                    if "sql_statements" in extra:
                        extra["sql_statements_per_row"] = round(extra["sql_statements"] / n, 2)
                    entry.update(extra)
                    results.append(entry)
                    save()  # after each method, so a long run that dies keeps what it measured
            finally:
                dbs.close()
    console.print(f"ORM without history: skipped, {refusal or 'not refused?'}")
    if "postgresql" not in kinds and not any(r["store"] == "postgresql" for r in kept):
        console.print("PostgreSQL skipped: set LEADFLOW_BENCH_POSTGRES_URL to include it")


if __name__ == "__main__":
    main()
