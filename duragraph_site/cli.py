"""The ``duragraph`` console script: Django's management commands under the project's settings.

``duragraph dev`` starts everything; ``duragraph migrate``, ``duragraph replay run <id>`` and
every other ``manage.py`` command work the same way.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duragraph_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["duragraph", *sys.argv[1:]])
