"""P1-P3, P5, R10: what each role may read and change, from the playbook's `permissions` data."""

# ruff: noqa: F811
from __future__ import annotations

import pytest
from api_world import NOW, api  # noqa: F401  (the `api` fixture; test arguments named `api` use it)
from sqlalchemy import select

from builders import SETUP
from leadflow.playbook.load import cached_playbook
from leadflow.store.models import Account, Contact, OutboxEvent

PB = cached_playbook(None)
ROLE_USER = {"Admin": "admin", "Ops": "ops", "Sales Admin": "sales-admin", "RD": "rd", "Team Lead": "tl-emea",
             "AE": "ae", "SDR": "sdr", "CSM": "csm", "Reseller": "reseller"}


def _can(role: str, permission: str) -> bool:
    found = PB.permissions.role(role)
    assert found is not None
    return "*" in found.permissions or permission in found.permissions


@pytest.mark.parametrize("role", sorted(ROLE_USER))
def test_P5_each_role_reads_and_changes_what_the_playbook_allows(api, role: str) -> None:
    user = ROLE_USER[role]
    for resource in ("leads", "contacts", "accounts", "opportunities", "users", "queues", "tasks"):
        answer = api.get(user, f"/{resource}")
        assert answer.status_code == (200 if _can(role, f"{resource}.read") else 403), (role, resource)
    # changing a user needs users.write
    etag = api.get("admin", "/users/csm").headers["ETag"]
    changed = api.patch(user, "/users/csm", json={"out_of_office": True}, headers={"If-Match": etag})
    assert changed.status_code == (200 if _can(role, "users.write") else 403), (role, changed.text)
    # changing a lead needs leads.write (the lead must be visible: the plain one is)
    if _can(role, "leads.read") and role != "Reseller":
        etag = api.get(user, "/leads/ld").headers["ETag"]
        changed = api.patch(user, "/leads/ld", json={"title": f"by {role}"}, headers={"If-Match": etag})
        assert changed.status_code == (200 if _can(role, "leads.write") else 403), (role, changed.text)
    # the rest of the actions, each behind its own permission
    for permission, method, url, body in (
        ("jobs.run", "post", "/jobs/no-such-job/run", {}),
        ("playbook.activate", "post", "/playbooks/999/activate", None),
        ("users.deactivate", "post", "/users/nobody/deactivate", None),
        ("simulate", "post", "/simulate", {"lead": {}}),
        ("intake", "post", "/intake/nope", {}),
    ):
        answer = getattr(api, method)(user, url, **({"json": body} if body is not None else {}))
        if _can(role, permission):
            assert answer.status_code in (404, 422), (role, permission, answer.text)  # allowed, then refused
        else:
            assert answer.status_code == 403, (role, permission, answer.text)
            assert answer.json()["error"] == "forbidden"


# ---- P2: account owner changes


def _owner(api, user: str, account: str, to: str) -> object:
    return api.post(user, f"/accounts/{account}/owner", json={"owner_id": to})


def _notifications(store) -> list[OutboxEvent]:
    with store.uow() as uow:
        return list(uow.session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "account.owner_changed")))


def test_P2_the_owner_may_give_an_account_away_and_both_owners_are_told(api, store) -> None:
    answer = _owner(api, "ae", "acc", "ae2")
    assert answer.status_code == 200 and answer.json() == {"type": "user", "id": "ae2"}
    [event] = _notifications(store)
    assert event.payload["notify"] == ["ae", "ae2"] and event.payload["by"] == "ae"


def test_P2_any_rd_and_an_admin_may_change_it_an_admin_without_notification(api, store) -> None:
    assert _owner(api, "rd", "acc", "ae2").status_code == 200
    assert len(_notifications(store)) == 1
    assert _owner(api, "admin", "acc", "ae").status_code == 200
    assert len(_notifications(store)) == 1  # the admin's change tells nobody


def test_P2_a_team_lead_only_within_their_region(api) -> None:
    refused = _owner(api, "tl-apac", "acc", "ae2")
    assert refused.status_code == 403 and refused.json()["field"] == "owner_id"
    assert "region" in refused.json()["detail"]
    assert _owner(api, "tl-emea", "acc", "ae2").status_code == 200


def test_P2_anyone_else_only_with_no_parent_own_region_datafox_count_and_own_segment(api, store) -> None:
    # sdr works Mid-Market in EMEA; the account is a Mid-Market EMEA account with a DataFox count, no parent
    assert _owner(api, "sdr", "acc", "ae2").status_code == 200
    # sdr2 works SMB: refused, with the reason
    refused = _owner(api, "sdr2", "acc", "ae")
    assert refused.status_code == 403 and "segment" in refused.json()["detail"]
    with store.uow() as uow:
        account = uow.session.get(Account, "acc")
        with uow.changing(actor=SETUP, now=NOW):
            account.employees_datafox = None
        uow.commit()
    refused = _owner(api, "sdr", "acc", "ae")
    assert refused.status_code == 403 and "DataFox" in refused.json()["detail"]


def test_P2_csm_without_accounts_owner_permission_is_refused(api) -> None:
    assert _owner(api, "csm", "acc", "ae2").status_code == 403


# ---- P3 and R10: lead owner changes


def test_P3_current_owner_may_hand_a_lead_on(api) -> None:
    answer = api.post("sdr", "/leads/ld/assign", json={"owner_id": "sdr2"})
    assert answer.status_code == 200 and answer.json() == {"type": "user", "id": "sdr2"}


def test_P3_anyone_may_give_a_lead_to_the_matched_account_owner_but_nothing_else(api) -> None:
    refused = api.post("sdr2", "/leads/ld/assign", json={"owner_id": "sdr2"})
    assert refused.status_code == 403 and refused.json()["field"] == "owner"
    assert api.post("sdr2", "/leads/ld/assign", json={"owner_id": "ae"}).json() == {"type": "user", "id": "ae"}


def test_R10_only_admins_may_assign_to_the_sales_admin_user(api) -> None:
    refused = api.post("sdr", "/leads/ld/assign", json={"owner_id": "sales-admin"})
    assert refused.status_code == 403 and "admins" in refused.json()["detail"]
    assert api.post("ops", "/leads/ld/assign", json={"owner_id": "sales-admin"}).status_code == 403
    assert api.post("admin", "/leads/ld/assign", json={"owner_id": "sales-admin"}).json()["id"] == "sales-admin"
    # accounts too: the owner may give an account away, but not to Sales Admin
    refused = _owner(api, "ae", "acc", "sales-admin")
    assert refused.status_code == 403 and "R10" in refused.json()["detail"]
    assert _owner(api, "admin", "acc", "sales-admin").status_code == 200


# ---- P1: contact owner derived from the account


def _contact(api, account: str) -> dict[str, object]:
    answer = api.post("ops", "/contacts", json={"last_name": f"On {account}", "account_id": account,
                                                 "initial_source": "Web"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_P1_contact_owner_is_derived_from_the_account(api, store) -> None:
    with store.uow() as uow, uow.changing(actor=SETUP, now=NOW):
        uow.add(Account(id="big", name="Big", type="Prospect", segment="Large", owner_id="ae", sdr_assigned_id="sdr",
                        employees_datafox=5000))
        uow.add(Account(id="big-nosdr", name="Big2", type="Prospect", owner_id="ae", employees_datafox=5000))
        uow.add(Account(id="mm-cust", name="Cust", type="Customer", owner_id="ae", sdr_assigned_id="sdr",
                        employees_datafox=500))
        uow.add(Account(id="mm-pros", name="Pros", type="Prospect", owner_id="ae", sdr_assigned_id="sdr",
                        employees_datafox=500))
        uow.session.flush()
        uow.commit()
    assert _contact(api, "big")["owner_id"] == "sdr"  # Large: SDR Assigned
    assert _contact(api, "big-nosdr")["owner_id"] == "ae"  # Large, no SDR: the AE
    assert _contact(api, "mm-cust")["owner_id"] == "ae"  # Mid-Market customer: the AE
    assert _contact(api, "mm-pros")["owner_id"] == "sdr"  # non-customer: the SDR
    # the account's SDR changes: its contacts follow (P1), with the rule in history
    etag = api.get("ops", "/accounts/mm-pros").headers["ETag"]
    assert api.patch("ops", "/accounts/mm-pros", json={"sdr_assigned_id": None},
                     headers={"If-Match": etag}).status_code == 200
    with store.uow() as uow:
        contact = uow.session.scalars(select(Contact).where(Contact.account_id == "mm-pros")).one()
        assert contact.owner_id == "ae"
        assert any(h.rule == "contact-owner" for h in uow.history("contact", contact.id))
