"""Routing decisions per second: the compiled default flow against a naive interpreter of the same YAML.

Generates N routing records (default 1,000,000, fixed seed) with the mix of channels, segments,
regions, accounts, hierarchies and same-company leads an inbound funnel sees, then, in the same
process and on one core:

  * compiled: `compile_flow(pb).decide(record, pool_has_member)` for every record. The trace is
    recorded with each decision (one code per rule checked), ready for `decision.trace`.
  * compiled + rendered trace: the same, and every trace turned into sentences (`decision.trace`),
    on the first 100,000 records - what `leadflow explain` or the lead page pays, once per lead.
  * naive: the `routing:` mapping of the YAML walked for every lead - each field read by its
    dotted path, each operator looked up by name, the trace built as a list of dicts with its
    sentences as it goes.

Both must agree on the deciding rule and the assignment for every record, or the bench fails.
A few pools have no available member (LATAM inbound BDRs, APAC SDRs), so fall-through is
exercised. Median of 3 runs.

    .venv/bin/python bench/routing_pure.py [--leads 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from leadflow.domain.routing import AccountView, Decision, RoutingRecord, SameCompanyLead, compile_flow
from leadflow.playbook.load import default_playbook_path, parse_playbook

RESULTS = Path(__file__).with_name("results")
GOAL = 500_000
RENDER_SAMPLE = 100_000
EMPTY_POOLS = frozenset({("inbound-bdr", "LATAM"), ("regional-sdr", "APAC")})

CHANNELS = {
    "contact_us": 10, "trial_self_managed": 8, "trial_saas": 6, "professional_services": 2,
    "content_download": 20, "webcast_registration": 8, "webcast_attended": 5, "event_scan": 6,
    "web_chat": 4, "other_form": 8, "community_email": 2, "sales_email": 2, "ce_download": 3,
    "gitlab_com_signup": 3, "training": 1, "consultancy": 1, "development_help": 1,
}  # fmt: skip
SEGMENTS = {"Large": 15, "Mid-Market": 20, "SMB": 45, "Unknown": 20}
REGIONS = {"EMEA": 30, "US East": 25, "US West": 15, "APAC": 15, "LATAM": 8, "Public Sector": 3, None: 4}
COUNTRY = {"EMEA": "Germany", "US East": "United States", "US West": "United States", "APAC": "Japan",
           "LATAM": "Brazil", "Public Sector": "United States", None: None}  # fmt: skip


def pool_has_member(pool: str, key: str | None) -> bool:
    return (pool, key) not in EMPTY_POOLS


# --------------------------------------------------------------------------- records


def generate(n: int, seed: int = 7) -> list[RoutingRecord]:
    rng = random.Random(seed)
    pick = lambda table: rng.choices(list(table), weights=list(table.values()))[0]  # noqa: E731
    activities = {c: frozenset({c}) for c in CHANNELS}
    day0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    records = []
    for i in range(n):
        channel, segment, region = pick(CHANNELS), pick(SEGMENTS), pick(REGIONS)
        score = rng.randrange(0, 30) if rng.random() < 0.2 else rng.randrange(30, 150)
        account = parent = None
        same: tuple[SameCompanyLead, ...] = ()
        if rng.random() < 0.35:
            working = rng.random() < 0.08
            account = AccountView(
                id=f"acc{i}",
                type=rng.choice(["Prospect", "Customer", "Prospect - CE User"]),
                named=rng.random() < 0.05,
                public_sector=rng.random() < 0.02,
                bdr_prospecting_status="Actively Working" if working else None,
                owner=f"sal{i % 97}" if rng.random() < 0.85 else None,
                sdr_assigned=f"sdr{i % 53}" if rng.random() < 0.4 else None,
                bdr_assigned=f"bdr{i % 41}" if working and rng.random() < 0.8 else None,
                csm=f"csm{i % 13}" if rng.random() < 0.2 else None,
                segment=segment,
                region=region,
                parent_id=f"top{i}" if rng.random() < 0.2 else None,
            )
            if account.parent_id:
                parent = AccountView(id=account.parent_id, named=rng.random() < 0.05, owner=f"sal{i % 89}")
        elif rng.random() < 0.06:
            same = tuple(
                SameCompanyLead(
                    status=rng.choice(["MQL", "MQL", "Accepted", "Qualifying", "Raw"]),
                    mql_date=day0 + dt.timedelta(days=rng.randrange(60)),
                    owner_id=f"bdr{rng.randrange(41)}",
                )
                for _ in range(rng.randint(1, 2))
            )
        records.append(
            RoutingRecord(
                channel=channel,
                segment=segment,
                region=region,
                score=score,
                status="MQL" if score >= 90 else "Inquiry",
                country=COUNTRY[region],
                university=rng.random() < 0.02,
                public_sector=region == "Public Sector" or rng.random() < 0.01,
                active=channel in ("trial_self_managed", "trial_saas", "web_chat") or rng.random() < 0.1,
                activities=activities[channel],
                account=account,
                ultimate_parent=parent,
                same_company=same,
            )
        )
    return records


# --------------------------------------------------------------------------- the naive interpreter


class Naive:
    """Walks the YAML mapping for every lead, the way a first implementation would."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def read(self, r: RoutingRecord, path: str) -> Any:
        routing = self.data["routing"]
        if path.startswith("account."):
            return getattr(r.account, path.split(".", 1)[1]) if r.account is not None else None
        if path.startswith("ultimate_parent."):
            acc = r.ultimate_parent or r.account
            return getattr(acc, path.split(".", 1)[1]) if acc is not None else None
        if path.startswith("same_company."):
            what = path.split(".", 1)[1]
            kind = "mql_statuses" if "mql" in what else "working_statuses"
            leads = [x for x in r.same_company if x.status in routing["same_company"][kind]]
            if what.endswith("count"):
                return len(leads)
            owned = [x for x in leads if x.owner_type == "user" and x.owner_id]
            dated = sorted((x for x in owned if x.mql_date), key=lambda x: x.mql_date)
            return (dated or owned)[0].owner_id if owned else None
        return getattr(r, path)

    def test(self, r: RoutingRecord, path: str, op: str, want: Any) -> tuple[bool, str]:
        value = self.read(r, path)
        if op == "eq":
            held = bool(value) is want if isinstance(want, bool) else value == want
        elif op == "in":
            held = bool(set(value) & set(want)) if isinstance(value, frozenset) else value in want
        elif op == "not_in":
            held = not set(value) & set(want) if isinstance(value, frozenset) else value not in want
        elif op == "exists":
            held = (value is not None and value != frozenset()) is want
        elif op == "gte":
            held = value is not None and value >= want
        elif op == "lte":
            held = value is not None and value <= want
        else:
            held = value is not None and re.search(want, value, re.IGNORECASE) is not None
        return held, f"{path} is {value}" + ("" if held else f", rule wants {op} {want}")

    def all_hold(self, r: RoutingRecord, when: dict[str, Any]) -> tuple[bool, list[str]]:
        whys = []
        for path, tests in when.items():
            for op, want in tests.items():
                held, why = self.test(r, path, op, want)
                whys.append(why)
                if not held:
                    return False, whys
        return True, whys

    def decide(self, r: RoutingRecord, has: Callable[[str, str | None], bool]) -> tuple[str, tuple[Any, ...], list]:
        data = self.data
        routing = data["routing"]
        if r.score < data["scoring"]["routing_threshold"]:
            queue = next((s.get("queue") for s in data["statuses"] if s["name"] == r.status), None)
            assign = ("queue", queue, None) if queue else ("keep", "", None)
            return "routing-threshold", assign, [{"rule": "routing-threshold", "matched": True, "why": "below"}]
        pools = {p["id"]: p for p in routing["pools"]}
        unroutable = ("queue", routing["unroutable_queue"], None)
        trace: list[dict[str, Any]] = []
        for rule in routing["rules"]:
            held, whys = self.all_hold(r, rule.get("when") or {})
            if held and rule.get("when_any"):
                groups = [self.all_hold(r, group) for group in rule["when_any"]]
                held = any(ok for ok, _ in groups)
                whys += [w for _, ws in groups for w in ws]
            if not held:
                trace.append({"rule": rule["id"], "matched": False, "why": "; ".join(whys)})
                continue
            targets = rule["assign"] if isinstance(rule["assign"], list) else [rule["assign"]]
            no_region = False
            for target in targets:
                if "user_field" in target:
                    user = self.read(r, target["user_field"])
                    if user is not None:
                        trace.append({"rule": rule["id"], "matched": True, "why": "; ".join(whys) + f" -> {user}"})
                        return rule["id"], ("user", user, None), trace
                elif "pool" in target:
                    per_region = pools[target["pool"]].get("region") == "$region"
                    key = r.region if per_region else None
                    if per_region and key is None:
                        no_region = True
                    elif has(target["pool"], key):
                        trace.append({"rule": rule["id"], "matched": True, "why": f"pool {target['pool']} {key}"})
                        return rule["id"], ("pool", target["pool"], key), trace
                elif "queue" in target:
                    trace.append({"rule": rule["id"], "matched": True, "why": f"queue {target['queue']}"})
                    return rule["id"], ("queue", target["queue"], None), trace
                else:
                    trace.append({"rule": rule["id"], "matched": True, "why": "default owner"})
                    return rule["id"], ("default_owner", data.get("default_owner_role", "Sales Admin"), None), trace
            if rule.get("fallthrough_when_empty") or no_region:
                trace.append({"rule": rule["id"], "matched": False, "why": "; ".join(whys) + ", empty: next rule"})
                continue
            trace.append({"rule": rule["id"], "matched": True, "why": "empty: unroutable"})
            return rule["id"], unroutable, trace
        return "unroutable", unroutable, trace


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    console = Console(width=120)

    text = default_playbook_path().read_text(encoding="utf-8")
    pb = parse_playbook(text)
    start = time.perf_counter()
    flow = compile_flow(pb)
    compile_ms = (time.perf_counter() - start) * 1000
    naive = Naive(yaml.safe_load(text))

    console.print(f"generating {args.leads:,} records ...")
    records = generate(args.leads)
    sample = records[:RENDER_SAMPLE]

    console.print("checking that the compiled flow and the naive interpreter agree on every record ...")
    decide = flow.decide
    rules: Counter[str] = Counter()
    for r in records:
        d = decide(r, pool_has_member)
        rule, assign, _ = naive.decide(r, pool_has_member)
        if (d.rule, tuple(d.assign)) != (rule, assign):
            raise SystemExit(f"disagreement on {r}: compiled {d.rule} {d.assign}, naive {rule} {assign}")
        rules[d.rule] += 1

    def compiled() -> None:
        for r in records:
            decide(r, pool_has_member)

    def compiled_rendered() -> None:
        for r in sample:
            d: Decision = decide(r, pool_has_member)
            d.trace  # noqa: B018 - rendering the trace is what is measured

    def interpreted() -> None:
        for r in records:
            naive.decide(r, pool_has_member)

    figures: dict[str, list[float]] = {"compiled": [], "rendered": [], "naive": []}
    for run in range(args.runs):
        console.print(f"run {run + 1}/{args.runs} ...")
        figures["compiled"].append(timed(compiled, len(records)))
        figures["rendered"].append(timed(compiled_rendered, len(sample)))
        figures["naive"].append(timed(interpreted, len(records)))
    med = {k: statistics.median(v) for k, v in figures.items()}

    table = Table(title=f"routing decisions per second, one core (median of {args.runs} runs)")
    for column in ("way", "records", "decisions/s", "µs/decision", "vs naive"):
        table.add_column(column, justify="right")
    rows = [
        ("compiled flow, trace recorded", len(records), med["compiled"]),
        ("compiled flow + trace rendered to text", len(sample), med["rendered"]),
        ("naive YAML walk, trace built as it goes", len(records), med["naive"]),
    ]
    for name, count, rate in rows:
        table.add_row(name, f"{count:,}", f"{rate:,.0f}", f"{1e6 / rate:.2f}", f"{rate / med['naive']:.1f}x")
    console.print(table)
    met = med["compiled"] >= GOAL
    console.print(f"goal ≥ {GOAL:,} decisions/s with the trace recorded: {'met' if met else 'NOT met'}")
    console.print(f"compile once per playbook load: {compile_ms:.1f} ms; deciding rules: {dict(rules.most_common())}")

    RESULTS.mkdir(exist_ok=True)
    result = {
        "leads": len(records),
        "runs": args.runs,
        "compiled_decisions_per_s": round(med["compiled"]),
        "compiled_with_rendered_trace_per_s": round(med["rendered"]),
        "rendered_sample": len(sample),
        "naive_decisions_per_s": round(med["naive"]),
        "speedup_over_naive": round(med["compiled"] / med["naive"], 1),
        "goal_decisions_per_s": GOAL,
        "goal_met": met,
        "compile_ms": round(compile_ms, 1),
        "agreement": f"{len(records)}/{len(records)}",
        "deciding_rules": dict(rules.most_common()),
        "all_runs": {k: [round(x) for x in v] for k, v in figures.items()},
        "python": platform.python_version(),
    }
    (RESULTS / "routing_pure.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
