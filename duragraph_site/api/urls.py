"""The API's URL table: every app's LangGraph paths, served at the root and under ``/api/v1``,
but for the groups ``langgraph.json`` removes (``http.disable_assistants`` ...), read once at
start as LangGraph does."""

from __future__ import annotations

from django.urls import include, path

from duragraph_site import langgraph_config

V1_PREFIX = "api/v1/"

#: Apps contributing LangGraph-compatible routes (each has ``api/urls.py``).
API_APPS = ("assistants", "threads", "runs", "store")
#: The route groups removed by ``langgraph.json`` (its ``http.disable_<group>`` flags).
DISABLED = langgraph_config.disabled_route_groups()

api_patterns = [path("", include(f"{app}.api.urls")) for app in API_APPS if app not in DISABLED]
#: Protocol v2 creates runs: gone with the runs too (LangGraph's rule).
EVENT_STREAMING = not DISABLED & {"runs", "event_streaming"}
if EVENT_STREAMING:
    api_patterns.append(path("", include("runs.api.protocol_urls")))
