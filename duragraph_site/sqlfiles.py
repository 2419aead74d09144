"""Named SQL queries kept in ``.sql`` files (procrastinate's habit).

A file holds queries each introduced by a ``-- name --`` line; the lines after it up to the next
header are the description (``--`` comments) and the statement. Load once at import::

    queries = sqlfiles.load(Path(__file__).with_name("queries.sql"))
    cursor.execute(queries["claim_runs"], {"limit": 10})
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

_HEADER = re.compile(r"^-- ([a-z_0-9]+) --$", re.MULTILINE)


def load(path: Path) -> dict[str, str]:
    """Parse *path* into ``{name: statement}``; raises ValueError on duplicate or empty queries."""
    text = path.read_text()
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        statement = body.strip()
        if not statement or name in queries:
            raise ValueError(f"{path}: query {name!r} is empty or defined twice")
        queries[name] = statement
    return queries
