from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from duragraph_site import health, info, metrics
from duragraph_site.api.urls import V1_PREFIX, api_patterns

urlpatterns = [
    path("ok", health.ok, name="ok"),
    path("health", health.health, name="health"),
    path("info", info.InfoApi.as_view(), name="info"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
    path("admin/", admin.site.urls),
    path("metrics", metrics.metrics_view, name="metrics"),
    path(f"{V1_PREFIX}workers/", include("workers.api.urls")),
    path(V1_PREFIX, include(api_patterns)),
    path("", include(api_patterns)),
]
