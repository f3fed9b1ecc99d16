"""The shared account index (M2): built once per database, then kept current from the account change log.

Every test matches through `IntakeEnv(...).match`, the path every intake takes, on both stores.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from builders import SETUP, a_lead, an_account, save
from leadflow.domain.matching import LeadRow
from leadflow.playbook.schema import Playbook
from leadflow.services.account_cache import shared_index
from leadflow.services.intake import IntakeEnv
from leadflow.store.db import Store
from leadflow.store.models import Account, AccountChange, Lead


def matched(store: Store, pb: Playbook, **lead: str) -> str | None:
    with store.uow() as uow:
        found = IntakeEnv(uow, pb).match(LeadRow(id="new", **lead))
    return found.account_id if found else None


def test_M2_shared_index_sees_accounts_created_changed_and_deleted_after_it_was_built(
    store: Store, playbook: Playbook, now: dt.datetime
) -> None:
    pb = playbook
    with store.uow() as uow:
        save(uow, now, an_account(id="acme", name="Acme GmbH", website="acme.de"))
    assert matched(store, pb, email="ana@acme.de") == "acme"
    cache = shared_index(store.engine, pb)
    assert cache.rebuilds == 1

    with store.uow() as uow:  # created after the index was built
        save(uow, now, an_account(id="globex", name="Globex Corporation", website="globex.com"))
    assert matched(store, pb, email="bo@globex.com") == "globex"

    with store.uow() as uow:  # renamed and moved to another domain
        with uow.changing(actor=SETUP, now=now):
            acme = uow.get(Account, "acme")
            acme.name, acme.website = "Acme Holdings", "acme-holdings.com"
        uow.commit()
    assert matched(store, pb, email="ana@acme.de") is None
    assert matched(store, pb, email="ana@acme-holdings.com") == "acme"

    with store.uow() as uow:  # re-parented: the ultimate parent is preferred for a shared domain
        save(uow, now, an_account(id="acme-de", name="Acme Deutschland", website="acme-holdings.com",
                                  parent_id="acme"))
    with shared_index(store.engine, pb).current() as index:
        assert index.ultimate_parent("acme-de") == "acme"

    with store.uow() as uow:  # deleted
        with uow.changing(actor=SETUP, now=now):
            uow.session.delete(uow.get(Account, "globex"))
        uow.commit()
    assert matched(store, pb, email="bo@globex.com") is None
    assert cache.rebuilds == 1  # never rebuilt: each change was applied on its own
    with store.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(AccountChange)) == 5


def test_M2_an_account_rolled_back_never_reaches_the_shared_index(
    store: Store, playbook: Playbook, now: dt.datetime
) -> None:
    pb = playbook
    assert matched(store, pb, email="x@initech.io") is None  # the index exists before the account is tried
    with store.uow() as uow:
        with uow.changing(actor=SETUP, now=now):
            uow.add(an_account(id="initech", name="Initech", website="initech.io"))
        uow.session.flush()
        # inside the creating transaction the env sees its own account through a private index
        env = IntakeEnv(uow, pb)
        env.accounts_changed()
        own = env.match(LeadRow(id="new", email="x@initech.io"))
        assert own is not None and own.account_id == "initech"
        uow.rollback()
    assert matched(store, pb, email="x@initech.io") is None


def test_R3_company_key_is_kept_with_the_company_name(store: Store, now: dt.datetime) -> None:
    with store.uow() as uow:
        save(uow, now, a_lead(id="l-key", company="The Acme Data GmbH"))
    with store.uow() as uow:
        lead = uow.get(Lead, "l-key")
        assert lead.company_key == "acme data"
        with uow.changing(actor=SETUP, now=now):
            lead.company = "Data Acme, Inc."
        uow.commit()
        assert uow.get(Lead, "l-key").company_key == "acme data"
        # derived, so not history of its own: the company change is the record of it
        fields = {h.field for h in uow.history("lead", "l-key")}
        assert "company" in fields and "company_key" not in fields
