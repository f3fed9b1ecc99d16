"""P5: every endpoint but /health (and the webhook receiver) needs a live API token; passwords are argon2."""

# ruff: noqa: F811
from __future__ import annotations

import pytest
from api_world import api  # noqa: F401  (the `api` fixture; test arguments named `api` use it)
from sqlalchemy import select

from leadflow.services.auth import set_password
from leadflow.store.models import ApiToken, UserPassword

PUBLIC = {("/health", "get"), ("/auth/login", "post")}


def _error_shape(body: dict[str, object]) -> None:
    assert set(body) == {"error", "field", "detail"}


def test_P5_every_endpoint_but_health_needs_a_token(api) -> None:
    spec = api.client.get("/openapi.json").json()
    checked = 0
    for path, operations in spec["paths"].items():
        if path.startswith("/webhooks"):
            continue  # the webhook receiver checks its own signature (I2)
        for method in operations:
            if (path, method) in PUBLIC:
                continue
            url = path.replace("{", "").replace("}", "")
            answer = api.client.request(method.upper(), url, json={})
            assert answer.status_code == 401, (method, path, answer.status_code, answer.text)
            _error_shape(answer.json())
            assert answer.headers["WWW-Authenticate"] == "Bearer"
            checked += 1
    assert checked > 40
    assert api.client.get("/health").status_code == 200


def test_P5_unknown_revoked_and_inactive_tokens_are_refused(api) -> None:
    assert api.client.get("/leads", headers={"Authorization": "Bearer lf_nonsense"}).status_code == 401
    assert api.client.get("/leads", headers={"Authorization": "Basic abc"}).status_code == 401
    issued = api.post("admin", "/users/sdr/tokens", json={"name": "laptop"})
    assert issued.status_code == 201
    token, token_id = issued.json()["token"], issued.json()["id"]
    mine = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/auth/me", headers=mine).json()["user_id"] == "sdr"
    revoked = api.client.delete(f"/tokens/{token_id}", headers=mine)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    answer = api.client.get("/auth/me", headers=mine)
    assert answer.status_code == 401
    assert answer.json() == {"error": "unauthorized", "field": "authorization", "detail": "this API token was revoked"}
    # a deactivated user's tokens stop working at once
    other = api.auth("sdr2")
    assert api.post("admin", "/users/sdr2/deactivate").status_code == 200
    assert api.client.get("/auth/me", headers=other).status_code == 401


def test_P5_tokens_are_stored_hashed_and_shown_once(api) -> None:
    issued = api.post("sdr", "/users/sdr/tokens", json={"name": "cli"}).json()
    assert issued["token"].startswith("lf_") and len(issued["token"]) > 40
    with api.store.uow() as uow:
        row = uow.session.get(ApiToken, issued["id"])
        assert row is not None and row.token_sha256 != issued["token"] and len(row.token_sha256) == 64
        assert issued["token"] not in str(list(uow.session.execute(select(ApiToken.__table__)).all()))
    listed = api.get("sdr", "/users/sdr/tokens").json()
    assert {t["id"] for t in listed} >= {issued["id"]}
    assert all("token" not in t for t in listed)


def test_P5_a_user_manages_only_their_own_tokens_unless_permitted(api) -> None:
    assert api.get("sdr", "/users/ae/tokens").status_code == 403
    assert api.post("sdr", "/users/ae/tokens", json={}).status_code == 403
    ae_token = api.post("admin", "/users/ae/tokens", json={}).json()
    refused = api.delete("sdr", f"/tokens/{ae_token['id']}")
    assert refused.status_code == 403
    _error_shape(refused.json())
    assert api.delete("admin", "/tokens/tok_nothing").status_code == 404


def test_P5_password_login_checks_an_argon2_hash(api) -> None:
    with api.store.uow() as uow:
        set_password(uow, "ae", "correct horse battery", api.client.app.state.clock())
        uow.commit()
        stored = uow.session.get(UserPassword, "ae")
        assert stored is not None and stored.password_hash.startswith("$argon2id$")
    email = api.get("admin", "/users/ae").json()["email"]
    ok = api.client.post("/auth/login", json={"email": email, "password": "correct horse battery"})
    assert ok.status_code == 201
    me = api.client.get("/auth/me", headers={"Authorization": f"Bearer {ok.json()['token']}"})
    assert me.json()["user_id"] == "ae" and me.json()["role"] == "AE"
    for password, who in (("wrong horse battery", email), ("correct horse battery", "nobody@example.org")):
        refused = api.client.post("/auth/login", json={"email": who, "password": password})
        assert refused.status_code == 401
        assert refused.json()["detail"] == "wrong email or password"


def test_P5_short_passwords_are_refused(api) -> None:
    from leadflow.errors import InvalidInput

    with api.store.uow() as uow, pytest.raises(InvalidInput) as refused:
        set_password(uow, "ae", "short", api.client.app.state.clock())
    assert refused.value.field == "password"
