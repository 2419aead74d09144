"""A stream's wait for its next event, without IO: a cancellation (the client went away) is
never lost, even when an event arrives in the same turn of the event loop.

On Python 3.11, ``asyncio.wait_for`` returns the inner result instead of raising when the
awaiting task is cancelled just as that result comes in (fixed in 3.12): an SSE stream with
``on_disconnect="cancel"`` then carried on as if its client were still there, and never
cancelled its run.
"""

from __future__ import annotations

import asyncio

import pytest

from runs import live


def _cancel_as_an_event_arrives(wait) -> tuple[asyncio.Task, asyncio.Queue]:
    """Start *wait(tap)*, then, once it waits, deliver an event and cancel it in one turn."""

    async def scenario():
        tap = live.Tap("duragraph.threads.t.runs.r", hub=None)
        waiting = asyncio.create_task(wait(tap))
        await asyncio.sleep(0)  # one turn: the task is now waiting on the queue
        tap.queue.put_nowait("an event")
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return waiting, tap.queue

    return asyncio.run(scenario())


def test_a_wait_cancelled_as_an_event_arrives_is_cancelled():
    waiting, queue = _cancel_as_an_event_arrives(lambda tap: tap.next(10))
    assert waiting.cancelled()
    assert queue.get_nowait() == "an event", "nor is the event taken from the queue"


def test_a_wait_cancelled_without_an_event_is_cancelled():
    async def scenario():
        tap = live.Tap("s", hub=None)
        waiting = asyncio.create_task(tap.next(10))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return waiting

    assert asyncio.run(scenario()).cancelled()


def test_a_wait_without_events_times_out_with_none():
    async def scenario():
        tap = live.Tap("s", hub=None)
        return await tap.next(0.01), await tap.next(0)

    assert asyncio.run(scenario()) == (None, None)


def test_a_waiting_event_is_returned_at_once():
    async def scenario():
        tap = live.Tap("s", hub=None)
        tap.queue.put_nowait("first")
        tap._wake()
        return await tap.next(0), await tap.next(0), tap._wake_pending

    assert asyncio.run(scenario()) == ("first", live.RESYNC, False)
