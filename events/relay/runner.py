"""Running a relay: :func:`run` builds a :class:`~events.relay.loop.Relay` from the settings and
runs it in a new event loop until it is stopped (a ``threading.Event``, or SIGTERM/SIGINT for
``manage.py relay_outbox``) or, with ``once``, until the outbox is drained."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any

from duragraph_site.db.listen import conninfo
from events.relay.config import RelayConfig, RelayStats
from events.relay.loop import Relay

logger = logging.getLogger(__name__)


class Interrupted(Exception):
    """A second SIGTERM/SIGINT stopped the relay in the middle of its work (see :func:`run`)."""


def run(
    *,
    nats_url: str | None = None,
    batch_size: int | None = None,
    once: bool = False,
    stop: threading.Event | None = None,
    handle_signals: bool = False,
    **config: Any,
) -> RelayStats:
    """Run a relay in a new event loop until stopped (or, with *once*, until drained).

    Args:
        nats_url: NATS server URL (default ``settings.NATS_URL``).
        batch_size: rows per batch (default ``settings.DURAGRAPH_RELAY_BATCH_SIZE``).
        once: return when nothing is left to claim (tests, benchmarks, cron-style draining).
        stop: set it (from any thread) to stop after the batch in hand.
        handle_signals: SIGTERM and SIGINT stop after the batch in hand (a second one cancels
            at once). Only from the main thread (``manage.py relay_outbox``).
        **config: other :class:`RelayConfig` fields.

    Returns:
        What the relay did.

    Raises:
        ValueError: the configuration is invalid (e.g. no NATS URL).
        Interrupted: a second signal cancelled the batch in hand (its rows are published again
            by the next relay).
    """
    relay_config = RelayConfig.from_settings(nats_url=nats_url, batch_size=batch_size, **config)
    dsn = conninfo()  # reads Django's settings (and may start the embedded server): not in the loop
    return asyncio.run(
        _run(Relay(relay_config, dsn), once=once, stop=stop, handle_signals=handle_signals)
    )


async def _run(
    relay: Relay, *, once: bool, stop: threading.Event | None, handle_signals: bool
) -> RelayStats:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    if handle_signals:

        def on_signal(signum: int) -> None:
            if relay.stopping:
                logger.warning("second %s: stopping now", signal.Signals(signum).name)
                main.cancel()
            else:
                logger.info(
                    "%s: finishing the current batch, then stopping", signal.Signals(signum).name
                )
                relay.stop()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
    watcher = asyncio.create_task(_watch(stop, relay)) if stop is not None else None
    try:
        return await relay.run(once=once)
    except asyncio.CancelledError:
        if handle_signals and relay.stopping:
            raise Interrupted("stopped by a second signal") from None
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)


async def _watch(stop: threading.Event, relay: Relay) -> None:
    # A threading.Event cannot be awaited; polling it costs nothing at this pace and, unlike a
    # thread blocked in stop.wait(), never outlives the loop.
    while not stop.is_set():
        await asyncio.sleep(0.05)
    relay.stop()
