"""Test helpers shipped with the event store (pure-Python ones first, database ones below)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from events.domain import Recorded, fold
from events.models import Outbox

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from events.domain import DomainEvent


def play(
    apply: Callable[[Any, Recorded[Any]], Any],
    state: Any,
    new_events: Sequence[DomainEvent],
    *,
    at: datetime,
    version_of: Callable[[Any], int] = lambda s: s.version,
) -> Any:
    """Fold *new_events* onto *state* as the store would record them (next versions, at *at*).

    Each payload is round-tripped through JSON first, so a value that would not survive storage
    fails here, where it was built.
    """
    version = version_of(state) if state is not None else 0
    records = []
    for offset, event in enumerate(new_events, start=1):
        round_tripped = type(event).model_validate(orjson.loads(orjson.dumps(event.to_payload())))
        records.append(Recorded(event=round_tripped, version=version + offset, at=at))
    return fold(apply, records, state)


@dataclass
class CapturedOutbox:
    rows: list[Any] = field(default_factory=list)


@contextlib.contextmanager
def capture_outbox(*, expected: int | None = None) -> Iterator[CapturedOutbox]:
    """Collect the outbox rows written inside the block; assert how many if *expected* is given."""
    before = Outbox.objects.order_by("-id").values_list("id", flat=True).first() or 0
    captured = CapturedOutbox()
    yield captured
    captured.rows = list(
        Outbox.objects.filter(id__gt=before).select_related("event").order_by("id")
    )
    if expected is not None:
        assert len(captured.rows) == expected, (
            f"expected {expected} outbox rows, got {len(captured.rows)}: {[r.event.type for r in captured.rows]}"
        )
