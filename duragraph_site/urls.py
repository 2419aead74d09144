from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from duragraph_site import health

urlpatterns = [
    path("ok", health.ok, name="ok"),
    path("health", health.health, name="health"),
    path("admin/", admin.site.urls),
    path("", include("django_prometheus.urls")),
]
