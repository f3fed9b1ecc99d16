"""What a busy API needs of the store: the active playbook parsed once per version, connections kept open."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from leadflow.playbook.schema import Playbook
from leadflow.services import playbooks
from leadflow.services.setup import initialise, read_playbook
from leadflow.store.db import POOL_SIZE, Store


def test_A2_concurrent_first_requests_parse_the_active_playbook_once(
    store: Store, now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pb, text, source = read_playbook(None)
    initialise(store, pb, text, source, now)
    monkeypatch.setattr(playbooks, "_BY_SHA", {})  # a process that has not parsed it yet
    parses: list[str] = []
    real_parse = playbooks.parse_playbook

    def slow_parse(body: str, where: str) -> Playbook:
        parses.append(where)
        time.sleep(0.05)  # long enough for every thread to arrive while the first one parses
        return real_parse(body, where)

    monkeypatch.setattr(playbooks, "parse_playbook", slow_parse)
    seen: list[Playbook] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def request() -> None:
        try:
            start.wait()
            with store.uow() as uow:
                active = playbooks.active_playbook(uow)
                assert active is not None
                seen.append(active.playbook)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=request) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(parses) == 1
    assert len(seen) == 6 and all(p is seen[0] for p in seen)
    assert seen[0].name == pb.name


def test_A2_a_file_database_keeps_the_connections_a_busy_api_uses(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'kept.db'}")
    try:
        opened = [store.engine.connect() for _ in range(POOL_SIZE)]
        for conn in opened:
            conn.close()
        # beyond the default pool of 5, a connection would be closed on return and opened again next time
        assert store.engine.pool.checkedin() == POOL_SIZE  # type: ignore[attr-defined]
    finally:
        store.dispose()


def test_A2_an_in_memory_database_still_opens() -> None:
    store = Store("sqlite://")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        store.dispose()
