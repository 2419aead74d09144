"""Where ``langgraph.json`` is and what it names: one reader for the graph registry
(``assistants.graphs``), custom auth (``accounts.custom_auth``) and ``manage.py dev``.

The file is ``DURAGRAPH_CONFIG`` (environment, then settings) when set, else ``langgraph.json``
in the working directory, else there is none.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.conf import settings


def config_file() -> Path | None:
    """The ``langgraph.json`` in effect; ValueError when ``DURAGRAPH_CONFIG`` names no file."""
    explicit = os.environ.get("DURAGRAPH_CONFIG") or getattr(settings, "DURAGRAPH_CONFIG", "")
    if explicit:
        path = Path(explicit).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"DURAGRAPH_CONFIG={explicit!r}: no such file")
        return path
    candidate = Path.cwd() / "langgraph.json"
    return candidate.resolve() if candidate.is_file() else None


def custom_auth_path(config: Path | None) -> str | None:
    """The ``auth.path`` that ``langgraph.json`` names (LangGraph custom auth), if any."""
    if config is None:
        return None
    try:
        auth = json.loads(config.read_text()).get("auth")
    except (OSError, ValueError, AttributeError):
        return None  # the graph registry reports a broken langgraph.json
    path = auth.get("path") if isinstance(auth, dict) else None
    return path if isinstance(path, str) and path else None
