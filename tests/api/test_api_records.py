"""A2: every record of D1 over HTTP: list with filters, cursor pages and sorting; get; create; update with
ETag (a stale write is refused, never lost); every error status in one shape."""

# ruff: noqa: F811
from __future__ import annotations

import pytest
from api_world import NOW, api  # noqa: F401  (the `api` fixture; test arguments named `api` use it)

from builders import a_lead, save
from leadflow.store.models import Lead


def _shape(answer, status: int, field: str | None = "unset") -> dict[str, object]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error", "field", "detail"} and body["detail"]
    if field != "unset":
        assert body["field"] == field, body
    return body


def test_A2_cursor_pages_cover_every_record_once_in_sort_order(api, store) -> None:
    with store.uow() as uow:
        save(uow, NOW, *[a_lead(id=f"p{i:02d}", score=i % 7, owner_type="queue", owner_id="Raw Queue")
                         for i in range(23)])
    for sort in ("score", "-score", "id", "-created_at", "last_name"):
        seen: list[dict[str, object]] = []
        url = f"/leads?limit=5&sort={sort}"
        while url:
            body = api.get("admin", url).json()
            seen += body["items"]
            url = f"/leads?limit=5&sort={sort}&cursor={body['next_cursor']}" if body["next_cursor"] else ""
        ids = [r["id"] for r in seen]
        assert len(ids) == len(set(ids)) == api.get("admin", "/leads/count").json()["count"], sort
        key = sort.lstrip("-")
        values = [(r[key] if r[key] is not None else "", r["id"]) for r in seen]
        if key != "created_at":
            assert values == sorted(values, reverse=sort.startswith("-")), sort
    assert {r["id"] for r in api.get("admin", "/leads?limit=500&owner_id=sdr").json()["items"]} == {"ld"}
    _shape(api.get("admin", "/leads?score=3"), 422, "score")  # not a filter: refused, not ignored
    _shape(api.get("admin", "/leads?cursor=garbage"), 422, "cursor")
    _shape(api.get("admin", "/leads?sort=nonsense"), 422, "sort")
    first = api.get("admin", "/leads?limit=1&sort=id").json()["next_cursor"]
    _shape(api.get("admin", f"/leads?limit=1&sort=score&cursor={first}"), 422, "cursor")


def test_A2_get_gives_an_etag_and_an_update_needs_it(api, store) -> None:
    got = api.get("sdr", "/leads/ld")
    assert got.status_code == 200 and got.json()["id"] == "ld"
    etag = got.headers["ETag"]
    _shape(api.patch("sdr", "/leads/ld", json={"title": "CTO"}), 428, "If-Match")
    changed = api.patch("sdr", "/leads/ld", json={"title": "CTO"}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.json()["title"] == "CTO"
    assert changed.headers["ETag"] != etag
    # the second writer read the old version: refused, and the first change is kept
    stale = _shape(api.patch("ae", "/leads/ld", json={"title": "CEO"}, headers={"If-Match": etag}), 409, "If-Match")
    assert stale["error"] == "conflict"
    assert api.get("sdr", "/leads/ld").json()["title"] == "CTO"
    with store.uow() as uow:
        rows = [h for h in uow.history("lead", "ld") if h.field == "title"]
        assert [(h.new_value, h.actor_id, h.rule) for h in rows] == [("CTO", "sdr", "api:leads.update")]


def test_A2_errors_have_one_shape_and_the_right_status(api) -> None:
    _shape(api.get("sdr", "/leads/nope"), 404, "id")
    _shape(api.get("sdr", "/nowhere"), 404)
    etag = api.get("sdr", "/leads/ld").headers["ETag"]
    _shape(api.patch("sdr", "/leads/ld", json={"status": "Qualified"}, headers={"If-Match": etag}), 422, "status")
    _shape(api.patch("sdr", "/leads/ld", json={"employees": -1}, headers={"If-Match": etag}), 422, "employees")
    _shape(api.patch("sdr", "/leads/ld", json={"title": "x\x00y"}, headers={"If-Match": etag}), 422, "title")
    _shape(api.post("admin", "/users", json={"name": "Dup", "email": "DUP@example.org", "role": "Wizard"}),
           422, "role")
    created = api.post("admin", "/users", json={"name": "Dup", "email": "DUP@example.org", "role": "SDR"})
    assert created.status_code == 201 and created.json()["email"] == "dup@example.org"
    _shape(api.post("admin", "/users", json={"name": "Dup2", "email": "dup@example.org", "role": "SDR"}), 409)
    _shape(api.post("sdr", "/users", json={"name": "X", "email": "x@example.org", "role": "SDR"}), 403)
    _shape(api.post("sdr", "/leads/ld/transition", json={"to": "Raw"}), 409)  # L5: not allowed from MQL
    _shape(api.post("sdr", "/leads/ld/transition", json={"to": "Disqualified"}), 422)  # L3: reason missing
    _shape(api.client.get("/leads"), 401, "authorization")


def test_A2_accounts_create_and_update_under_the_playbook(api) -> None:
    _shape(api.post("ops", "/accounts", json={"name": "New Co", "type": "Alien"}), 422, "type")
    created = api.post("ops", "/accounts", json={"name": "New Co", "type": "Prospect", "website": "https://www.newco.example/x",
                                                  "employees_datafox": 2500, "country": "Germany"})
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["domain"] == "newco.example" and account["segment"] == "Large"
    etag = created.headers["ETag"]
    _shape(api.patch("ops", f"/accounts/{account['id']}", json={"parent_id": account["id"]},
                     headers={"If-Match": etag}), 422, "parent_id")
    _shape(api.patch("ops", f"/accounts/{account['id']}", json={"parent_id": "no-such"},
                     headers={"If-Match": etag}), 422, "parent_id")
    _shape(api.patch("ops", f"/accounts/{account['id']}", json={"number_of_licenses": 50,
                                                               "potential_ee_users_override": 40},
                     headers={"If-Match": etag}), 422, "potential_ee_users_override")
    changed = api.patch("ops", f"/accounts/{account['id']}", json={"employees_datafox": 50}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.json()["segment"] == "SMB"


def test_I7_contacts_need_last_name_account_and_a_known_initial_source_and_a_new_email(api) -> None:
    _shape(api.post("ops", "/contacts", json={"account_id": "acc", "initial_source": "Web"}), 422, "last_name")
    _shape(api.post("ops", "/contacts", json={"last_name": "L", "initial_source": "Web"}), 422, "account_id")
    _shape(api.post("ops", "/contacts", json={"last_name": "L", "account_id": "acc", "initial_source": "Unknown"}),
           422, "initial_source")
    dup = _shape(api.post("ops", "/contacts", json={"last_name": "L", "account_id": "acc", "initial_source": "Web",
                                                    "email": "ADA@plain.example"}), 409, "email")
    assert "ld" in str(dup["detail"])


def test_A2_opportunities_start_pre_opportunity_with_a_close_date_and_sdr_not_owner(api) -> None:
    _shape(api.post("ae", "/opportunities", json={"name": "X", "account_id": "acc", "type": "New Business",
                                                  "sdr_id": "ae"}), 422, "sdr_id")
    created = api.post("ae", "/opportunities", json={"name": "X", "account_id": "acc", "type": "New Business"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["stage"] == "00-Pre Opportunity" and body["owner_id"] == "ae" and body["close_date"] == "2026-12-02"


@pytest.mark.parametrize("resource,body", [
    ("queues", {"id": "Test Queue", "description": "for tests"}),
    ("activities", {"subject_type": "lead", "subject_id": "ld", "type": "webcast", "at": "2026-03-01T10:00:00Z"}),
    ("tasks", {"subject_type": "lead", "subject_id": "ld", "subject": "Follow up"}),
])
def test_A2_other_records_are_created_listed_and_read(api, resource: str, body: dict[str, object]) -> None:
    created = api.post("ops", f"/{resource}", json=body)
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]
    assert api.get("ops", f"/{resource}/{record_id}").status_code == 200
    assert record_id in {r["id"] for r in api.get("ops", f"/{resource}?limit=500").json()["items"]}


def test_A2_lead_created_over_http_goes_through_the_intake(api, store) -> None:
    created = api.post("ops", "/leads", json={"channel": "contact_us", "email": "new.person@plain.example",
                                               "first_name": "New", "last_name": "Person", "company": "Plain GmbH",
                                               "country": "Germany"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["subject"]["type"] == "lead" and body["matched_account"]["id"] == "acc"
    with store.uow() as uow:
        lead = uow.session.get(Lead, body["subject"]["id"])
        assert lead is not None and lead.email == "new.person@plain.example"
    again = api.post("ops", "/intake/contact_us", json={"email": "x@y.example", "last_name": "Y", "delivery_id": "d1"})
    assert again.status_code == 201
    replay = api.post("ops", "/intake/contact_us", json={"email": "x@y.example", "last_name": "Y", "delivery_id": "d1"})
    assert replay.json()["replayed"] is True and replay.json()["subject"] == again.json()["subject"]
    _shape(api.post("ops", "/intake/no-such-channel", json={"email": "a@b.example"}), 422, "channel")
