"""A run's trace: its attempts and the spans of its nodes, folded from its events. Pure Python.

What the run page's timeline shows (docs/dashboard.md): each attempt (its worker and lease
epoch, one per ``RunStarted``), and in it each node from ``NodeStarted`` to its
``NodeCompleted`` (done, failed or interrupted; still running when the attempt ended without
one: the worker died or lost its lease), with the tokens the node's messages reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.domain import StoredEvent

#: Events that end an attempt (the run may go on in another one: RunLeaseExpired, RunRetried).
ATTEMPT_ENDS = frozenset(
    {
        "RunCompleted",
        "RunFailed",
        "RunTimedOut",
        "RunInterrupted",
        "RunCancelled",
        "RunLeaseExpired",
    }
)


def node_path(node: str, namespace: Iterable[str]) -> str:
    """The node's id in the graph drawing: its parents' names (the ``parent:task`` entries of
    its namespace), then its own, joined by ``:`` (as LangGraph's xray drawing names them)."""
    return ":".join([part.split(":")[0] for part in namespace] + [node])


@dataclass
class Span:
    node: str
    task_id: str
    started_at: datetime
    #: The version of its NodeStarted event (the run page selects that event).
    version: int = 0
    ended_at: datetime | None = None
    #: ``running`` (no end recorded), ``done``, ``failed`` or ``interrupted``.
    state: str = "running"
    error: dict[str, Any] | None = None
    tokens: int = 0

    @property
    def seconds(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at).total_seconds()


@dataclass
class Attempt:
    number: int
    worker_id: str
    lease_epoch: int
    started_at: datetime
    ended_at: datetime | None = None
    #: The event that ended it (``RunCompleted``, ``RunLeaseExpired``...); None: still going.
    outcome: str | None = None
    spans: list[Span] = field(default_factory=list)


@dataclass
class Trace:
    created_at: datetime | None = None
    attempts: list[Attempt] = field(default_factory=list)
    #: When the last event was recorded (the timeline's right edge while the run goes on).
    last_at: datetime | None = None

    def node_states(self) -> dict[str, str]:
        """Each node's state in the latest attempt (what the graph drawing lights up)."""
        latest = self.attempts[-1].spans if self.attempts else []
        return {span.node: span.state for span in latest}

    @property
    def tokens(self) -> int:
        return sum(span.tokens for attempt in self.attempts for span in attempt.spans)

    def offsets(self, moment: datetime | None) -> float:
        """Seconds from the run's creation to *moment* (the last event's time when None)."""
        start = self.created_at or moment
        end = moment or self.last_at
        if start is None or end is None:
            return 0.0
        return (end - start).total_seconds()

    @property
    def seconds(self) -> float:
        return max(self.offsets(None), 0.001)

    def rows(self) -> list[dict[str, Any]]:
        """The timeline's bars: per attempt, per span, left and width in % of the run."""
        total = self.seconds
        rows = []
        for attempt in self.attempts:
            bars = []
            for span in attempt.spans:
                left = self.offsets(span.started_at) / total * 100
                end = self.offsets(span.ended_at or attempt.ended_at or self.last_at)
                width = max(end / total * 100 - left, 0.3)
                bars.append({"span": span, "left": round(left, 2), "width": round(width, 2)})
            rows.append({"attempt": attempt, "bars": bars})
        return rows


def _tokens(payload: dict[str, Any]) -> int:
    """Tokens a streamed ``messages`` chunk reports (LangChain's ``usage_metadata``)."""
    if payload.get("mode") not in ("messages", "messages-tuple"):
        return 0
    data = payload.get("data")
    message = data[0] if isinstance(data, list) and data else data
    usage = message.get("usage_metadata") if isinstance(message, dict) else None
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return total if isinstance(total, int) else 0


def trace(events: Iterable[StoredEvent]) -> Trace:
    """Fold a run's events (in version order) into its :class:`Trace`."""
    result = Trace()
    attempt: Attempt | None = None
    open_spans: dict[str, Span] = {}
    for event in events:
        payload = event.payload
        result.last_at = event.created_at
        if event.type == "RunCreated":
            result.created_at = event.created_at
        elif event.type == "RunStarted":
            attempt = Attempt(
                number=payload.get("attempt", len(result.attempts) + 1),
                worker_id=payload.get("worker_id", ""),
                lease_epoch=payload.get("lease_epoch", 0),
                started_at=event.created_at,
            )
            result.attempts.append(attempt)
            open_spans = {}
        elif attempt is None:
            continue
        elif event.type == "NodeStarted":
            span = Span(
                node=node_path(payload["node"], payload.get("namespace") or []),
                task_id=payload.get("task_id", ""),
                started_at=event.created_at,
                version=event.version,
            )
            attempt.spans.append(span)
            open_spans[span.task_id] = span
        elif event.type == "NodeCompleted":
            span = open_spans.pop(payload.get("task_id", ""), None)
            if span is not None:
                span.ended_at = event.created_at
                span.error = payload.get("error")
                span.state = (
                    "failed"
                    if span.error
                    else ("interrupted" if payload.get("interrupted") else "done")
                )
        elif event.type == "RunOutputStreamed":
            if (tokens := _tokens(payload)) and open_spans:
                # The node streaming now: the latest one started (the innermost when nested).
                list(open_spans.values())[-1].tokens += tokens
        elif event.type in ATTEMPT_ENDS:
            attempt.ended_at = event.created_at
            attempt.outcome = event.type
    return result
