"""P4, P5: Public Sector records are seen only by that team and permitted staff, in every listing path;
a reseller (read_scope own) sees only what it owns."""

# ruff: noqa: F811
from __future__ import annotations

import csv
import io

import pytest
from api_world import api  # noqa: F401  (the `api` fixture; test arguments named `api` use it)

HIDDEN = {"leads": "ld-ps", "contacts": "ct-ps", "accounts": "acc-ps", "opportunities": "opp-ps",
          "activities": "act-ps", "tasks": "tsk-ps"}
SHOWN = {"leads": "ld", "contacts": "ct", "accounts": "acc", "opportunities": "opp", "activities": "act",
         "tasks": "tsk"}


def _ids(api, user: str, url: str) -> set[str]:
    answer = api.get(user, url)
    assert answer.status_code == 200, answer.text
    return {r["id"] for r in answer.json()["items"]}


def _everything(api, user: str, resource: str) -> dict[str, object]:
    """What one user learns of one resource through each path: list, pages, search, count, export, get."""
    listed = _ids(api, user, f"/{resource}?limit=500")
    paged: set[str] = set()
    url = f"/{resource}?limit=1"
    while url:
        body = api.get(user, url).json()
        paged |= {r["id"] for r in body["items"]}
        url = f"/{resource}?limit=1&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    count = api.get(user, f"/{resource}/count").json()["count"]
    exported = {row["id"] for row in csv.DictReader(io.StringIO(api.get(user, f"/{resource}/export").text))}
    got = api.get(user, f"/{resource}/{HIDDEN[resource]}").status_code
    return {"listed": listed, "paged": paged, "count": count, "exported": exported, "get": got}


@pytest.mark.parametrize("resource", sorted(HIDDEN))
def test_P4_public_sector_records_are_invisible_in_every_listing_path(api, resource: str) -> None:
    seen = _everything(api, "sdr", resource)
    hidden = HIDDEN[resource]
    assert SHOWN[resource] in seen["listed"]
    for path in ("listed", "paged", "exported"):
        assert hidden not in seen[path], (path, seen[path])
    assert seen["listed"] == seen["paged"] == seen["exported"]
    assert seen["count"] == len(seen["listed"])
    assert seen["get"] == 404  # not 403: a hidden record's existence is not revealed


@pytest.mark.parametrize("user", ["ps-bdr", "us-ps", "admin"])
@pytest.mark.parametrize("resource", sorted(HIDDEN))
def test_P4_public_sector_team_and_permitted_staff_see_them(api, user: str, resource: str) -> None:
    seen = _everything(api, user, resource)
    assert HIDDEN[resource] in seen["listed"] and HIDDEN[resource] in seen["exported"]
    assert seen["count"] == len(seen["listed"])
    assert seen["get"] == 200


def test_P4_search_filters_and_actions_do_not_reveal_public_sector_records(api) -> None:
    assert _ids(api, "sdr", "/leads?q=secretive") == set()
    assert _ids(api, "ps-bdr", "/leads?q=secretive") == {"ld-ps"}
    assert _ids(api, "sdr", "/leads?owner_id=ps-bdr") == set()
    assert api.get("sdr", "/leads/count?owner_id=ps-bdr").json() == {"count": 0}
    assert _ids(api, "sdr", "/contacts?account_id=acc-ps") == set()
    assert _ids(api, "sdr", "/accounts?q=ministry") == set()
    # actions on a hidden record answer as if it did not exist
    for method, url, body in (("get", "/leads/ld-ps/explain", None), ("get", "/leads/ld-ps/duplicates", None),
                              ("post", "/leads/ld-ps/transition", {"to": "Accepted"}),
                              ("post", "/leads/ld/merge", {"merged": "ld-ps"}),
                              ("patch", "/leads/ld-ps", {"title": "x"})):
        answer = getattr(api, method)("sdr", url, **({"json": body} if body is not None else {}),
                                      headers={"If-Match": '"x"'})
        assert answer.status_code == 404, (url, answer.text)
    # duplicates of a visible lead leave the hidden candidate out
    shown = api.get("sdr", "/leads/ld/duplicates").json()["candidates"]
    assert [c["id"] for c in shown] == ["ld-q"]
    assert [c["id"] for c in api.get("ps-bdr", "/leads/ld/duplicates").json()["candidates"]] == ["ld-ps", "ld-q"]
    # matching never names an account the asker may not see
    assert api.post("sdr", "/match", json={"email": "x@ministry.example"}).json()["account_id"] is None
    assert api.post("ps-bdr", "/match", json={"email": "x@ministry.example"}).json()["account_id"] == "acc-ps"
    # nor may a visible record point at a hidden one
    refused = api.post("sdr", "/contacts", json={"last_name": "New", "account_id": "acc-ps", "initial_source": "Web"})
    assert refused.status_code == 422 and refused.json()["field"] == "account_id"


def test_P4_ops_without_public_sector_view_does_not_see_them(api) -> None:
    assert "ld-ps" not in _ids(api, "ops", "/leads?limit=500")
    assert api.get("ops", "/leads/ld-ps").status_code == 404


def test_P5_reseller_sees_only_records_it_owns(api) -> None:
    assert _ids(api, "reseller", "/leads?limit=500") == {"ld-res"}
    assert _ids(api, "reseller", "/accounts?limit=500") == {"acc-res"}
    assert _ids(api, "reseller", "/contacts?limit=500") == set()
    assert api.get("reseller", "/leads/count").json() == {"count": 1}
    assert api.get("reseller", "/leads/ld").status_code == 404
