"""``manage.py jobs_worker``: the jobs worker (:mod:`workflows.worker`), for a deployment that
already runs ``manage.py``. The same flags as ``duragraph-jobs-worker``; logging is Django's.

Runs until SIGTERM or SIGINT, which finish the job in hand and exit 0 (a second one ends the
job and exits 1).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows import worker


class Command(BaseCommand):
    help = "Claim and run DAG jobs until stopped (SIGTERM/SIGINT finish the job in hand)."

    def add_arguments(self, parser: CommandParser) -> None:
        worker.add_arguments(parser)

    def handle(self, *args, **options) -> None:
        try:
            config = worker.config_from_options(options)
        except ValueError as error:
            raise CommandError(str(error)) from None
        worker.quiet_http_logs()
        jobs_worker = worker.Worker(config)
        worker.install_signal_handlers(jobs_worker)
        if jobs_worker.run() != 0:
            raise CommandError("stopped by a second signal: the job in hand was ended")
