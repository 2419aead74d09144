"""OpenAPI generation hooks (drf-spectacular)."""

from __future__ import annotations

from duragraph_site.api.urls import V1_PREFIX


def root_paths_only(endpoints: list) -> list:
    """Document each LangGraph path once: the ``/api/v1`` copies are the same views."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith(f"/{V1_PREFIX}")]
