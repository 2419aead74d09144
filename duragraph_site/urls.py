"""The site's URL table, and its error views: JSON ``{"detail"}`` on API paths, Django's HTML
pages on the browser paths (``duragraph_site.api.error_views``, docs/api-errors.md)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView

from assistants.api import views as assistant_views
from duragraph_site import dashboard, health, info, metrics
from duragraph_site.api.errors import require_methods
from duragraph_site.api.schema import OpenApiJsonView
from duragraph_site.api.urls import DISABLED, V1_PREFIX, api_patterns
from prompts.api import views as prompt_views
from runs.api import a2a as run_a2a
from runs.api import history as run_history
from runs.api import mcp as run_mcp
from runs.api import runs as run_views
from threads.api import views as thread_views
from workers.api import views as worker_views

#: The plain (non-DRF) API views answer these methods; any other is a 405 JSON, as DRF's.
read_only = require_methods("GET", "HEAD")

#: LangGraph's "meta" routes (``http.disable_meta`` removes them).
meta = [
    path("info", info.InfoApi.as_view(), name="info"),
    path("openapi.json", OpenApiJsonView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
    path("metrics", read_only(metrics.metrics_view), name="metrics"),
]
#: MCP's endpoint (``http.disable_mcp`` removes it): at the root only, as LangGraph's.
mcp = [
    path("mcp/", run_mcp.McpApi.as_view(), name="mcp"),
    path("mcp", run_mcp.McpNoSlashApi.as_view()),
]
#: A2A: an assistant as an agent, and its agent card (``http.disable_a2a`` removes them once
#: "a2a" is one of langgraph_config.HTTP_GROUPS): at the root only, as LangGraph's.
a2a = [
    path("a2a/<str:assistant_id>", run_a2a.A2aApi.as_view(), name="a2a"),
    path("a2a/<str:assistant_id>/", run_a2a.A2aSlashApi.as_view()),
    path(
        "a2a/<str:assistant_id>/.well-known/agent-card.json",
        run_a2a.AssistantAgentCardApi.as_view(),
    ),
    path(
        "a2a/<str:assistant_id>/.well-known/agent.json",
        run_a2a.AssistantAgentCardLegacyApi.as_view(),
    ),
    path(".well-known/agent-card.json", run_a2a.AgentCardApi.as_view(), name="agent-card"),
]
#: Ours under /api/v1: a run's history, and the original DuraGraph server's routes that
#: LangGraph lacks (its SDK's client calls them), each with its group.
v1_extras = {
    "runs": [
        path(f"{V1_PREFIX}runs/<str:run_id>/events", run_history.RunEventsApi.as_view()),
        path(f"{V1_PREFIX}runs/<uuid:run_id>", run_views.RunByIdApi.as_view()),
    ],
    "assistants": [path(f"{V1_PREFIX}assistants", assistant_views.AssistantListApi.as_view())],
    "threads": [path(f"{V1_PREFIX}threads", thread_views.ThreadListApi.as_view())],
}

urlpatterns = [
    path("ok", read_only(health.ok), name="ok"),
    path("health", read_only(health.health), name="health"),
    *(meta if "meta" not in DISABLED else []),
    *(mcp if "mcp" not in DISABLED else []),
    *(a2a if "a2a" not in DISABLED else []),
    path("admin/", admin.site.urls),
    path(f"{V1_PREFIX}workers", worker_views.WorkerListBareApi.as_view()),
    path(f"{V1_PREFIX}workers/", include("workers.api.urls")),
    path(f"{V1_PREFIX}prompts", prompt_views.PromptsApi.as_view()),
    path(f"{V1_PREFIX}prompts/", include("prompts.api.urls")),
    *(route for group, routes in v1_extras.items() if group not in DISABLED for route in routes),
    path(V1_PREFIX, include(api_patterns)),
    path("api/", include("workflows.api.urls")),  # workflow-graph's routes (DAG jobs)
    path("", include(dashboard)),  # "/" and /dashboard/...: browser paths
    path("", include(api_patterns)),
]

handler400 = "duragraph_site.api.error_views.bad_request"
handler403 = "duragraph_site.api.error_views.permission_denied"
handler404 = "duragraph_site.api.error_views.page_not_found"
handler500 = "duragraph_site.api.error_views.server_error"
