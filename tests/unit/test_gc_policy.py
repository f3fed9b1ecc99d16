"""I3 (imports of 100,000 rows) and the server: the collector's thresholds while leadflow does bulk work."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from leadflow import gc_policy


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_I3_relaxed_raises_the_thresholds_inside_the_block_and_restores_them_after(default_thresholds: None) -> None:
    with gc_policy.relaxed():
        assert gc.get_threshold() == gc_policy.BULK_THRESHOLDS
        with gc_policy.relaxed():  # nested: still raised, and the outer block's end restores
            assert gc.get_threshold() == gc_policy.BULK_THRESHOLDS
        assert gc.get_threshold() == gc_policy.BULK_THRESHOLDS
    assert gc.get_threshold() == (700, 10, 10)


def test_I3_relaxed_restores_the_thresholds_when_the_block_fails(default_thresholds: None) -> None:
    with pytest.raises(RuntimeError), gc_policy.relaxed():
        raise RuntimeError("the import failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_I3_concurrent_blocks_restore_once_the_last_one_ends(default_thresholds: None) -> None:
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with gc_policy.relaxed():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    with gc_policy.relaxed():
        thread.start()
        assert inside.wait(5)
    assert gc.get_threshold() == gc_policy.BULK_THRESHOLDS  # the other import is still running
    release.set()
    thread.join(5)
    assert gc.get_threshold() == (700, 10, 10)


def test_I3_relaxed_never_lowers_thresholds_a_deployment_raised_or_turns_a_disabled_collector_on() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(200_000, 10, 500)
        with gc_policy.relaxed():
            assert gc.get_threshold() == (200_000, 20, 500)
        gc.set_threshold(0, 10, 10)
        with gc_policy.relaxed():
            assert gc.get_threshold() == (0, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_I3_serving_freezes_start_up_objects_once_per_process() -> None:
    before = gc.get_threshold()
    try:
        gc_policy.serving()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert gc.get_threshold()[0] >= gc_policy.BULK_THRESHOLDS[0]
        gc_policy.serving()  # a second app in the same process freezes nothing more
        assert gc.get_freeze_count() == frozen
    finally:
        gc.set_threshold(*before)
