"""PostgreSQL backend: django-prometheus instrumentation, the embedded server, a pool that
recovers from cut connections at once (``duragraph_site.db.pool``) and checks them cheaply.

When ``DATABASE_URL`` is unset the settings mark the connection ``EMBEDDED``; the first
connection attaches to (or starts) the embedded cluster, so commands that never touch the
database never start PostgreSQL.

With ``CONN_HEALTH_CHECKS``, Django gives its psycopg pool ``ConnectionPool.check_connection``,
an empty query on every checkout: a round trip per request (and per executor transaction) to
learn what the socket already says. :func:`check_when_readable` asks the socket first.
"""

from __future__ import annotations

import select

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql.base import NO_DB_ALIAS
from django_prometheus.db.backends.postgresql import base as prometheus_base

from duragraph_site import embedded
from duragraph_site.db.pool import ConnectionPool


def check_when_readable(connection: psycopg.Connection) -> None:
    """The pool's check at checkout, without a round trip for a healthy idle connection.

    An idle connection has nothing to read unless the server spoke first: it closed the
    connection (``pg_terminate_backend``, a restart: an error message, then end of file) or
    sent a notice. Only then does the real check run (an empty query), which raises for a closed
    connection, so the pool replaces it. A peer that vanished without closing the socket is not
    detected here; the empty query would hang on it too.
    """
    from psycopg_pool import ConnectionPool

    if connection.closed or connection.broken:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):  # readable, hung up or in error: let the server's words decide
        ConnectionPool.check_connection(connection)


class DatabaseWrapper(prometheus_base.DatabaseWrapper):
    def get_connection_params(self) -> dict:
        if self.settings_dict.get("EMBEDDED") and not self.settings_dict["HOST"]:
            self.settings_dict["HOST"] = str(embedded.postgres().socket_dir)
        return super().get_connection_params()

    @property
    def pool(self) -> ConnectionPool | None:
        """Django's pool (``django.db.backends.postgresql.base``, 5.2), but
        :class:`duragraph_site.db.pool.ConnectionPool` (quick recovery from cut connections)
        with :func:`check_when_readable` as its check. Django passes ``check=`` itself, so the
        check cannot be given in ``OPTIONS["pool"]``."""
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not pool_options:
            return None
        if self.alias not in self._connection_pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True  # Django sets the connection up later
            pool = ConnectionPool(
                kwargs=connect_kwargs,
                open=False,
                configure=self._configure_connection,
                check=check_when_readable if self.settings_dict["CONN_HEALTH_CHECKS"] else None,
                **({} if pool_options is True else pool_options),
            )
            # As Django: threads racing here build a pool each; the first one set wins.
            self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]
