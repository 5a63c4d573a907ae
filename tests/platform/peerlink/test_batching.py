"""Collector: a thread's items gathered inside a batch and flushed together on leaving it."""

from __future__ import annotations

import threading

import pytest

from peerlink.batching import Collector


def _collector() -> tuple[Collector[int], list[list[int]]]:
    flushed: list[list[int]] = []
    return Collector(flushed.append), flushed


def test_items_added_in_a_batch_are_flushed_together_on_leaving_it() -> None:
    collector, flushed = _collector()

    with collector.batch():
        assert collector.add(1) and collector.add(2)
        assert flushed == []

    assert flushed == [[1, 2]]


def test_outside_a_batch_nothing_is_collected() -> None:
    collector, flushed = _collector()

    assert collector.add(1) is False
    with collector.batch():
        pass

    assert flushed == []


def test_a_nested_batch_joins_the_outer_one() -> None:
    collector, flushed = _collector()

    with collector.batch():
        with collector.batch():
            collector.add(1)
        assert flushed == []
        collector.add(2)

    assert flushed == [[1, 2]]


def test_what_was_collected_is_flushed_even_when_the_block_raises() -> None:
    collector, flushed = _collector()

    def fail_after_adding() -> None:
        with collector.batch():
            collector.add(1)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_after_adding()

    assert flushed == [[1]]
    assert collector.add(2) is False


def test_each_thread_has_its_own_batch() -> None:
    collector, flushed = _collector()
    elsewhere: list[bool] = []

    with collector.batch():
        collector.add(1)
        thread = threading.Thread(target=lambda: elsewhere.append(collector.add(2)))
        thread.start()
        thread.join()

    assert elsewhere == [False]
    assert flushed == [[1]]
