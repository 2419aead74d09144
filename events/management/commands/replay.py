"""``manage.py replay <run|thread|assistant> <id>``: the state rebuilt from events, and its diff."""

from __future__ import annotations

import json
import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from duragraph_site.errors import DuraGraphError
from events import projections


class Command(BaseCommand):
    help = "Rebuild one aggregate from its events and diff it against its read model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=["run", "thread", "assistant"])
        parser.add_argument("id", type=uuid.UUID)

    def handle(self, *args, kind: str, id: uuid.UUID, **options) -> None:  # noqa: A002 - CLI name
        try:
            result = projections.replay(kind, id)
        except DuraGraphError as error:
            raise CommandError(error.message) from None
        if result.from_log is None:
            raise CommandError(f"no events for {kind} {id}")
        self.stdout.write(f"{kind} {id} rebuilt from its events:")
        self.stdout.write(
            json.dumps(projections.to_plain(result.from_log), indent=2, sort_keys=True)
        )
        if not result.differences:
            self.stdout.write(self.style.SUCCESS("read model matches the event log"))
            return
        self.stdout.write(
            self.style.WARNING(f"read model differs in {len(result.differences)} field(s):")
        )
        for field, (from_log, from_read_model) in result.differences.items():
            self.stdout.write(
                f"  {field}:\n    events:     {json.dumps(from_log)}\n    read model: {json.dumps(from_read_model)}"
            )
        raise CommandError("read model differs from the event log")
