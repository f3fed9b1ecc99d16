"""The API test world: a real store (SQLite and PostgreSQL), a small organisation with every role, and
their tokens. Test modules import the `api` fixture from here (a conftest.py here would shadow the root one
for `from conftest import ...`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from builders import SETUP, a_lead, a_user, an_account, save
from leadflow.api.app import create_app
from leadflow.services.auth import create_token
from leadflow.settings import Settings
from leadflow.store.db import Store
from leadflow.store.models import Activity, Contact, Lead, Opportunity, Task

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
PS = "Public Sector"


@dataclass
class Api:
    """The test client, the store and a token per user id."""

    client: TestClient
    store: Store
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, user_id: str) -> dict[str, str]:
        if user_id not in self.tokens:
            with self.store.uow() as uow:
                self.tokens[user_id] = create_token(uow, user_id, "test", "test", NOW).token
                uow.commit()
        return {"Authorization": f"Bearer {self.tokens[user_id]}"}

    def get(self, user_id: str, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers={**self.auth(user_id), **kw.pop("headers", {})}, **kw)

    def post(self, user_id: str, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers={**self.auth(user_id), **kw.pop("headers", {})}, **kw)

    def patch(self, user_id: str, url: str, **kw: Any) -> Any:
        return self.client.patch(url, headers={**self.auth(user_id), **kw.pop("headers", {})}, **kw)

    def delete(self, user_id: str, url: str, **kw: Any) -> Any:
        return self.client.delete(url, headers={**self.auth(user_id), **kw.pop("headers", {})}, **kw)


def seed_org(store: Store) -> None:
    """Users of every kind; plain and Public Sector accounts, leads, contacts, opportunities, activities, tasks."""
    users = [
        a_user(id="admin", role="Admin", region="EMEA", team="Sales Operations"),
        a_user(id="ops", role="Ops", region="EMEA", team="Sales Operations"),
        a_user(id="sales-admin", role="Sales Admin", region=None, team="Sales Operations"),
        a_user(id="rd", role="RD", region="EMEA", team="EMEA Sales"),
        a_user(id="tl-emea", role="Team Lead", region="EMEA", team="EMEA Sales Development"),
        a_user(id="tl-apac", role="Team Lead", region="APAC", team="APAC Sales Development"),
        a_user(id="ae", role="AE", region="EMEA", segment="Mid-Market", team="EMEA Sales"),
        a_user(id="ae2", role="AE", region="EMEA", segment="Mid-Market", team="EMEA Sales"),
        a_user(id="sdr", role="SDR", region="EMEA", segment="Mid-Market", team="EMEA Sales Development"),
        a_user(id="sdr2", role="SDR", region="EMEA", segment="SMB", team="EMEA Sales Development"),
        a_user(id="csm", role="CSM", region="EMEA", team="EMEA Customer Success"),
        a_user(id="reseller", role="Reseller", region="EMEA", team="EMEA Channel"),
        a_user(id="ps-bdr", role="BDR", region=PS, team=PS),
        a_user(id="us-ps", role="SDR", region=PS, team="US Public Sector Inside Sales"),
    ]
    accounts = [
        an_account(id="acc", name="Plain GmbH", owner_id="ae", region="EMEA", segment="Mid-Market",
                   employees_datafox=500, domain="plain.example", website="plain.example"),
        an_account(id="acc-ps", name="Ministry of Things", owner_id="ps-bdr", region=PS, segment="Large",
                   public_sector=True, domain="ministry.example", website="ministry.example"),
        an_account(id="acc-res", name="Resold Ltd", owner_id="reseller", region="EMEA", segment="SMB"),
    ]
    leads = [
        a_lead(id="ld", email="ada@plain.example", company="Plain GmbH", owner_type="user", owner_id="sdr",
               status="MQL", matched_account_id="acc", last_name="Plainly"),
        a_lead(id="ld-ps", email="bob@ministry.example", company="Ministry of Things", owner_type="user",
               owner_id="ps-bdr", status="MQL", last_name="Secretive",
               duplicate_candidates=[]),
        a_lead(id="ld-q", email="cy@queue.example", company="Queue Co", last_name="Queued"),
        a_lead(id="ld-res", email="dee@resold.example", company="Resold Ltd", owner_type="user",
               owner_id="reseller", last_name="Resold"),
    ]
    contacts = [
        Contact(id="ct", first_name="Eve", last_name="Plain", email="eve@plain.example", status="Raw",
                account_id="acc", owner_type="user", owner_id="ae", initial_source="Web"),
        Contact(id="ct-ps", first_name="Fay", last_name="Secret", email="fay@ministry.example", status="Raw",
                account_id="acc-ps", owner_type="user", owner_id="ps-bdr", initial_source="Web"),
    ]
    opportunities = [
        Opportunity(id="opp", name="Plain deal", account_id="acc", type="New Business", stage="00-Pre Opportunity",
                    owner_id="ae"),
        Opportunity(id="opp-ps", name="Ministry deal", account_id="acc-ps", type="New Business",
                    stage="00-Pre Opportunity", owner_id="ps-bdr"),
    ]
    with store.uow() as uow:
        save(uow, NOW, *users)
        save(uow, NOW, *accounts)
        save(uow, NOW, *leads)
        save(uow, NOW, *contacts, *opportunities)
    with store.uow() as uow:
        lead = uow.session.get(Lead, "ld")
        assert lead is not None
        with uow.changing(actor=SETUP, now=NOW):
            # the plain lead lists the Public Sector lead among its duplicates (M1): P4 hides it there too
            lead.duplicate_candidates = [{"type": "lead", "id": "ld-ps", "score": 0.9, "evidence": "same company"},
                                         {"type": "lead", "id": "ld-q", "score": 0.5, "evidence": "similar"}]
            uow.add(Activity(id="act", subject_type="lead", subject_id="ld", type="page_visit", at=NOW))
            uow.add(Activity(id="act-ps", subject_type="lead", subject_id="ld-ps", type="page_visit", at=NOW))
            uow.add(Task(id="tsk", subject_type="lead", subject_id="ld", subject="Call Ada", owner_id="sdr"))
            uow.add(Task(id="tsk-ps", subject_type="lead", subject_id="ld-ps", subject="Call Bob", owner_id="ps-bdr"))
        uow.commit()


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    seed_org(store)
    app = create_app(Settings(database_url=store.url))
    app.state.clock = lambda: NOW
    with TestClient(app) as client:
        yield Api(client=client, store=store)


