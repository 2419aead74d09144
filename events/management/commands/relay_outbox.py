"""``manage.py relay_outbox``: publish the outbox to NATS JetStream (:mod:`events.relay`).

Runs until SIGTERM or SIGINT, which finish the batch in hand and exit 0. Run as many as you
like: they share the work (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from events import relay


class Command(BaseCommand):
    help = "Relay outbox rows to NATS JetStream until stopped (SIGTERM/SIGINT finish the batch)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--nats-url",
            default=settings.NATS_URL,
            help="NATS server URL (default: NATS_URL)",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=settings.DURAGRAPH_RELAY_BATCH_SIZE,
            help="outbox rows per claim and commit (default: DURAGRAPH_RELAY_BATCH_SIZE)",
        )
        parser.add_argument(
            "--once",
            action="store_true",
            help="exit once nothing is left to publish (tests, benchmarks)",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=settings.DURAGRAPH_RELAY_METRICS_PORT,
            help="serve Prometheus metrics on this port (default: DURAGRAPH_RELAY_METRICS_PORT; 0: off)",
        )
        parser.add_argument(
            "--metrics-addr", default="127.0.0.1", help="address for --metrics-port"
        )

    def handle(
        self,
        *args,
        nats_url: str,
        batch_size: int,
        once: bool,
        metrics_port: int,
        metrics_addr: str,
        **options,
    ) -> None:
        if not nats_url:
            raise CommandError(
                "no NATS server: set NATS_URL or pass --nats-url (manage.py dev starts one)"
            )
        if metrics_port:
            from prometheus_client import start_http_server

            # The default registry: the relay's counters and the outbox gauges (events.metrics).
            start_http_server(metrics_port, addr=metrics_addr)
        try:
            stats = relay.run(
                nats_url=nats_url, batch_size=batch_size, once=once, handle_signals=True
            )
        except (ValueError, relay.Interrupted) as error:
            raise CommandError(str(error)) from None
        if once or options["verbosity"] > 1:
            self.stdout.write(
                f"published {stats.published} outbox row(s) in {stats.batches} batch(es) "
                f"({stats.duplicates} already in JetStream); {stats.failed} failed attempt(s); "
                f"pruned {stats.pruned}"
            )
