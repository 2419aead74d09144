from __future__ import annotations

from pathlib import Path

from duragraph_site import sqlfiles

queries = sqlfiles.load(Path(__file__).with_name("queries.sql"))
