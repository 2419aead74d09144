"""The shape of the code, checked with the suite: the apps' dependency direction (import-linter
contracts in pyproject.toml), no import hidden in a function to dodge a cycle, and models that
match their migrations."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
APPS = ("events", "assistants", "threads", "runs", "workers", "store")
FIRST_PARTY = (*APPS, "duragraph_site")
#: Function-level imports of the project's own modules that are not about cycles, with why.
LATE_IMPORTS_ALLOWED = {
    # Loaded by duragraph_site/celery.py when Celery starts, before Django is set up: models and
    # services may only be imported once the worker starts.
    "workers/queue_listener.py": "imported before Django is set up",
}


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _late_imports(path: Path) -> list[str]:
    """First-party imports made inside a function of *path* (outside ``AppConfig.ready``)."""
    found = []
    for function in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if path.name == "apps.py" and function.name == "ready":
            continue  # Django's place for wiring apps together
        for node in ast.walk(function):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} {name}"
                for name in names
                if name.split(".")[0] in FIRST_PARTY
            ]
    return found


def test_no_first_party_import_hides_in_a_function():
    """An import inside a function is how a cycle between apps gets dodged; the dependency
    direction is kept by design (hooks registered in ``ready()``) instead."""
    late = [
        line
        for app in (*APPS, "duragraph_site")
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts
        and str(path.relative_to(ROOT)) not in LATE_IMPORTS_ALLOWED
        for line in _late_imports(path)
    ]
    assert late == []


def test_one_writer_of_the_event_log():
    """Only the events app's SQL inserts into the event log and the outbox (``events_append_v1``);
    everything else, the executor's single-statement writes included, calls it."""
    writers = sorted(
        str(path.relative_to(ROOT))
        for app in FIRST_PARTY
        for path in (ROOT / app).rglob("*")
        if path.suffix in (".py", ".sql")
        and re.search(r"INSERT\s+INTO\s+events_(event|outbox)\b", path.read_text(), re.I)
    )
    assert writers == ["events/sql/events_append_v1.sql"]


@pytest.mark.django_db
def test_the_models_match_their_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
