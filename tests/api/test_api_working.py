"""W1, W3-W6 over HTTP: engagement events, SDR views, passing, opt-out and the SLA report, each behind a
token and a permission, and each keeping Public Sector records (P4) out of sight."""

# ruff: noqa: F811
from __future__ import annotations

import datetime as dt

from api_world import NOW, api  # noqa: F401  (the `api` fixture; test arguments named `api` use it)

from builders import SETUP, a_user, save
from leadflow.services.sequences import create_sequence
from leadflow.store.models import Lead


def _sequence(api) -> str:
    with api.store.uow() as uow:
        found = create_sequence(uow, "MQL follow-up", ["email", "call", "email"], SETUP, NOW).id
        uow.commit()
    return found


def test_W1_engagement_event_through_the_api_moves_the_mql_to_accepted(api) -> None:
    sequence_id = _sequence(api)
    event = {"type": "step_completed", "person_id": "ld", "sequence_id": sequence_id, "step": 1,
             "occurred_at": "2026-03-02T14:00:00Z", "actor_id": "sdr"}
    done = api.post("sdr", "/sequences/events", json=event)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "Accepted" and done.json()["duplicate"] is False
    assert api.post("sdr", "/sequences/events", json=event).json()["duplicate"] is True
    with api.store.uow() as uow:
        assert uow.get(Lead, "ld").status == "Accepted"
    # P4: the Public Sector lead cannot be worked (or found) by someone outside the team
    hidden = api.post("sdr", "/sequences/events", json={**event, "person_id": "ld-ps"})
    assert hidden.status_code == 404 and hidden.json()["field"] == "person_id"
    # W1 input errors name the field; no token is 401; a role without activities.write is 403
    assert api.post("sdr", "/sequences/events", json={**event, "type": "clicked"}).status_code == 422
    assert api.client.post("/sequences/events", json=event).status_code == 401
    assert api.post("reseller", "/sequences/events", json=event).status_code == 403


def test_W5_sdr_views_over_http_hide_public_sector_leads(api) -> None:
    seen = api.get("sdr", "/views/s1")
    assert seen.status_code == 200, seen.text
    ids = {r["id"] for r in seen.json()["rows"]}
    assert "ld" in ids and "ld-ps" not in ids and seen.json()["total"] == len(ids)
    assert "ld-ps" in {r["id"] for r in api.get("ps-bdr", "/views/s1").json()["rows"]}  # the team sees its own
    mine = api.get("ps-bdr", "/views/s1?mine=true").json()["rows"]
    assert {r["id"] for r in mine} == {"ld-ps"}
    for name in ("s1-high", "s2", "s3", "s3-to-sequence"):
        assert api.get("sdr", f"/views/{name}").status_code == 200
    unknown = api.get("sdr", "/views/s9")
    assert unknown.status_code == 422 and unknown.json()["field"] == "name"


def test_W4_passing_a_qualified_lead_over_http(api) -> None:
    with api.store.uow() as uow:
        with uow.changing(actor=SETUP, now=NOW):
            uow.get(Lead, "ld").status = "Qualifying"  # in two-way conversation: ready to be passed
        uow.commit()
    answer = api.post("sdr", "/leads/ld/pass", json={"to": "ae", "window_days": 2})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "Qualified" and body["owner"] == "user:ae"
    assert dt.datetime.fromisoformat(body["remind_at"]) == NOW + dt.timedelta(days=2)
    refused = api.post("sdr", "/leads/ld/pass", json={"to": "csm"})
    assert refused.status_code == 422 and refused.json()["field"] == "to"
    assert api.post("sdr", "/leads/ld-ps/pass", json={"to": "ae"}).status_code == 404


def test_W6_opt_out_and_back_over_http(api) -> None:
    out = api.post("sdr", "/people/ld/opt-out", json={"temporary": True})
    assert out.status_code == 200, out.text
    assert out.json()["opt_out"] is False and out.json()["opt_out_until"] is not None
    assert api.post("sdr", "/people/ld/opt-out", json={}).json()["opt_out"] is True
    back = api.post("sdr", "/people/ld/opt-out", json={"undo": True}).json()
    assert back["opt_out"] is False and back["opt_out_until"] is None
    assert api.post("sdr", "/people/ct-ps/opt-out", json={}).status_code == 404


def test_W3_sla_report_over_http_counts_only_visible_requests(api) -> None:
    with api.store.uow() as uow:
        with uow.changing(actor=SETUP, now=NOW):
            for lead_id in ("ld", "ld-ps"):
                uow.get(Lead, lead_id).sla_due_at = NOW - dt.timedelta(hours=1)
        uow.commit()
    report = api.get("sdr", "/sla")
    assert report.status_code == 200, report.text
    assert [r["id"] for r in report.json()["rows"]] == ["ld"]
    assert report.json()["summary"]["breached"] == 1 and report.json()["rows"][0]["state"] == "breached"
    assert {r["id"] for r in api.get("admin", "/sla").json()["rows"]} == {"ld", "ld-ps"}
    assert api.get("sdr", "/sla?state=nope").status_code == 422


def test_W5_a_new_user_without_a_role_in_the_playbook_may_not_read_views(api) -> None:
    with api.store.uow() as uow:
        save(uow, NOW, a_user(id="stranger", role="Intern"))
    assert api.get("stranger", "/views/s1").status_code == 403
