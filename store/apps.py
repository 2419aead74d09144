from __future__ import annotations

from django.apps import AppConfig


class StoreConfig(AppConfig):
    name = "store"
    verbose_name = "Store"

    def ready(self) -> None:
        from store import checks  # noqa: F401, PLC0415 - registers the store's system check
