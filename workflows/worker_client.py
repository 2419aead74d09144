"""The jobs worker's side of workflow-graph's worker protocol: one method per request.

Wire-compatible with workflow-graph's Rust server and with ours (``workflows.api``). The client
only speaks: what to retry, when to stop, and what a 409 means for the job in hand are the
worker's decisions (:mod:`workflows.worker`). No Django here: the worker runs anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

logger = logging.getLogger(__name__)

#: How long one request may take; a heartbeat stuck longer than this is as good as missed.
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class ServerUnavailable(Exception):
    """The server did not answer, or answered something other than the protocol's replies
    (a 5xx, a 401, a proxy's HTML...): log it and retry later, never die of it."""


class LeaseGone(Exception):
    """409 on a lease route: the lease expired, was superseded or its job was cancelled.
    The job must stop, and nothing more may be reported for it."""


@dataclass(frozen=True)
class QueuedJob:
    """A job as the claim hands it out (workflow-graph's ``QueuedJob`` plus our fields)."""

    job_id: str
    workflow_id: str
    command: str
    attempt: int = 0
    #: Ours: the workflow run this job belongs to (absent from the Rust server).
    run_id: str | None = None
    required_labels: tuple[str, ...] = ()
    upstream_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Ours: variables the definition sets for this job.
    env: dict[str, str] = field(default_factory=dict)
    #: Ours: the job's time limit in seconds (None: none).
    timeout_secs: float | None = None
    retry_policy: Any = None
    enqueued_at_ms: int | None = None
    delayed_until_ms: int | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> QueuedJob:
        timeout = body.get("timeout_secs")
        return cls(
            job_id=str(body["job_id"]),
            workflow_id=str(body["workflow_id"]),
            command=str(body["command"]),
            attempt=int(body.get("attempt") or 0),
            run_id=None if body.get("run_id") is None else str(body["run_id"]),
            required_labels=tuple(body.get("required_labels") or ()),
            upstream_outputs=dict(body.get("upstream_outputs") or {}),
            env={str(k): str(v) for k, v in (body.get("env") or {}).items() if v is not None},
            timeout_secs=None if timeout is None else float(timeout),
            retry_policy=body.get("retry_policy"),
            enqueued_at_ms=body.get("enqueued_at_ms"),
            delayed_until_ms=body.get("delayed_until_ms"),
        )


@dataclass(frozen=True)
class Lease:
    """The worker's claim on one job: every later request about the job names ``lease_id``."""

    lease_id: str
    job_id: str
    workflow_id: str
    worker_id: str
    ttl_secs: float
    granted_at_ms: int | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Lease:
        return cls(
            lease_id=str(body["lease_id"]),
            job_id=str(body["job_id"]),
            workflow_id=str(body["workflow_id"]),
            worker_id=str(body["worker_id"]),
            ttl_secs=float(body.get("ttl_secs") or 0),
            granted_at_ms=body.get("granted_at_ms"),
        )


@dataclass(frozen=True)
class Claim:
    job: QueuedJob
    lease: Lease


class JobsClient:
    """A thin HTTP client for the worker protocol. Raises :class:`ServerUnavailable` on anything
    but the protocol's answers and :class:`LeaseGone` on a lease route's 409.

    One ``httpx.Client`` is shared by the worker's threads (httpx documents it as thread-safe).
    """

    def __init__(
        self,
        server_url: str,
        *,
        api_key: str | None = None,
        timeout: httpx.Timeout | float = REQUEST_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"x-api-key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=server_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    # -- the worker ---------------------------------------------------------------------------
    def register(self, *, worker_id: str, labels: list[str]) -> None:
        self._send("POST", "/api/workers/register", {"worker_id": worker_id, "labels": labels})

    def heartbeat_worker(self, worker_id: str) -> bool:
        """Tell the server this worker is alive. False: it does not know us (register again)."""
        response = self._send(
            "POST", f"/api/workers/{_segment(worker_id)}/heartbeat", None, accept=(404,)
        )
        return response.status_code != 404

    # -- jobs ---------------------------------------------------------------------------------
    def claim(self, *, worker_id: str, labels: list[str], lease_ttl_secs: int) -> Claim | None:
        """The next job this worker may run, leased to it, or None when there is nothing to do."""
        body = {"worker_id": worker_id, "labels": labels, "lease_ttl_secs": lease_ttl_secs}
        answer = self._json(self._send("POST", "/api/jobs/claim", body))
        if answer is None:
            return None
        try:
            return Claim(QueuedJob.from_json(answer["job"]), Lease.from_json(answer["lease"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ServerUnavailable(f"unreadable claim {answer!r}: {error!r}") from None

    def claim_many(
        self, *, worker_id: str, labels: list[str], lease_ttl_secs: int, max_jobs: int
    ) -> list[Claim]:
        """Up to *max_jobs* jobs at once, each under its own lease (ours: ``max_jobs``; the
        Rust server knows only single claims)."""
        body = {
            "worker_id": worker_id,
            "labels": labels,
            "lease_ttl_secs": lease_ttl_secs,
            "max_jobs": max_jobs,
        }
        answer = self._json(self._send("POST", "/api/jobs/claim", body))
        try:
            return [
                Claim(QueuedJob.from_json(item["job"]), Lease.from_json(item["lease"]))
                for item in answer["jobs"]
            ]
        except (KeyError, TypeError, ValueError) as error:
            raise ServerUnavailable(f"unreadable claims {answer!r}: {error!r}") from None

    def heartbeat_lease(self, lease_id: str) -> None:
        self._send_on_lease(lease_id, "heartbeat", None)

    def complete(self, lease_id: str, *, outputs: dict[str, str]) -> None:
        self._send_on_lease(lease_id, "complete", {"outputs": outputs})

    def complete_many(
        self, completions: Sequence[tuple[str, dict[str, str]]]
    ) -> list[LeaseGone | None]:
        """Complete many leases in one call (ours); per lease, in order: None, or why it was
        refused (the others completed)."""
        body = {"completions": [{"lease_id": lease, "outputs": out} for lease, out in completions]}
        answer = self._json(self._send("POST", "/api/jobs/complete", body))
        try:
            results = answer["results"]
            if [result["lease_id"] for result in results] != [lease for lease, _ in completions]:
                raise ValueError("not one result per lease, in order")
            return [
                None if result["status"] == 200 else LeaseGone(result.get("detail", "lease gone"))
                for result in results
            ]
        except (KeyError, TypeError, ValueError) as error:
            raise ServerUnavailable(f"unreadable completions {answer!r}: {error!r}") from None

    def fail(self, lease_id: str, *, error: str, retryable: bool) -> None:
        self._send_on_lease(lease_id, "fail", {"error": error, "retryable": retryable})

    def push_logs(self, lease_id: str, chunks: list[dict[str, Any]]) -> None:
        self._send_on_lease(lease_id, "logs", {"chunks": chunks})

    def is_cancelled(self, *, workflow_id: str, job_id: str) -> bool:
        path = f"/api/jobs/{_segment(workflow_id)}/{_segment(job_id)}/cancelled"
        return self._json(self._send("GET", path, None)) is True

    # -- plumbing -----------------------------------------------------------------------------
    def _send_on_lease(self, lease_id: str, action: str, body: Any) -> None:
        response = self._send(
            "POST", f"/api/jobs/{_segment(lease_id)}/{action}", body, accept=(409,)
        )
        if response.status_code == 409:
            raise LeaseGone(f"{action} on lease {lease_id}: 409 {response.text[:200]}")

    def _send(
        self, method: str, path: str, body: Any, *, accept: tuple[int, ...] = ()
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise ServerUnavailable(f"{method} {path}: {error!r}") from None
        if response.is_success or response.status_code in accept:
            return response
        raise ServerUnavailable(f"{method} {path}: {response.status_code} {response.text[:200]!r}")

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ServerUnavailable(
                f"{response.request.method} {response.request.url.path}: not JSON "
                f"{response.text[:200]!r}"
            ) from None


def _segment(value: str) -> str:
    """One path segment: an id with a ``/`` or a space in it still names one resource."""
    return quote(value, safe="")
