"""``manage.py workflows load [--dir DIR]``: define the workflows of a directory (each file's
stem is its id; a changed file makes a new version), as the scheduler does when it starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from duragraph_site.errors import InvalidInput
from workflows import services


class Command(BaseCommand):
    help = "Load workflow definitions (YAML or JSON) from WORKFLOWS_DIR or --dir."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help=self.help)
        load.add_argument("--dir", default=None, help="default: the WORKFLOWS_DIR setting")

    def handle(self, *args: Any, action: str, dir: str | None, **options: Any) -> None:
        directory = Path(dir or settings.WORKFLOWS_DIR)
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory")
        try:
            loaded = services.workflows_load_dir(directory)
        except InvalidInput as error:
            raise CommandError(error.message) from None
        for each in loaded:
            change = "new version" if each.changed else "unchanged"
            self.stdout.write(f"{each.workflow_id}: version {each.version} ({change})")
