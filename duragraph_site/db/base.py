"""PostgreSQL backend: django-prometheus instrumentation plus the embedded server.

When ``DATABASE_URL`` is unset the settings mark the connection ``EMBEDDED``; the first
connection attaches to (or starts) the embedded cluster, so commands that never touch the
database never start PostgreSQL.
"""

from __future__ import annotations

from django_prometheus.db.backends.postgresql import base as prometheus_base

from duragraph_site import embedded


class DatabaseWrapper(prometheus_base.DatabaseWrapper):
    def get_connection_params(self) -> dict:
        if self.settings_dict.get("EMBEDDED") and not self.settings_dict["HOST"]:
            self.settings_dict["HOST"] = str(embedded.postgres().socket_dir)
        return super().get_connection_params()
