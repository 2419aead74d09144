from __future__ import annotations

from django.apps import AppConfig


class DuragraphSiteConfig(AppConfig):
    name = "duragraph_site"
    verbose_name = "DuraGraph"
