"""``manage.py scheduler``: run the periodic jobs until SIGTERM or SIGINT (:mod:`duragraph_site.scheduler`).

Reaper, queue sweeper, cron ticks and TTL expiry, each at its own period. Run one per
deployment, or more for availability: the jobs are safe to run concurrently.
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError, CommandParser

from duragraph_site import scheduler


class Command(BaseCommand):
    help = "Run the periodic jobs (lease reaper, queue sweeper, crons, TTL expiry) until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--only",
            action="append",
            metavar="JOB",
            help="run only this job (repeatable): reap, reap_jobs, sweep, crons, expire",
        )

    def handle(self, *args, only: list[str] | None, **options) -> None:
        jobs = scheduler.default_jobs()
        if only:
            unknown = set(only) - {job.name for job in jobs}
            if unknown:
                raise CommandError(
                    f"unknown job(s) {sorted(unknown)}; choose from {[job.name for job in jobs]}"
                )
            jobs = [job for job in jobs if job.name in only]
        if not only or "reap_jobs" in only:
            self._load_workflows()
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(
            "scheduler running: " + ", ".join(f"{job.name} every {job.period:g}s" for job in jobs)
        )
        self.stdout.flush()
        scheduler.run(jobs, stop=stop)

    def _load_workflows(self) -> None:
        """The definitions of WORKFLOWS_DIR, a new version for each changed file (a bad file is
        said, and stops nothing: the others load, the scheduler runs)."""
        try:
            loaded = scheduler.load_workflows()
        except Exception as error:  # noqa: BLE001 - reported; the periodic jobs must run anyway
            self.stderr.write(f"workflows not loaded: {error}")
            return
        if loaded:
            self.stdout.write(
                "workflows: " + ", ".join(f"{w.workflow_id} v{w.version}" for w in loaded)
            )
