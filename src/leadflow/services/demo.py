"""The demo organisation added by `leadflow init`: a team, accounts and leads with a past.

Everything is written through the one write path (`uow.changing`), so every record has the
field history a real organisation would have: users and accounts imported about six months
ago, leads created over the last 180 days from the playbook's intake channels and moved to
their status only by transitions the playbook allows, with queues, owners, scores, bad-data
reasons and lifecycle classifications as the engine would have set them.

The demo is deterministic (one `random.Random(SEED)`, every time derived from `now`) and
added once: a Meta row records it, and a second call changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import unicodedata
from dataclasses import dataclass
from typing import Any

import phonenumbers

from leadflow.domain import lifecycle
from leadflow.domain.records import Actor, Owner
from leadflow.playbook.countries import resolve_country
from leadflow.playbook.schema import BadDataRuleDef, ChannelDef, Playbook, StatusDef
from leadflow.services.lifecycle import (
    Person,
    add_bad_data_reason,
    refresh_classifications,
    set_owner,
    transition,
)
from leadflow.services.setup import get_meta, set_meta
from leadflow.store.db import Store
from leadflow.store.models import Account, Contact, Lead, User
from leadflow.store.uow import UnitOfWork

DEMO_KEY = "demo_organisation"
SEED = 20260302
DEMO = Actor.system("demo")
EMAIL_DOMAIN = "leadflow-demo.example"
SALES_ADMIN_ID = "sales-admin"
RESEARCH_ID = "account-research"
PUBLIC_SECTOR = "Public Sector"
US_PUBLIC_SECTOR = "US Public Sector Inside Sales"
LEAD_COUNT = 300
HISTORY_DAYS = 180
MAX_PATH = 5

ROLES = (
    "SDR", "BDR", "AE", "SAL", "AM", "RD", "Team Lead", "CSM", "Admin", "Sales Admin", "Ops",
    "Reseller",
)
REPS = ("SDR", "BDR")
# How many users of each role a region gets; the busiest regions get one more of some.
ROSTER = {"SDR": 2, "BDR": 2}
EXTRA = {"EMEA": {"BDR": 1, "SAL": 1}, "US East": {"BDR": 1, "SAL": 1}, "US West": {"BDR": 1}}
OUT_OF_OFFICE = ("emea-bdr-2", "us-west-bdr-2")
INACTIVE = ("us-east-bdr-3",)
DOUBLE_WEIGHT = ("emea-bdr-1", "us-east-bdr-1", "apac-sdr-1")

# --------------------------------------------------------------------------- people

NAMES: dict[str, tuple[str, str]] = {
    "en_us": (
        "James Mary Robert Patricia Michael Jennifer David Linda William Elizabeth Daniel "
        "Sarah Marcus Aisha Kevin Priya Carlos Megan Tyler Jasmine Brandon Olivia Ethan Chloe "
        "Nathan Grace Derek Rachel Andre Keisha Luis Hannah Jamal Emily Victor Natalie",
        "Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Foster "
        "Wilson Anderson Thomas Taylor Moore Coleman Martin Lee Thompson White Harris Clark "
        "Lewis Robinson Walker Young Allen King Wright Nguyen Patel Kim Okafor Rivera Brooks",
    ),
    "en_gb": (
        "Oliver George Harry Amelia Isla Emily Jack Charlotte Thomas Sophie Alfie Poppy "
        "Freddie Evie Callum Niamh",
        "Smith Jones Taylor Evans Davies Wright Walker Hughes Roberts Edwards Hall Green "
        "Clarke Murphy Kelly Byrne",
    ),
    "en_au": (
        "Jack Olivia William Charlotte Noah Mia Lachlan Chloe Cooper Ruby Liam Matilda",
        "Smith Mitchell Campbell Kelly Jones Brown Wilson Taylor Anderson Thompson Ryan White",
    ),
    "de": (
        "Lukas Anna Jonas Lea Felix Sophie Maximilian Hannah Paul Marie Jan Katharina Tobias "
        "Laura Niklas Julia",
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Hoffmann Schulz Koch "
        "Richter Klein Wolf Schäfer Krüger",
    ),
    "fr": (
        "Lucas Léa Hugo Chloé Louis Manon Gabriel Camille Arthur Inès Jules Sarah",
        "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Laurent Lefèvre",
    ),
    "nl": (
        "Daan Emma Sem Julia Lucas Sophie Lars Fleur Bram Sanne",
        "de_Jong Jansen de_Vries van_den_Berg Bakker Visser Smit Meijer Mulder Bos",
    ),
    "nordic": (
        "Erik Astrid Lars Ingrid Johan Freja Magnus Sofia Nils Maja Henrik Sigrid",
        "Andersson Johansson Karlsson Nilsson Hansen Johansen Olsen Larsen Berg Lindqvist "
        "Eriksen Dahl",
    ),
    "pl": (
        "Jakub Zuzanna Kacper Julia Szymon Maja Piotr Aleksandra Tomasz Magdalena",
        "Nowak Kowalski Wiśniewski Wójcik Kamiński Lewandowski Zieliński Szymański",
    ),
    "es": (
        "Alejandro Lucía Daniel María Pablo Sofía Javier Carmen Diego Valentina Mateo Camila "
        "Santiago Isabella Andrés Paula",
        "García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez Díaz Torres "
        "Ramírez Flores Rojas Castro Vargas",
    ),
    "it": (
        "Marco Giulia Alessandro Francesca Luca Chiara Matteo Sara Davide Elena",
        "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco",
    ),
    "pt": (
        "João Ana Pedro Beatriz Lucas Mariana Gabriel Juliana Rafael Larissa Thiago Camila",
        "Silva Santos Oliveira Souza Pereira Costa Rodrigues Almeida Carvalho Lima Ribeiro "
        "Ferreira",
    ),
    "za": (
        "Thabo Naledi Sipho Lerato Pieter Anika Johan Zanele Kagiso Ayanda",
        "Nkosi Dlamini van_der_Merwe Botha Mokoena Naidoo Pretorius Khumalo",
    ),
    "ar": (
        "Omar Layla Ahmed Fatima Yousef Mariam Khalid Noor Tariq Huda",
        "Al_Mansouri Haddad Khoury Saleh Nasser Rahman Aziz Farouk",
    ),
    "he": ("Noam Yael Itai Noa Ariel Tamar Eitan Shira", "Cohen Levi Mizrahi Peretz Friedman Katz"),
    "ja": (
        "Haruto Yui Sota Hina Ren Aoi Takumi Sakura Kenji Yuki Daiki Mei",
        "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato",
    ),
    "hi": (
        "Aarav Ananya Rohan Priya Vikram Kavya Arjun Neha Rahul Sneha Karthik Divya",
        "Sharma Patel Iyer Reddy Gupta Nair Singh Kumar Menon Rao Joshi Desai",
    ),
    "zh": (
        "Wei Mei Jun Li Hui Xin Jia Ming Kai Ling",
        "Tan Lim Lee Ng Wong Chen Goh Chua Teo Ong",
    ),
    "ko": ("Min-jun Seo-yeon Ji-ho Ha-eun Do-yun Ji-woo Hyun-woo Su-bin", "Kim Lee Park Choi Jung Kang"),
}

# Places: ISO country -> (name locale, [(city, state, telephone area code)], company suffix, tld).
PLACES: dict[str, tuple[str, list[tuple[str, str | None, str]], str, str]] = {
    "DE": ("de", [("Berlin", None, "30"), ("Munich", None, "89"), ("Hamburg", None, "40")],
           "GmbH", "de"),
    "GB": ("en_gb", [("London", None, "20"), ("Manchester", None, "161")], "Ltd", "co.uk"),
    "FR": ("fr", [("Paris", None, "1"), ("Lyon", None, "4")], "SAS", "fr"),
    "NL": ("nl", [("Amsterdam", None, "20"), ("Utrecht", None, "30")], "B.V.", "nl"),
    "SE": ("nordic", [("Stockholm", None, "8"), ("Gothenburg", None, "31")], "AB", "se"),
    "NO": ("nordic", [("Oslo", None, "2")], "AS", "no"),
    "PL": ("pl", [("Warsaw", None, "22"), ("Kraków", None, "12")], "Sp. z o.o.", "pl"),
    "CH": ("de", [("Zurich", None, "44")], "AG", "ch"),
    "ES": ("es", [("Madrid", None, "91"), ("Barcelona", None, "93")], "S.L.", "es"),
    "IT": ("it", [("Milan", None, "02")], "S.r.l.", "it"),
    "IE": ("en_gb", [("Dublin", None, "1")], "Ltd", "ie"),
    "ZA": ("za", [("Cape Town", None, "21"), ("Johannesburg", None, "11")], "(Pty) Ltd", "co.za"),
    "AE": ("ar", [("Dubai", None, "4")], "LLC", "ae"),
    "IL": ("he", [("Tel Aviv", None, "3")], "Ltd", "co.il"),
    "JP": ("ja", [("Tokyo", None, "3"), ("Osaka", None, "6")], "K.K.", "co.jp"),
    "IN": ("hi", [("Bengaluru", None, "80"), ("Pune", None, "20"), ("Mumbai", None, "22")],
           "Pvt Ltd", "in"),
    "AU": ("en_au", [("Sydney", None, "2"), ("Melbourne", None, "3")], "Pty Ltd", "com.au"),
    "SG": ("zh", [("Singapore", None, "6")], "Pte Ltd", "com.sg"),
    "NZ": ("en_au", [("Auckland", None, "9")], "Ltd", "co.nz"),
    "KR": ("ko", [("Seoul", None, "2")], "Co., Ltd.", "co.kr"),
    "BR": ("pt", [("São Paulo", None, "11"), ("Rio de Janeiro", None, "21")], "Ltda.", "com.br"),
    "MX": ("es", [("Mexico City", None, "55"), ("Monterrey", None, "81")], "S.A. de C.V.",
           "com.mx"),
    "CL": ("es", [("Santiago", None, "2")], "SpA", "cl"),
    "AR": ("es", [("Buenos Aires", None, "11")], "S.A.", "com.ar"),
    "CO": ("es", [("Bogotá", None, "601")], "S.A.S.", "com.co"),
    "PE": ("es", [("Lima", None, "1")], "S.A.C.", "pe"),
    "US": ("en_us", [
        ("New York", "NY", "212"), ("Boston", "MA", "617"), ("Atlanta", "GA", "404"),
        ("Austin", "TX", "512"), ("Chicago", "IL", "312"), ("Miami", "FL", "305"),
        ("Arlington", "VA", "703"), ("Raleigh", "NC", "919"), ("Philadelphia", "PA", "215"),
        ("San Francisco", "CA", "415"), ("San Diego", "CA", "619"), ("Seattle", "WA", "206"),
        ("Portland", "OR", "503"), ("Denver", "CO", "303"), ("Salt Lake City", "UT", "801"),
        ("Phoenix", "AZ", "602"), ("Wichita", "KS", "316"),
    ], "Inc.", "com"),
    "CA": ("en_us", [
        ("Toronto", "ON", "416"), ("Montreal", "QC", "514"), ("Vancouver", "BC", "604"),
        ("Calgary", "AB", "403"),
    ], "Inc.", "ca"),
}
# Where unmatched leads come from (a region, then one of its countries).
LEAD_REGIONS = {"US East": 24, "US West": 18, "EMEA": 30, "APAC": 16, "LATAM": 12}
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com")
COMPANY_WORDS = (
    "Blue Heron", "Copperleaf", "Ironbark", "Silverline", "Granite Peak", "Lakeshore",
    "Tidewater", "Amberfield", "Brightpath", "Cobalt Ridge", "Evergreen", "Falconer",
    "Highgate", "Juniper Lane", "Kingsway", "Larkspur", "Meridian Bay", "Oakhurst", "Pinecrest",
    "Quarry Hill", "Riverbend", "Stonebridge", "Thornfield", "Vantage Point", "Willowbrook",
    "Yellowfin", "Zephyr", "Hollowell", "Marlow", "Saltmarsh",
)
COMPANY_KINDS = {
    "Software": "Software", "Labs": "Software", "Systems": "IT Services",
    "Analytics": "Software", "Logistics": "Transportation", "Health": "Healthcare",
    "Games": "Gaming", "Robotics": "Manufacturing", "Media": "Media", "Energy": "Energy",
    "Bank": "Banking", "Insurance": "Insurance",
}
TITLES = (
    "VP of Engineering", "CTO", "Head of DevOps", "Senior Software Engineer",
    "Engineering Manager", "Platform Engineer", "Director of IT", "DevOps Lead",
    "Security Engineer", "Release Manager", "Software Developer", "IT Manager",
    "Site Reliability Engineer", "Chief Information Officer", "QA Lead",
)
# A title that fits the reason a lead left the funnel.
REASON_TITLES = {
    "Student": "Student", "Consultant": "Independent Consultant",
    "No Authority": "Junior Developer", "Personal Use": "Hobbyist Developer",
    "GitLab Employee or Candidate": "Software Engineer (candidate)",
}
CHANNEL_WEIGHTS = {
    "trial_self_managed": 9, "trial_saas": 9, "contact_us": 8, "webcast_registration": 6,
    "webcast_attended": 5, "content_download": 8, "event_scan": 7, "gitlab_com_signup": 7,
    "web_chat": 4, "other_form": 4, "ce_download": 3,
}
STATUS_WEIGHTS = {
    "Raw": 14, "Inquiry": 12, "MQL": 13, "Accepted": 12, "Qualifying": 10, "Qualified": 9,
    "Disqualified": 12, "Recycle": 11, "Ineligible": 7,
}
STATUS_WHY = {
    "Inquiry": "gave their contact details on a form",
    "Accepted": "first step of an outreach sequence done",
    "Qualifying": "the person replied: two-way conversation",
    "Qualified": "SAO created and handed to the sales team",
}
DEVELOPER_BUCKETS = ("1-100", "101-750", "751-4999", "5000+")
# How often each reason is given (others: 1).
REASON_WEIGHTS = {
    "No response": 8, "No interest": 3, "Evaluating": 3, "No Budget": 3, "Personal Use": 4,
    "Competitor": 3, "Unsubscribe": 3, "No Authority": 2, "Student": 3,
    "Open Source Program": 2, "Support": 2,
}


@dataclass(frozen=True)
class AccountSpec:
    """One demo company; employees are (DataFox, ZoomInfo, LinkedIn, admin override)."""

    key: str
    name: str
    domain: str
    type: str
    industry: str
    country: str
    city: int
    employees: tuple[int | None, int | None, int | None, int | None]
    parent: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()


def _acc(key: str, name: str, domain: str, type_: str, industry: str, country: str,
         city: int, employees: tuple[int | None, ...], parent: str | None = None,
         **extra: Any) -> AccountSpec:
    df, zi, li, admin = (tuple(employees) + (None, None, None, None))[:4]
    return AccountSpec(key, name, domain, type_, industry, country, city, (df, zi, li, admin),
                       parent, tuple(extra.items()))


ACCOUNTS: tuple[AccountSpec, ...] = (
    # Nordwerk: a customer hierarchy three levels deep.
    _acc("nordwerk", "Nordwerk Industries AG", "nordwerk-industries.de", "Customer",
         "Manufacturing", "DE", 1, (48000, 51000, 46500), named=True, sdr="emea-sdr-1",
         compliance_status="Clear", sponsor="emea-rd-1", how_many_developers=3500,
         it_tedd_employees=4200, number_of_licenses=1200),
    _acc("nordwerk-auto", "Nordwerk Automotive GmbH", "nordwerk-automotive.de", "Customer",
         "Automotive", "DE", 2, (12000, None, 11000), parent="nordwerk",
         compliance_status="Clear", number_of_licenses=300),
    _acc("nordwerk-pl", "Nordwerk Automotive Polska Sp. z o.o.", "nordwerk-automotive.pl",
         "Prospect", "Automotive", "PL", 1, (None, 900, 1100), parent="nordwerk-auto"),
    _acc("nordwerk-digital", "Nordwerk Digital Ltd", "nordwerkdigital.co.uk", "Prospect",
         "Software", "GB", 0, (350, 340), parent="nordwerk"),
    # Harborline: a prospect hierarchy three levels deep, worked by a BDR.
    _acc("harborline", "Harborline Financial Group", "harborlinefinancial.com", "Prospect",
         "Financial Services", "US", 0, (22000, 24000), bdr="us-east-bdr-1"),
    _acc("harborline-bank", "Harborline Bank", "harborlinebank.com", "Prospect", "Banking",
         "US", 1, (8000, 7600), parent="harborline"),
    _acc("harborline-ca", "Harborline Bank Canada", "harborlinebank.ca", "Prospect", "Banking",
         "CA", 0, (650, 700), parent="harborline-bank"),
    # Sakura: a prospect parent with a customer child (customer hierarchy).
    _acc("sakura", "Sakura Mobility Holdings K.K.", "sakura-mobility.co.jp", "Prospect",
         "Automotive", "JP", 0, (30000, 28500)),
    _acc("sakura-sw", "Sakura Mobility Software K.K.", "sakuramobility-soft.jp", "Customer",
         "Software", "JP", 1, (1500, None, 1650), parent="sakura", compliance_status="Clear",
         number_of_licenses=300, how_many_developers=900),
    _acc("sakura-au", "Sakura Mobility Australia Pty Ltd", "sakuramobility.com.au", "Prospect",
         "Automotive", "AU", 1, (None, 220, 260), parent="sakura"),
    # Andes Retail: a former customer with a child.
    _acc("andes", "Andes Retail S.A.", "andesretail.cl", "Former Customer", "Retail", "CL", 0,
         (9500, 9100)),
    _acc("andes-pe", "Andes Retail Perú S.A.C.", "andesretail.pe", "Former Customer", "Retail",
         "PE", 0, (2100,), parent="andes"),
    # Cascade: became a customer five months ago.
    _acc("cascade", "Cascade Cloud Systems Inc.", "cascadecloud.io", "Customer", "Software",
         "US", 11, (1800, 1650, 2100), became="Customer", compliance_status="Clear",
         number_of_licenses=900, potential_ee_users_override=1500, how_many_developers=1200),
    _acc("cascade-labs", "Cascade Labs LLC", "cascadelabs.dev", "Customer", "Software", "US", 9,
         (140, 150), parent="cascade"),
    # Partners, channel and resellers.
    _acc("nordic-devops", "Nordic DevOps Partners AB", "nordicdevops.se", "Partner",
         "IT Services", "SE", 0, (85, None, 92)),
    _acc("pacific-channel", "Pacific Channel Distributors Pte Ltd", "pacificchannel.com.sg",
         "Channel", "IT Distribution", "SG", 0, (420, 400)),
    _acc("soluciones-ti", "Soluciones TI Latam Ltda.", "solucionesti.com.br", "Channel",
         "IT Services", "BR", 0, (160,)),
    # Community Edition users found by the usage ping (owned by Sales Admin).
    _acc("kiwi-code", "Kiwi Code Collective", "kiwicode.nz", "Prospect - CE User", "Software",
         "NZ", 0, (None, None, 30), ce=(45, 2)),
    _acc("bytebrook", "Bytebrook Studio B.V.", "bytebrook.nl", "Prospect - CE User", "Media",
         "NL", 1, (None, 75), ce=(120, 3)),
    _acc("prairie-data", "Prairie Data Co-op", "prairiedata.coop", "Prospect - CE User",
         "Agriculture", "US", 16, (), ce=(18, 1)),
    # Public sector.
    _acc("front-range", "Front Range County Government", "frontrangecounty.gov", "Prospect",
         "Government", "US", 13, (4200, 4000), public_sector=True, restricted=True,
         compliance_status="Clear"),
    _acc("midwest-state", "Midwest State University", "midweststate.edu", "Customer",
         "Education", "US", 4, (9000, 8800), public_sector=True, compliance_status="Clear",
         number_of_licenses=500),
    # Single companies.
    _acc("maple-health", "Maple Health Networks", "maplehealth.ca", "Customer", "Healthcare",
         "CA", 2, (3200, 3000), partner_managed=True, compliance_status="Clear",
         number_of_licenses=650),
    _acc("lumen", "Lumen Analytique SAS", "lumen-analytique.fr", "Prospect", "Software", "FR",
         0, (640, 700), named=True, sdr="emea-sdr-2", bdr="emea-bdr-1"),
    _acc("brightwater", "Brightwater Media Ltd", "brightwatermedia.co.uk", "Former Customer",
         "Media", "GB", 1, (260, 240), churned=True),
    _acc("quetzal", "Quetzal Pagos S.A. de C.V.", "quetzalpagos.mx", "Prospect",
         "Financial Services", "MX", 0, (75, 80), bdr="latam-bdr-1"),
    _acc("indus", "Indus Payments Pvt Ltd", "induspayments.in", "Prospect", "Financial Services",
         "IN", 0, (2600, 2500, None, 2400), bdr="apac-bdr-1"),
    _acc("kestrel", "Kestrel Games Inc.", "kestrelgames.com", "Prospect", "Gaming", "US", 3,
         (45, None, 60)),
    _acc("orchid", "Orchid Biotech Pte Ltd", "orchidbiotech.sg", "Customer", "Biotechnology",
         "SG", 0, (310, 290), became="Customer", compliance_status="Clear",
         number_of_licenses=120),
    _acc("redwood", "Redwood Mutual Insurance", "redwoodmutual.com", "Prospect", "Insurance",
         "US", 10, (5400, 5100), named=True, sdr="us-west-sdr-1"),
    _acc("savanna", "Savanna Telecom (Pty) Ltd", "savannatelecom.co.za", "Prospect",
         "Telecommunications", "ZA", 1, (None, 1900, 2300), compliance_status="Pending"),
    _acc("helvetia", "Helvetia Präzision AG", "helvetia-praezision.ch", "Customer",
         "Manufacturing", "CH", 0, (780, 760), partner_managed=True, compliance_status="Clear",
         number_of_licenses=150),
    _acc("tango", "Tango Energía S.A.", "tangoenergia.com.ar", "Prospect", "Energy", "AR", 0,
         (1200, 1150), user_input=(1350, "https://www.tangoenergia.com.ar/empresa")),
)


# --------------------------------------------------------------------------- helpers


def _ascii(text: str) -> str:
    """Lower-case ASCII for email addresses: Müller -> mueller, Lefèvre -> lefevre."""
    text = text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    text = text.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _country_name(code: str) -> str:
    found = resolve_country(code)
    return found.name if found else code


def _region_of(pb: Playbook, code: str, state: str | None) -> str | None:
    """The playbook region of a country (and US/Canadian state), ignoring legacy regions."""
    for region in pb.regions:
        if region.legacy:
            continue
        if code in region.countries:
            return region.name
        for country, states in region.subdivisions.items():
            found = resolve_country(country, pb.countries.aliases)
            if found is not None and found.alpha_2 == code and state in states:
                return region.name
    return None


def _employees(df: int | None, zi: int | None, admin: int | None) -> int | None:
    """S6: admin override, else DataFox, else ZoomInfo; LinkedIn never decides."""
    for value in (admin, df, zi):
        if value:
            return value
    return None


def _segment(pb: Playbook, employees: int | None) -> str:
    scheme = pb.segmentation.active
    if employees and scheme.measure == "total_employees":
        for band in scheme.bands:
            if band.contains(employees):
                return band.name
    return pb.segmentation.unknown


def _segments(pb: Playbook) -> list[str]:
    """The segments of the playbook's active scheme, largest first, then Unknown."""
    bands = sorted(pb.segmentation.active.bands, key=lambda b: -b.min)
    return [*(b.name for b in bands), pb.segmentation.unknown]


def _status_paths(pb: Playbook) -> dict[str, list[tuple[list[str], float]]]:
    """Every simple path of legal moves (L5) from the default status, with a plausibility.

    Shorter paths are likelier, and a step back up the funnel (re-engaging a recycled or
    disqualified person) is rarer than a step forward.
    """
    order = {s.name: i for i, s in enumerate(pb.statuses)}
    found: dict[str, list[tuple[list[str], float]]] = {}

    def walk(path: list[str], weight: float) -> None:
        found.setdefault(path[-1], []).append((path[1:], weight))
        if len(path) > MAX_PATH:
            return
        here = path[-1]
        for nxt in pb.allowed_targets(here):
            if nxt in path:
                continue
            walk([*path, nxt], weight * 0.45 * (0.25 if order[nxt] < order[here] else 1.0))

    walk([pb.default_status.name], 1.0)
    return found


class _Pool:
    """A weighted round robin over users, in a fixed order."""

    def __init__(self, users: list[User]) -> None:
        self.slots = [u for u in users for _ in range(max(1, u.rr_weight or 1))]
        self.turn = 0

    def next(self) -> User | None:
        if not self.slots:
            return None
        user = self.slots[self.turn % len(self.slots)]
        self.turn += 1
        return user


@dataclass
class _Counts:
    users: int = 0
    accounts: int = 0
    leads: int = 0
    contacts: int = 0

    def summary(self) -> str:
        text = f"{self.users} users, {self.accounts} accounts, {self.leads} leads"
        return text + (f", {self.contacts} contacts" if self.contacts else "")


# --------------------------------------------------------------------------- entry point


def seed_demo(store: Store, pb: Playbook, now: dt.datetime) -> str:
    """Add the demo organisation once (all or nothing); a second call changes nothing."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    with store.uow() as uow:
        existing = get_meta(uow, DEMO_KEY)
        if existing is not None:
            return f"demo organisation: already present ({_describe(existing)})"
        counts = _Demo(uow, pb, now).build()
        set_meta(uow, DEMO_KEY, json.dumps({
            "seeded_at": now.astimezone(dt.UTC).isoformat(), "seed": SEED,
            "users": counts.users, "accounts": counts.accounts, "leads": counts.leads,
            "contacts": counts.contacts,
        }))
        uow.commit()
    return f"demo organisation: {counts.summary()}"


def _describe(value: str) -> str:
    try:
        data = json.loads(value)
        counts = _Counts(data["users"], data["accounts"], data["leads"], data.get("contacts", 0))
        return f"{counts.summary()}, added {data['seeded_at'][:10]}"
    except (ValueError, KeyError, TypeError):
        return value


class _Demo:
    """Builds the demo organisation inside one unit of work."""

    def __init__(self, uow: UnitOfWork, pb: Playbook, now: dt.datetime) -> None:
        self.uow = uow
        self.pb = pb
        self.now = now.astimezone(dt.UTC).replace(microsecond=0)
        self.rng = random.Random(SEED)
        self.counts = _Counts()
        self.regions = [r.name for r in pb.regions if not r.legacy]
        self.users: dict[str, User] = {}
        self.accounts: dict[str, Account] = {}
        self.account_specs: dict[str, AccountSpec] = {}
        self.used_names: set[tuple[str, str]] = set()
        self.used_emails: set[str] = set()
        self.used_ids: set[str] = set()
        self.pools: dict[tuple[str, str], _Pool] = {}
        self.paths = _status_paths(pb)
        self.channels = [c for c in pb.channels if c.handling == "lead"]
        self.start = self.now - dt.timedelta(days=HISTORY_DAYS + 5)

    def build(self) -> _Counts:
        self.add_users()
        self.add_accounts()
        self.add_leads()
        self.add_contacts()
        return self.counts

    # ---- small generators

    def at(self, days_ago: float) -> dt.datetime:
        return (self.now - dt.timedelta(days=days_ago)).replace(microsecond=0)

    def new_id(self, prefix: str) -> str:
        while True:
            candidate = f"{prefix}_{self.rng.getrandbits(48):012x}"
            if candidate not in self.used_ids:
                self.used_ids.add(candidate)
                return candidate

    def person_name(self, locale: str) -> tuple[str, str]:
        firsts, lasts = (part.split() for part in NAMES[locale])
        for _ in range(200):
            name = (self.rng.choice(firsts), self.rng.choice(lasts).replace("_", " "))
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        return self.rng.choice(firsts), self.rng.choice(lasts).replace("_", " ")

    def email(self, first: str, last: str, domain: str, free: bool = False) -> str:
        local = f"{_ascii(first)}.{_ascii(last)}"
        if free:
            style = self.rng.randrange(3)
            if style == 0:
                local = f"{_ascii(first)}.{_ascii(last)}{self.rng.randint(1, 99)}"
            elif style == 1:
                local = f"{_ascii(first)[0]}{_ascii(last)}"
        address = f"{local}@{domain}"
        n = 2
        while address in self.used_emails:
            address = f"{local}{n}@{domain}"
            n += 1
        self.used_emails.add(address)
        return address

    def phone(self, code: str, area: str) -> str:
        """A valid E.164 number in the city's area code (e.g. +4930... for Berlin)."""
        cc = str(phonenumbers.country_code_for_region(code))
        example = phonenumbers.example_number_for_type(code, phonenumbers.PhoneNumberType.FIXED_LINE)
        size = len(str(example.national_number)) if example else 10
        if example is not None and example.italian_leading_zero:
            size += 1
        for attempt in range(60):
            length = size - len(area) + (attempt // 20) * (1 if attempt < 40 else -1)
            digits = str(self.rng.randint(2, 9)) + "".join(
                str(self.rng.randint(0, 9)) for _ in range(max(length - 1, 3))
            )
            try:
                parsed = phonenumbers.parse(f"+{cc}{area}{digits}", None)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        fallback = example or phonenumbers.parse("+12025550143", None)
        return phonenumbers.format_number(fallback, phonenumbers.PhoneNumberFormat.E164)

    def region_places(self, region: str) -> list[tuple[str, tuple[str, str | None, str]]]:
        return [
            (code, city)
            for code, (_, cities, _, _) in PLACES.items()
            for city in cities
            if _region_of(self.pb, code, city[1]) == region
        ]

    # ---- users (D2)

    def add_users(self) -> None:
        created = self.start
        with self.uow.changing(actor=DEMO, now=created, rule="demo-setup",
                               why="demo: go-to-market team imported"):
            sales_admin = self.uow.session.get(User, SALES_ADMIN_ID)
            if sales_admin is None:
                sales_admin = self.add_user(
                    SALES_ADMIN_ID, ("Sales", "Admin"), "Sales Admin", None,
                    team="Sales Operations", email=f"{SALES_ADMIN_ID}@{EMAIL_DOMAIN}",
                )
            self.users[SALES_ADMIN_ID] = sales_admin
            if self.uow.session.get(User, RESEARCH_ID) is None:
                self.add_user(
                    RESEARCH_ID, ("Account Research", "Specialist"), "Ops", None,
                    team="Sales Operations", email=f"{RESEARCH_ID}@{EMAIL_DOMAIN}",
                )
            for region in self.regions:
                self.add_region_team(region)
        # Later changes, so the users have a history too.
        for user_id in OUT_OF_OFFICE:
            user = self.users.get(user_id)
            if user is not None:
                with self.uow.changing(actor=DEMO, now=self.at(self.rng.uniform(1, 4)),
                                       rule="demo-setup", why="demo: on holiday"):
                    user.out_of_office = True
        for user_id in INACTIVE:
            user = self.users.get(user_id)
            if user is not None:
                with self.uow.changing(actor=DEMO, now=self.at(30), rule="demo-setup",
                                       why="demo: left the company"):
                    user.active = False

    def add_region_team(self, region: str) -> None:
        slug = _slug(region)
        places = self.region_places(region) or self.region_places("US East")
        locales = [PLACES[code][0] for code, _ in places] or ["en_us"]
        public = region == PUBLIC_SECTOR
        segments = _segments(self.pb)[:-1]

        def team(role: str) -> str:
            if public:
                return PUBLIC_SECTOR
            if role in ("SDR", "BDR", "Team Lead"):
                return f"{region} Sales Development"
            if role == "CSM":
                return f"{region} Customer Success"
            if role in ("Admin", "Sales Admin", "Ops"):
                return f"{region} Sales Operations"
            if role == "Reseller":
                return f"{region} Channel"
            return f"{region} Sales"

        rd: User | None = None
        lead: User | None = None
        # Managers first (foreign keys), then everyone else.
        ordered = ["RD", "Team Lead", *[r for r in ROLES if r not in ("RD", "Team Lead")]]
        for role in ordered:
            how_many = ROSTER.get(role, 1) + EXTRA.get(region, {}).get(role, 0)
            for n in range(1, how_many + 1):
                user_id = f"{slug}-{_slug(role)}-{n}"
                manager = None if role == "RD" else (lead if role in REPS else rd)
                segment = None
                if role == "SAL" and segments:
                    segment = segments[0]
                elif role == "AE" and len(segments) > 1:
                    segment = segments[1]
                user = self.add_user(
                    user_id, self.person_name(self.rng.choice(locales)), role, region,
                    team=team(role), manager=manager, segment=segment,
                )
                if role == "RD":
                    rd = user
                elif role == "Team Lead":
                    lead = user
        if public:
            for user_id, role in (("us-ps-inside-bdr-1", "BDR"), ("us-ps-inside-sdr-1", "SDR"),
                                  ("us-ps-inside-bdr-2", "BDR")):
                self.add_user(user_id, self.person_name("en_us"), role, region,
                              team=US_PUBLIC_SECTOR, manager=lead)

    def add_user(self, user_id: str, name: tuple[str, str], role: str, region: str | None, *,
                 team: str | None = None, manager: User | None = None,
                 segment: str | None = None, email: str | None = None) -> User:
        existing = self.uow.session.get(User, user_id)
        if existing is not None:
            self.users[user_id] = existing
            return existing
        first, last = name
        user = User(
            id=user_id, name=f"{first} {last}",
            email=email or self.email(first, last, EMAIL_DOMAIN),
            role=role, region=region, segment=segment, team=team,
            manager_id=manager.id if manager else None, active=True, out_of_office=False,
            rr_weight=2 if user_id in DOUBLE_WEIGHT else 1,
            rr_capacity_per_day=25 if role == "BDR" else None,
            rr_capacity_per_week=100 if role == "BDR" else None,
        )
        self.uow.add(user)
        self.users[user_id] = user
        self.counts.users += 1
        return user

    def reps(self, region: str, role: str | None = None, team: str | None = None) -> list[User]:
        return [
            u for u in self.users.values()
            if u.region == region and u.role in REPS and u.active
            and (role is None or u.role == role) and (team is None or u.team == team)
        ]

    def pool(self, region: str, kind: str) -> _Pool:
        key = (region, kind)
        if key not in self.pools:
            if kind == "public":
                users = self.reps(region, team=US_PUBLIC_SECTOR) + self.reps(region, team=PUBLIC_SECTOR)
            else:
                users = self.reps(region, role=kind) or self.reps(region)
            self.pools[key] = _Pool(users)
        return self.pools[key]

    def seller(self, region: str, segment: str) -> User:
        """The account owner: a SAL for the largest segment, otherwise an AE (D3)."""
        large = _segments(self.pb)[0]
        roles = ("SAL", "AE") if segment == large else ("AE", "SAL")
        for role in roles:
            found = [u for u in self.users.values() if u.region == region and u.role == role]
            if found:
                return self.rng.choice(found)
        return self.users[SALES_ADMIN_ID]

    # ---- accounts (D3)

    def add_accounts(self) -> None:
        types = list(self.pb.account_types)
        specs = list(ACCOUNTS)
        used = {s.type for s in specs}
        for kind in types:
            if kind not in used:  # a playbook with more account types still gets one of each
                specs.append(_acc(_slug(kind), f"{kind} Example Co", f"{_slug(kind)}-co.com",
                                  kind, "Software", "US", 0, (120,)))
        by_key = {s.key: s for s in specs}

        def top(spec: AccountSpec) -> AccountSpec:
            while spec.parent:
                spec = by_key[spec.parent]
            return spec

        # S6/S7: the hierarchy takes the largest segment of any of its accounts.
        family_segment: dict[str, str] = {}
        names = _segments(self.pb)
        for spec in specs:
            df, zi, _, admin = spec.employees
            seg = _segment(self.pb, _employees(df, zi, admin))
            key = top(spec).key
            if key not in family_segment or names.index(seg) < names.index(family_segment[key]):
                family_segment[key] = seg
        owners: dict[str, User] = {}
        created = self.start + dt.timedelta(hours=2)
        later: list[tuple[dt.datetime, Account, dict[str, Any], str]] = []
        with self.uow.changing(actor=DEMO, now=created, rule="demo-setup",
                               why="demo: accounts imported from the CRM"):
            for spec in specs:
                extra = dict(spec.extra)
                root = top(spec)
                city, state, _ = PLACES[spec.country][1][spec.city]
                root_city = PLACES[root.country][1][root.city]
                public = bool(extra.get("public_sector"))
                region = PUBLIC_SECTOR if public else _region_of(self.pb, root.country, root_city[1])
                segment = family_segment[root.key]
                ce = extra.get("ce")
                type_ = spec.type if spec.type in types else types[0]
                if ce is not None:
                    owner = self.users[SALES_ADMIN_ID]
                elif root.key in owners:
                    owner = owners[root.key]
                else:
                    owner = self.seller(region or self.regions[0], segment)
                    owners[root.key] = owner
                df, zi, li, admin = spec.employees
                address = {"country": _country_name(spec.country), "state": state, "city": city}
                addresses: dict[str, Any] = {}
                if admin:
                    addresses["admin_override"] = address
                if df:
                    addresses["datafox"] = address
                if zi:
                    addresses["zoominfo"] = address
                if type_ == "Customer" or not addresses:
                    addresses["billing"] = address
                user_input = extra.get("user_input")
                sponsor = self.users.get(extra.get("sponsor", ""))
                first_type = type_
                if extra.get("became") and "Prospect" in types:
                    first_type = "Prospect"
                if extra.get("churned") and "Customer" in types:
                    first_type = "Customer"
                account = Account(
                    id=self.new_id("acc"), name=spec.name, website=f"https://www.{spec.domain}",
                    domain=spec.domain, type=first_type, industry=spec.industry,
                    parent_id=self.accounts[spec.parent].id if spec.parent else None,
                    employees_admin_override=admin, employees_datafox=df,
                    employees_zoominfo=zi, employees_linkedin=li,
                    employees_user_input=user_input[0] if user_input else None,
                    employees_user_input_source_url=user_input[1] if user_input else None,
                    how_many_developers=extra.get("how_many_developers"),
                    it_tedd_employees=extra.get("it_tedd_employees"),
                    number_of_licenses=extra.get("number_of_licenses"),
                    potential_ee_users_override=extra.get("potential_ee_users_override"),
                    addresses=addresses, owner_id=owner.id,
                    sdr_assigned_id=extra.get("sdr") if extra.get("sdr") in self.users else None,
                    named=bool(extra.get("named")), public_sector=public,
                    restricted=bool(extra.get("restricted")),
                    compliance_status=extra.get("compliance_status"),
                    executive_sponsor=sponsor.name if sponsor else None,
                    using_ce=ce is not None,
                    active_ce_users=ce[0] if ce else None, ce_instances=ce[1] if ce else None,
                    account_source="CE Download" if ce else "Data import",
                    partner_managed=extra.get("partner_managed"),
                    segment=segment,
                    parent_segment=family_segment[root.key] if spec.parent else None,
                    region=region,
                )
                self.uow.add(account)
                self.accounts[spec.key] = account
                self.account_specs[account.id] = spec
                self.counts.accounts += 1
                if first_type != type_:
                    why = "churned: did not renew" if extra.get("churned") else "closed won"
                    days = self.rng.uniform(40, 160)
                    later.append((self.at(days), account, {"type": type_}, f"demo: {why}"))
                if extra.get("bdr") in self.users:
                    changes = {"bdr_assigned_id": extra["bdr"],
                               "bdr_prospecting_status": "Actively Working"}
                    later.append((self.at(self.rng.uniform(60, 150)), account, changes,
                                  "demo: BDR started prospecting the account"))
                # Children are added after their parent (the parent id must exist first).
                self.uow.session.flush()
        for when, account, changes, why in sorted(later, key=lambda item: item[0]):
            with self.uow.changing(actor=DEMO, now=when, rule="demo-account-update", why=why):
                for key, value in changes.items():
                    setattr(account, key, value)

    # ---- leads (D4, L1-L6)

    def target_statuses(self) -> list[str]:
        reachable = [s.name for s in self.pb.statuses if s.name in self.paths]
        weights = [STATUS_WEIGHTS.get(name, 10) for name in reachable]
        total = sum(weights)
        counts = [max(10, round(LEAD_COUNT * w / total)) for w in weights]
        targets = [name for name, n in zip(reachable, counts, strict=True) for _ in range(n)]
        self.rng.shuffle(targets)
        return targets

    def add_leads(self) -> None:
        rule = self.pb.bad_data.rules[0] if self.pb.bad_data and self.pb.bad_data.rules else None
        targets = self.target_statuses()
        bad_data_left = 6 if rule is not None else 0
        for target in targets:
            bad_rule = None
            if rule is not None and target == rule.set_status and bad_data_left:
                bad_rule = rule
                bad_data_left -= 1
            self.add_lead(target, bad_rule)

    def choose_path(self, target: str, exclude_last: str | None = None) -> list[str]:
        options = self.paths.get(target, [([], 1.0)])
        if exclude_last is not None:
            options = [o for o in options if o[0] and o[0][-1] != exclude_last] or options
        paths = [p for p, _ in options]
        return list(self.rng.choices(paths, weights=[w for _, w in options])[0])

    def reason_for(self, status: StatusDef) -> str | None:
        names = [r.name for r in status.reasons]
        if not names or (not status.needs_reason and self.rng.random() < 0.5):
            return None
        automatic = {
            r.reason for r in (self.pb.bad_data.rules if self.pb.bad_data else [])
            if r.set_status == status.name
        }
        manual = [n for n in names if n not in automatic] or names
        return self.rng.choices(manual, weights=[REASON_WEIGHTS.get(n, 1) for n in manual])[0]

    def lead_origin(self) -> dict[str, Any]:
        """Where a lead comes from: a demo account's people, or someone else."""
        rng = self.rng
        if rng.random() < 0.45:
            account = rng.choice(list(self.accounts.values()))
            spec = self.account_specs[account.id]
            city, state, area = PLACES[spec.country][1][spec.city]
            return {
                "account": account, "code": spec.country, "city": city, "state": state,
                "area": area, "company": account.name, "domain": account.domain,
                "industry": account.industry, "region": account.region,
                "segment": account.segment, "employees": None,
            }
        region = rng.choices(list(LEAD_REGIONS), weights=list(LEAD_REGIONS.values()))[0]
        if region not in self.regions:
            region = rng.choice(self.regions)
        places = self.region_places(region) or self.region_places(self.regions[0])
        code, (city, state, area) = rng.choice(places)
        word = rng.choice(COMPANY_WORDS)
        kind = rng.choice(list(COMPANY_KINDS))
        _, _, suffix, tld = PLACES[code]
        employees = rng.choice([None, rng.randint(5, 90), rng.randint(100, 1900),
                                rng.randint(2000, 40000)])
        return {
            "account": None, "code": code, "city": city, "state": state, "area": area,
            "company": f"{word} {kind} {suffix}", "domain": f"{_ascii(word)}{_ascii(kind)}.{tld}",
            "industry": COMPANY_KINDS[kind], "region": region,
            "segment": _segment(self.pb, employees), "employees": employees,
        }

    def add_lead(self, target: str, bad_rule: BadDataRuleDef | None) -> None:
        rng, pb = self.rng, self.pb
        origin = self.lead_origin()
        account: Account | None = origin["account"]
        channel = self.pick_channel(account)
        # The path of legal moves, and the reasons along it.
        if bad_rule is not None:
            pre = [s.name for s in pb.statuses
                   if bad_rule.set_status in pb.allowed_targets(s.name)
                   and s.name != bad_rule.set_status and s.queue is None
                   and s.name in self.paths]
            path = self.choose_path(rng.choice(pre)) if pre else []
        else:
            path = self.choose_path(target)
        reasons = [self.reason_for(pb.status(s)) for s in path]  # type: ignore[arg-type]
        bad_reasons: list[str] = []
        if bad_rule is not None:
            bad_reasons = [rng.choice(group) for group in bad_rule.when_each_group_present]
        elif pb.bad_data and rng.random() < 0.07:
            single = rng.choice(pb.bad_data.reasons)
            if lifecycle.bad_data_plan(pb, current=target, bad_data_reasons=[single]) is None:
                bad_reasons = [single]
        # Times: created some time in the last 180 days, then each event later, before now.
        age = rng.uniform(0.5, 45) if not path else rng.uniform(2, HISTORY_DAYS)
        created = self.at(age)
        slots = len(path) + len(bad_reasons) + 1
        busy = age * rng.uniform(0.3, 0.95)
        weights = [rng.uniform(0.3, 1.0) for _ in range(slots)]
        times: list[dt.datetime] = []
        running = 0.0
        for w in weights:
            running += w
            times.append((created + dt.timedelta(days=busy * running / sum(weights)))
                         .replace(microsecond=0))
        # The person.
        first, last = self.person_name(PLACES[origin["code"]][0])
        free = rng.random() < (0.3 if account is None else 0.15)
        domain = rng.choice(FREE_MAIL) if free else origin["domain"]
        final_reason = next((r for r in reversed(reasons) if r), None)
        title = REASON_TITLES.get(final_reason or "", rng.choice(TITLES))
        ceiling = pb.scoring.routing_threshold if not path else pb.scoring.mql_threshold
        lead = Lead(
            id=self.new_id("ld"), first_name=first, last_name=last,
            email=self.email(first, last, domain, free=free),
            phone=self.phone(origin["code"], origin["area"]), title=title,
            company=origin["company"],
            website=None if free else f"https://www.{origin['domain']}",
            domain=None if free else origin["domain"],
            industry=origin["industry"], country=_country_name(origin["code"]),
            state=origin["state"], channel=channel.name,
            initial_source=channel.initial_source, initial_source_at=created,
            status=pb.default_status.name, status_reason=None, bad_data_reasons=[],
            score=rng.randint(0, max(0, min(ceiling, 65) - 1)),
            score_parts=[], score_source="external",
            employees=origin["employees"], segment=origin["segment"], region=origin["region"],
            last_interesting_moment=channel.label, last_interesting_moment_at=created,
            product_user=self.product_user(channel),
            matched_at=created,
        )
        if rng.random() < 0.35:
            lead.developers_bucket = rng.choice(DEVELOPER_BUCKETS)
        elif rng.random() < 0.2:
            lead.how_many_developers = rng.choice([5, 12, 40, 80, 150, 400, 1200])
        if account is not None:
            lead.matched_account_id = account.id
            if free:
                lead.match_confidence = round(rng.uniform(0.82, 0.94), 3)
                lead.match_evidence = (f"company '{lead.company}' ~ account '{account.name}' "
                                       f"(fuzzy {lead.match_confidence:.2f})")
            else:
                lead.match_confidence = 0.98
                lead.match_evidence = f"email domain {domain} = website {account.domain}"
            lead.partner_managed = account.partner_managed
        if channel.hand_raising:
            days = (channel.trial_days + 30) if channel.trial_days else 60
            lead.active_until = created + dt.timedelta(days=days)
        holding = lifecycle.holding_owner(pb.default_status)
        if holding is not None:
            set_owner(lead, holding)
        with self.uow.changing(actor=DEMO, now=created, rule="demo-intake",
                               why=f"demo: {channel.label}"):
            self.uow.add(lead)
        self.counts.leads += 1
        # The lead's life: each move the playbook allows, at increasing times.
        rep = self.rep_for(lead, account, path)
        for status, reason, when in zip(path, reasons, times, strict=False):
            self.move(lead, status, reason, when, rep)
        for reason, when in zip(bad_reasons, times[len(path):], strict=False):
            add_bad_data_reason(self.uow, pb, lead, reason, DEMO, when)
        with self.uow.changing(actor=DEMO, now=times[-1]):
            refresh_classifications(self.uow, pb, lead)

    def pick_channel(self, account: Account | None) -> ChannelDef:
        channels = self.channels
        if account is not None and account.using_ce:
            ce = [c for c in channels if c.initial_source == "CE Download"]
            if ce and self.rng.random() < 0.6:
                return ce[0]
        weights = [CHANNEL_WEIGHTS.get(c.name, 2) for c in channels]
        return self.rng.choices(channels, weights=weights)[0]

    def product_user(self, channel: ChannelDef) -> bool | None:
        if channel.initial_source in ("GitLab.com", "Trial - GitLab.com", "CE Download"):
            return True
        roll = self.rng.random()
        return None if roll < 0.3 else roll < 0.45

    def rep_for(self, lead: Lead, account: Account | None, path: list[str]) -> User | None:
        """The BDR/SDR who works the lead if it gets worked (R2, R8, R4, R5)."""
        if account is not None and account.bdr_assigned_id and not account.public_sector:
            user = self.users.get(account.bdr_assigned_id)
            if user is not None and user.active:
                return user
        if account is not None and account.named and account.sdr_assigned_id:
            user = self.users.get(account.sdr_assigned_id)
            if user is not None and user.active:
                return user
        region = lead.region or self.regions[0]
        if region == PUBLIC_SECTOR:
            return self.pool(region, "public").next()
        # Straight from Raw to being worked is outbound prospecting: an SDR's job.
        holding = [s.name for s in self.pb.statuses if s.queue]
        outbound = bool(path) and path[0] not in (self.pb.scoring.mql_status, *holding)
        return self.pool(region, "SDR" if outbound else "BDR").next()

    def move(self, person: Person, status: str, reason: str | None, when: dt.datetime,
             rep: User | None) -> None:
        """One legal transition (L5), with the scoring and assignment that go with it."""
        pb, uow = self.pb, self.uow
        target = pb.status(status)
        assert target is not None
        worked = lifecycle.holding_owner(target) is None
        needs_owner = worked and person.owner_type != "user" and rep is not None
        is_mql = status == pb.scoring.mql_status
        if needs_owner and not is_mql:
            self.assign(person, rep, when - dt.timedelta(minutes=3))  # type: ignore[arg-type]
        if is_mql and isinstance(person, Lead):
            with uow.changing(actor=DEMO, now=when, rule="demo-scoring",
                              why=f"demo: score reached the MQL threshold "
                                  f"({pb.scoring.mql_threshold})"):
                person.score = self.rng.randint(pb.scoring.mql_threshold,
                                                pb.scoring.mql_threshold + 60)
                if person.mql_date is None:
                    person.mql_date = when
                if self.rng.random() < 0.2:
                    person.high_priority = True
        if reason == "Unsubscribe":
            with uow.changing(actor=DEMO, now=when, rule="demo-subscription",
                              why="demo: unsubscribed from all email"):
                person.opt_out = True
        why = STATUS_WHY.get(status, f"moved to {status}")
        if reason:
            why = f"{why}: {reason}"
        if is_mql:
            why = f"scored {person.score} points"
        transition(uow, pb, person, status, reason, DEMO, when, why=f"demo: {why}")
        if needs_owner and is_mql:
            self.assign(person, rep, when + dt.timedelta(minutes=2))  # type: ignore[arg-type]

    def assign(self, person: Person, rep: User, when: dt.datetime) -> None:
        with self.uow.changing(actor=DEMO, now=when, rule="demo-assignment",
                               why=f"demo: routed to {rep.name} ({rep.role}, {rep.region})"):
            set_owner(person, Owner.user(rep.id))

    # ---- contacts on customer accounts (D4)

    def add_contacts(self) -> None:
        pb = self.pb
        worked = [s for s in pb.statuses if s.queue is None and s.name in self.paths]
        if not worked:
            return
        final = max(worked, key=lambda s: pb.statuses.index(s)).name
        mql = self.pb.scoring.mql_status
        path = min((p for p, _ in self.paths[final]), key=lambda p: (len(p), mql in p))
        channels = [c for c in self.channels if c.name in ("contact_us", "trial_self_managed",
                                                          "webcast_attended")] or self.channels
        for account in self.accounts.values():
            if account.type != "Customer":
                continue
            spec = self.account_specs[account.id]
            city, state, area = PLACES[spec.country][1][spec.city]
            large = account.segment == _segments(pb)[0]
            owner_id = account.sdr_assigned_id if large and account.sdr_assigned_id else None
            owner = self.users.get(owner_id or account.owner_id or SALES_ADMIN_ID)
            for _ in range(2):
                first, last = self.person_name(PLACES[spec.country][0])
                channel = self.rng.choice(channels)
                created = self.at(self.rng.uniform(60, HISTORY_DAYS))
                contact = Contact(
                    id=self.new_id("ct"), account_id=account.id, first_name=first,
                    last_name=last, email=self.email(first, last, account.domain or EMAIL_DOMAIN),
                    phone=self.phone(spec.country, area), title=self.rng.choice(TITLES),
                    country=_country_name(spec.country), state=state,
                    initial_source=channel.initial_source, initial_source_at=created,
                    status=pb.default_status.name, bad_data_reasons=[], score=0,
                    score_parts=[], product_user=True, partner_managed=account.partner_managed,
                    last_interesting_moment=channel.label, last_interesting_moment_at=created,
                )
                holding = lifecycle.holding_owner(pb.default_status)
                if holding is not None:
                    set_owner(contact, holding)
                with self.uow.changing(actor=DEMO, now=created, rule="demo-intake",
                                       why=f"demo: contact at customer {account.name} ({city})"):
                    self.uow.add(contact)
                self.counts.contacts += 1
                when = created
                for status in path:
                    when += dt.timedelta(days=self.rng.uniform(1, 12))
                    reason = self.reason_for(pb.status(status))  # type: ignore[arg-type]
                    self.move(contact, status, reason, when, owner)
                with self.uow.changing(actor=DEMO, now=when + dt.timedelta(minutes=5)):
                    refresh_classifications(self.uow, pb, contact)
