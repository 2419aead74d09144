"""The API's URL table: every app's LangGraph paths, served at the root and under ``/api/v1``."""

from __future__ import annotations

from django.urls import include, path

V1_PREFIX = "api/v1/"

#: Apps contributing LangGraph-compatible routes (each has ``api/urls.py``).
API_APPS = ("assistants", "threads", "runs", "store")

api_patterns = [path("", include(f"{app}.api.urls")) for app in API_APPS]
