"""Production settings (docs/production.md), each in a fresh process as a deployment starts it:
``manage.py check --deploy --fail-level WARNING`` passes with the documented variables; a
production process without ``SECRET_KEY`` or ``ALLOWED_HOSTS`` stops with a message naming it;
a developer's machine still needs neither."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "x7Jq2vN9pL4rT8wZ1cF6hK3mB5dG0sYeUaViOoXnRtCbWqEzPl"

#: docs/production.md "The variables", word for word.
PRODUCTION = {
    "DATABASE_URL": "postgresql://duragraph:secret@db.internal:5432/duragraph",
    "SECRET_KEY": SECRET,
    "ALLOWED_HOSTS": "duragraph.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://duragraph.example.com",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "SECURE_SSL_REDIRECT": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def manage(*args: str, env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    """``manage.py`` outside the test suite: none of this process's configuration, no
    ``PYTEST_VERSION`` (what tells settings that the tests are running)."""
    base = {"PATH": os.environ.get("PATH", ""), "DURAGRAPH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_the_documented_variables(tmp_path):
    checked = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, home=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues" in checked.stdout
    assert not (tmp_path / "secret_key").exists()  # nothing generated


def test_check_deploy_fails_without_the_https_settings(tmp_path):
    bare = {
        k: v for k, v in PRODUCTION.items() if not k.startswith(("SECURE_", "SESSION_", "CSRF_C"))
    }
    checked = manage("check", "--deploy", "--fail-level", "WARNING", env=bare, home=tmp_path)
    assert checked.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in checked.stderr, checked.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY is not set. A production process"),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS is not set. A production process"),
    ],
)
def test_production_requires(tmp_path, missing, message):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    checked = manage("check", env=env, home=tmp_path)
    assert checked.returncode != 0
    assert "ImproperlyConfigured" in checked.stderr and message in checked.stderr
    assert "docs/production.md" in checked.stderr
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    "local",
    [
        {},  # make dev's machine: the embedded PostgreSQL, nothing set
        {"DATABASE_URL": PRODUCTION["DATABASE_URL"], "DEBUG": "true"},
    ],
    ids=["embedded-postgres", "debug"],
)
def test_a_developer_machine_needs_neither(tmp_path, local):
    checked = manage("check", env=local, home=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    kept = tmp_path / "secret_key"
    assert len(kept.read_text()) >= 50 and kept.stat().st_mode & 0o777 == 0o600
