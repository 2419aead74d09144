"""``manage.py rebuild_projections``: rebuild every read model from the event log.

A dry run by default (reports how many aggregates differ, changes nothing); ``--for-real``
empties each read model and writes it back from the events.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from events import projections


class Command(BaseCommand):
    help = "Rebuild every read model from the event log (dry run unless --for-real)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--for-real", action="store_true", help="empty and rebuild the read models"
        )

    def handle(self, *args, for_real: bool, **options) -> None:
        for report in projections.rebuild_all(for_real=for_real):
            if for_real:
                self.stdout.write(
                    f"{report.stream_type}: {report.streams} streams, {report.rebuilt} read-model rows rebuilt"
                )
            else:
                self.stdout.write(
                    f"{report.stream_type}: {report.streams} streams, {report.differing} differ from the log"
                )
        if not for_real:
            self.stdout.write("dry run: nothing changed (use --for-real to rebuild)")
