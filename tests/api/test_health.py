"""A1/A2 groundwork: the service answers /health and publishes its OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient

from leadflow.api.app import create_app
from leadflow.settings import Settings
from leadflow.store.db import Store


def test_A2_health_and_openapi_answer(store: Store) -> None:
    app = create_app(Settings(database_url=store.url))
    with TestClient(app) as client:
        health = client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok"
        assert body["playbook"] == "GitLab handbook (default)"
        assert body["database"] in {"sqlite", "postgresql"}
        spec = client.get("/openapi.json").json()
        assert "/health" in spec["paths"]
        assert client.get("/docs").status_code == 200
