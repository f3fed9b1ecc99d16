"""A2: every action over HTTP (transition, merge, route, explain, simulate, deactivate, jobs) and playbook
versions: validated, stored with author and time, activated atomically, the old one kept and restorable."""

# ruff: noqa: F811
from __future__ import annotations

from pathlib import Path
from typing import Any

from api_world import api  # noqa: F401  (the `api` fixture; test arguments named `api` use it)
from sqlalchemy import select

from leadflow.playbook.load import default_playbook_path
from leadflow.store.models import Lead, PlaybookVersion

DEFAULT_TEXT = default_playbook_path().read_text(encoding="utf-8")


def test_L5_transition_over_http_applies_the_playbook(api, store) -> None:
    moved = api.post("sdr", "/leads/ld/transition", json={"to": "Accepted"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["from_status"] == "MQL" and moved.json()["status"] == "Accepted"
    refused = api.post("sdr", "/leads/ld/transition", json={"to": "Recycle", "reason": "Not a reason"})
    assert refused.status_code == 422 and refused.json()["field"] == "reason"
    with store.uow() as uow:
        lead = uow.session.get(Lead, "ld")
        assert lead is not None and lead.status == "Accepted"


def test_M3_merge_over_http_keeps_the_survivor(api, store) -> None:
    merged = api.post("ops", "/leads/ld/merge", json={"merged": "ld-q"})
    assert merged.status_code == 200, merged.text
    assert merged.json()["survivor"] == {"type": "lead", "id": "ld"}
    with store.uow() as uow:
        gone = uow.session.get(Lead, "ld-q")
        assert gone is not None and gone.merged_into_id == "ld"
    again = api.post("ops", "/leads/ld/merge", json={"merged": "ld-q"})
    assert again.status_code == 422 and again.json()["field"] == "merged"


def test_R1_route_and_explain_over_http(api) -> None:
    routed = api.post("ops", "/leads/ld/route")
    assert routed.status_code == 200, routed.text
    body = routed.json()
    assert body["rule"] and body["why"] and isinstance(body["trace"], list)
    explained = api.get("sdr", "/leads/ld/explain")
    assert explained.status_code == 200 and explained.json()["lead"]["id"] == "ld"
    assert api.post("sdr", "/leads/ld/route").status_code == 403  # an SDR may not re-route (leads.route)


def test_R1_simulate_over_http_writes_nothing(api, store) -> None:
    answer = api.post("ops", "/simulate", json={"world": {}, "lead": {"channel": "contact_us",
                                                                      "email": "sim@nowhere.example",
                                                                      "last_name": "Sim"}})
    assert answer.status_code == 200, answer.text
    with store.uow() as uow:
        assert uow.session.scalars(select(Lead).where(Lead.email == "sim@nowhere.example")).first() is None
    bad = api.post("ops", "/simulate", json={"lead": {"channel": "nope"}})
    assert bad.status_code == 422 and bad.json()["field"] == "channel"


def test_L7_deactivate_a_user_over_http(api) -> None:
    answer = api.post("admin", "/users/sdr/deactivate")
    assert answer.status_code == 200, answer.text
    assert answer.json()["deactivated"] is True and answer.json()["reassigned"] == 1
    assert api.get("admin", "/users/sdr").json()["active"] is False
    assert api.post("admin", "/users/nobody/deactivate").status_code == 404


def test_W8_run_a_job_over_http_once_per_period(api) -> None:
    first = api.post("ops", "/jobs/spam-deletion/run", json={"now": "2026-03-02T12:00:00Z"})
    assert first.status_code == 200, first.text
    again = api.post("ops", "/jobs/spam-deletion/run", json={"now": "2026-03-02T12:30:00Z"})
    assert "already ran" in again.json()["summary"]
    assert api.post("ops", "/jobs/no-such-job/run").status_code == 404


def test_A2_playbook_check_names_every_problem(api) -> None:
    ok = api.post("sdr", "/playbooks/check", json={"yaml": DEFAULT_TEXT})
    assert ok.status_code == 200 and ok.json()["ok"] is True
    bad = api.post("sdr", "/playbooks/check", json={"yaml": DEFAULT_TEXT.replace("version: 1", "version: 0", 1)})
    assert bad.status_code == 422 and bad.json()["field"].startswith("version")
    refused = api.post("sdr", "/playbooks", json={"yaml": DEFAULT_TEXT})
    assert refused.status_code == 403  # an SDR may check, not activate


def test_A2_activated_playbook_takes_effect_at_once_and_the_old_one_can_be_restored(api) -> None:
    first = api.post("ops", "/playbooks", json={"yaml": DEFAULT_TEXT, "source": "default.yaml"})
    assert first.status_code == 201, first.text
    assert first.json()["author"] == "ops" and first.json()["active"] is True
    assert api.get("sdr", "/leads").status_code == 200
    # a new version where SDRs may read nothing: in force for the very next request
    new_text = _without_role(DEFAULT_TEXT.replace("version: 1", "version: 2", 1), "SDR")
    bad = api.post("ops", "/playbooks", json={"yaml": new_text.replace("account_types:", "account_typez:", 1)})
    assert bad.status_code == 422  # an invalid version is never stored
    second = api.post("ops", "/playbooks", json={"yaml": new_text, "source": "no-sdr.yaml"})
    assert second.status_code == 201, second.text
    assert api.get("sdr", "/leads").status_code == 403
    versions = api.get("ops", "/playbooks").json()
    assert [(v["source"], v["active"]) for v in versions] == [("no-sdr.yaml", True), ("default.yaml", False)]
    restored = api.post("ops", f"/playbooks/{first.json()['id']}/activate")
    assert restored.status_code == 200 and restored.json()["active"] is True
    assert api.get("sdr", "/leads").status_code == 200
    assert api.post("ops", "/playbooks/999999/activate").status_code == 404


def _without_role(text: str, role: str) -> str:
    """The playbook text with the role's line in `permissions.roles` taken out (its anchor kept on another)."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    skipping = False
    for line in lines:
        if line.startswith(f"    - name: {role}\n"):
            skipping = True
            continue
        if skipping and line.startswith("      "):
            continue
        skipping = False
        out.append(line)
    result = "".join(out)
    # the anchor defined on the removed role is used by BDR: define it there instead
    return result.replace("    - {name: BDR, permissions: *developer}",
                          "    - {name: BDR, permissions: &developer [leads.read]}", 1)


def test_A2_init_stores_the_playbook_version(store, tmp_path: Path) -> None:
    from api_world import NOW

    from leadflow.services.playbooks import active_playbook
    from leadflow.services.setup import initialise, read_playbook

    pb, text, source = read_playbook(None)
    initialise(store, pb, text, source, NOW)
    with store.uow() as uow:
        active = active_playbook(uow)
        assert active is not None and active.playbook.name == pb.name
        assert len(list(uow.session.scalars(select(PlaybookVersion)))) == 1


def test_A2_concurrent_intakes_over_http_are_each_answered_once_stored(api, store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    headers = api.auth("ops")

    def post(i: int) -> Any:
        return api.client.post("/intake/contact_us", headers=headers, json={
            "first_name": "Pat", "last_name": f"Parallel{i}", "email": f"pat{i}@parallel-{i}.example",
            "company": f"Parallel {i} GmbH", "country": "Germany"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(24)))
    assert [a.status_code for a in answers] == [201] * 24, answers[0].text
    subjects = {a.json()["subject"]["id"] for a in answers}
    assert len(subjects) == 24
    batcher = api.client.app.state.intake_batcher
    assert batcher.taken == 24 and 1 <= batcher.groups <= 24
    with store.uow() as uow:
        stored = set(uow.session.scalars(select(Lead.id).where(Lead.id.in_(subjects))))
    assert stored == subjects


def test_A2_intake_asks_for_a_token_before_it_reads_the_body(api) -> None:
    answer = api.client.post("/intake/contact_us", json={"email": 12})
    assert answer.status_code == 401 and answer.json()["field"] == "authorization"
    bad = api.post("ops", "/intake/contact_us", json={"email": 12})
    assert bad.status_code == 422
    denied = api.post("ae", "/intake/contact_us", json={"email": "who@where.example", "last_name": "W"})
    assert denied.status_code == 403  # an AE's permissions have no `intake`
    with api.store.uow() as uow:
        assert uow.session.scalars(select(Lead).where(Lead.email == "who@where.example")).first() is None


def test_P5_intake_over_http_checks_the_token_in_the_writers_transaction(api) -> None:
    issued = api.post("admin", "/users/ops/tokens", json={"name": "form"}).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    person = {"first_name": "Rev", "last_name": "Oked", "email": "rev@revoked.example", "company": "Revoked AG"}
    assert api.client.post("/intake/contact_us", headers=headers, json=person).status_code == 201
    assert api.delete("admin", f"/tokens/{issued['id']}").status_code == 200
    again = api.client.post("/intake/contact_us", headers=headers, json={**person, "email": "rev2@revoked.example"})
    assert again.status_code == 401
    assert again.json() == {"error": "unauthorized", "field": "authorization", "detail": "this API token was revoked"}
    unknown = api.client.post("/leads", headers={"Authorization": "Bearer lf_unknown"},
                              json={**person, "email": "rev3@revoked.example", "channel": "contact_us"})
    assert unknown.status_code == 401 and unknown.json()["detail"] == "unknown API token"
    with api.store.uow() as uow:
        emails = set(uow.session.scalars(select(Lead.email).where(Lead.email.like("%@revoked.example"))))
    assert emails == {"rev@revoked.example"}
