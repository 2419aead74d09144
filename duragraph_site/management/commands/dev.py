"""``manage.py dev``: run the whole stack locally (see duragraph_site.devstack)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from duragraph_site.devstack import DevStack


class Command(BaseCommand):
    help = "Run DuraGraph with embedded PostgreSQL and NATS: migrations, admin user, server and workers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="interface to serve on (default 127.0.0.1)"
        )
        parser.add_argument("--port", type=int, default=8081, help="HTTP port (default 8081)")
        parser.add_argument(
            "--executors", type=int, default=4, help="runs executed at once (default 4)"
        )

    def handle(self, *args, host: str, port: int, executors: int, **options) -> None:
        stack = DevStack(
            host=host, port=port, executors=executors, say=lambda line: self.stdout.write(line)
        )

        code = stack.run()
        if code:
            raise SystemExit(code)
