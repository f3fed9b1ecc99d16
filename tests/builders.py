"""Small builders for tests: `a_lead(status="MQL")` rather than fixtures with hidden state."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from pathlib import Path
from typing import Any

from leadflow.domain.records import Actor
from leadflow.store.models import Account, Lead, User
from leadflow.store.uow import UnitOfWork

_seq = itertools.count(1)
SETUP = Actor.system("test-setup")
# The shared scenarios and matching sample sit beside the project (../shared); a clone elsewhere
# points LEADFLOW_SHARED_DIR at them. Tests that need them skip, naming this path, when absent.
SHARED = Path(os.environ.get("LEADFLOW_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")


def a_user(**fields: Any) -> User:
    n = next(_seq)
    values: dict[str, Any] = {
        "id": f"u{n}", "name": f"User {n}", "email": f"user{n}@example.org", "role": "BDR",
        "region": "EMEA", "active": True, "out_of_office": False,
    }
    values.update(fields)
    return User(**values)


def an_account(**fields: Any) -> Account:
    n = next(_seq)
    values: dict[str, Any] = {"id": f"a{n}", "name": f"Account {n}", "type": "Prospect"}
    values.update(fields)
    return Account(**values)


def a_lead(**fields: Any) -> Lead:
    n = next(_seq)
    values: dict[str, Any] = {
        "id": f"l{n}", "first_name": "Ada", "last_name": f"Lovelace{n}",
        "email": f"ada{n}@example.org", "company": "Example", "status": "Raw",
        "owner_type": "queue", "owner_id": "Raw Queue",
    }
    values.update(fields)
    return Lead(**values)


def save(uow: UnitOfWork, now: dt.datetime, *records: Any) -> None:
    """Store records through the one write path, as test set-up."""
    with uow.changing(actor=SETUP, now=now, why="test set-up"):
        for record in records:
            uow.add(record)
    uow.commit()
