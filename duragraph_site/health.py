"""Liveness and readiness: ``/ok`` (LangGraph's shape) and ``/health`` (each dependency)."""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse


def ok(request: HttpRequest) -> JsonResponse:
    """``{"ok": true}``; with ``?check_db=1`` it also round-trips PostgreSQL (503 if down)."""
    if request.GET.get("check_db") in ("1", "true") and not check_postgres()["ok"]:
        return JsonResponse({"ok": False}, status=503)
    return JsonResponse({"ok": True})


def health(request: HttpRequest) -> JsonResponse:
    """PostgreSQL and NATS reachability; 503 unless PostgreSQL answers."""
    postgres = check_postgres()
    nats = check_nats(settings.NATS_URL)
    healthy = postgres["ok"] and nats.get("ok", True)
    body = {"status": "healthy" if healthy else "unhealthy", "postgres": postgres, "nats": nats}
    return JsonResponse(body, status=200 if postgres["ok"] else 503)


def check_postgres() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        return {"ok": False, "error": str(error).strip()}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def check_nats(url: str, timeout: float = 1.0) -> dict[str, Any]:
    """Speak the first step of the NATS protocol: a server greets every client with ``INFO``."""
    if not url:
        return {"configured": False}
    errors = []
    for server in url.split(","):
        parts = urlsplit(server.strip() if "://" in server else f"nats://{server.strip()}")
        started = time.perf_counter()
        try:
            with socket.create_connection(
                (parts.hostname or "127.0.0.1", parts.port or 4222), timeout=timeout
            ) as sock:
                greeting = sock.recv(4096)
        except OSError as error:
            errors.append(f"{parts.netloc}: {error}")
            continue
        if greeting.startswith(b"INFO "):
            return {
                "configured": True,
                "ok": True,
                "server": parts.netloc,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            }
        errors.append(f"{parts.netloc}: not a NATS server")
    return {"configured": True, "ok": False, "error": "; ".join(errors)}
