"""Requests through the ASGI application in-process (``duragraph_site.asgi.application``)."""

from __future__ import annotations


def http_scope(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | list[tuple[bytes, bytes]] | None = None,
    query: str = "",
    client: str = "127.0.0.1",
) -> dict:
    """An HTTP scope as daphne builds it, from *client*, with ``Host: testserver`` unless
    *headers* (a mapping, or raw ASGI pairs) say otherwise."""
    if headers is None or isinstance(headers, dict):
        pairs = [
            (name.lower().encode(), value.encode())
            for name, value in {"host": "testserver", **(headers or {})}.items()
        ]
    else:
        pairs = headers
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": pairs,
        "client": (client, 50000),
        "server": ("testserver", 80),
    }
