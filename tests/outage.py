"""A PostgreSQL that can be made unreachable on demand: a byte-for-byte proxy in front of it.

Real PostgreSQL behind a real socket, so a database outage can be staged without stopping the
server every other test uses: :meth:`DatabaseProxy.cut` closes every proxied connection (the
clients see what a server restart or ``pg_terminate_backend`` looks like) and refuses new
ones; :meth:`DatabaseProxy.restore` accepts again. The proxy listens on a Unix socket in its
own directory, so a libpq URL ``postgresql://user@/db?host=<dir>`` reaches it.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo


class DatabaseProxy:
    """Forwards ``<directory>/.s.PGSQL.<port>`` to the database of *conninfo*."""

    def __init__(self, conninfo: str) -> None:
        self.target = conninfo_to_dict(conninfo)
        self.directory = Path(tempfile.mkdtemp(prefix="pgproxy-"))
        self.port = 5432
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def socket_path(self) -> Path:
        return self.directory / f".s.PGSQL.{self.port}"

    def conninfo(self, **overrides: Any) -> str:
        """The target's conninfo, through the proxy."""
        params = {**self.target, "host": str(self.directory), "port": str(self.port), **overrides}
        return make_conninfo(**params)

    def url(self) -> str:
        """A libpq URL through the proxy (for ``DATABASE_URL``)."""
        password = f":{self.target['password']}" if self.target.get("password") else ""
        user = self.target.get("user") or "postgres"
        return f"postgresql://{user}{password}@/{self.target['dbname']}?host={self.directory}&port={self.port}"

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> DatabaseProxy:
        self.restore()
        return self

    def restore(self) -> None:
        """Accept connections (again)."""
        with self._lock:
            if self._listener is not None:
                return
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(self.socket_path))
            listener.listen(128)
            self._listener = listener
            self._stopped.clear()
            self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
            self._thread.start()

    def cut(self) -> None:
        """Close every proxied connection and refuse new ones (the socket file disappears, as
        when the server is down)."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, []
        self._stopped.set()
        if listener is not None:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
        if self._thread is not None:
            self._thread.join(5)
        for client, server in pairs:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.cut()
        with contextlib.suppress(OSError):
            os.rmdir(self.directory)

    # -- forwarding -------------------------------------------------------------------------------
    def _connect_target(self) -> socket.socket:
        host = self.target.get("host") or "/var/run/postgresql"
        port = int(self.target.get("port") or 5432)
        if host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(os.path.join(host, f".s.PGSQL.{port}"))
            return sock
        return socket.create_connection((host, port))

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                readable, _, _ = select.select([listener], [], [], 0.05)
                if not readable:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):
                return  # closed by cut()
            try:
                server = self._connect_target()
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    server.close()
                    return
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    @staticmethod
    def _pump(client: socket.socket, server: socket.socket) -> None:
        sockets = [client, server]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [])
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (server if sock is client else client).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.close()
