"""System checks, run before every ``manage.py`` command (``dev``, ``migrate``, ``scheduler``...)
and by ``manage.py check``: what would otherwise fail only at the first request that reads it."""

from __future__ import annotations

from typing import Any

from django.core import checks

from duragraph_site import custom_app, langgraph_config


@checks.register()
def langgraph_json(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """``langgraph.json``'s ``store.ttl``, ``checkpointer.ttl``, ``http`` flags, ``http.cors``
    and ``http.configurable_headers`` are well formed and ``http.app`` loads (errors); the
    ``http`` keys DuraGraph does not act on are said (warnings)."""
    messages: list[checks.CheckMessage] = []
    readers = [
        *(
            lambda name=name: langgraph_config.ttl_config(name)
            for name in langgraph_config.TTL_KEYS
        ),
        langgraph_config.disabled_route_groups,
        lambda: langgraph_config.cors_settings([], []),
        langgraph_config.configurable_headers,
        langgraph_config.custom_route_auth,
        langgraph_config.mount_prefix,
        langgraph_config.webhooks_disabled,
        custom_app.configured,
    ]
    for read in readers:
        try:
            read()
        except ValueError as error:
            messages.append(checks.Error(str(error), id="duragraph.E001"))
    for key in langgraph_config.http_keys_not_honoured():
        messages.append(
            checks.Warning(
                f"langgraph.json http.{key}: not supported by DuraGraph, ignored",
                id="duragraph.W001",
            )
        )
    return messages
