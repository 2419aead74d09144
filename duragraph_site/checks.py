"""System checks, run before every ``manage.py`` command (``dev``, ``migrate``, ``scheduler``...)
and by ``manage.py check``: what would otherwise fail only at the first request that reads it."""

from __future__ import annotations

from typing import Any

from django.core import checks

from duragraph_site import langgraph_config


@checks.register()
def langgraph_json_ttls(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """``langgraph.json``'s ``store.ttl`` and ``checkpointer.ttl`` are well formed."""
    errors = []
    for name in langgraph_config.TTL_KEYS:
        try:
            langgraph_config.ttl_config(name)
        except ValueError as error:
            errors.append(checks.Error(str(error), id="duragraph.E001"))
    return errors
