"""How a relay runs (:class:`RelayConfig`, from Django settings or given) and what it did
(:class:`RelayStats`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class RelayConfig:
    """How a relay runs. :meth:`from_settings` fills what is not given from Django settings.

    Raises:
        ValueError: a value is out of range; the message names the field.
    """

    nats_url: str
    batch_size: int = 500
    #: Delivered rows older than this are deleted (seconds).
    retention_seconds: float = 3600.0
    #: Failures after which a row moves from the main pass to the slow pass.
    slow_retry_after: int = 5
    #: JetStream de-duplication window of the stream we create (seconds, >= 120).
    duplicate_window_seconds: float = 120.0
    #: ``max_age`` of the stream we create (seconds; 0: unlimited).
    stream_max_age_seconds: float = 86400.0
    #: Safety poll: how long the relay sleeps without a NOTIFY before looking anyway.
    poll_seconds: float = 1.0
    #: How long a batch waits for its JetStream acknowledgements.
    publish_timeout_seconds: float = 5.0
    connect_timeout_seconds: float = 2.0
    backoff_initial_seconds: float = 0.1
    backoff_max_seconds: float = 10.0
    slow_pass_every_seconds: float = 30.0
    prune_every_seconds: float = 60.0
    #: Rows deleted per pruning statement.
    prune_limit: int = 5000

    def __post_init__(self) -> None:
        if not self.nats_url:
            raise ValueError("nats_url is empty: pass the NATS server URL (settings.NATS_URL)")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {self.batch_size}")
        if self.slow_retry_after < 1:
            raise ValueError(f"slow_retry_after must be at least 1, not {self.slow_retry_after}")
        if self.duplicate_window_seconds < 120:
            raise ValueError(
                "duplicate_window_seconds must be at least 120 (docs/streaming.md), "
                f"not {self.duplicate_window_seconds}"
            )
        if self.retention_seconds < 0:
            raise ValueError(f"retention_seconds must be >= 0, not {self.retention_seconds}")
        for name in (
            "poll_seconds",
            "publish_timeout_seconds",
            "connect_timeout_seconds",
            "backoff_initial_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise ValueError("backoff_max_seconds must be >= backoff_initial_seconds")

    @classmethod
    def from_settings(cls, **overrides: Any) -> RelayConfig:
        """The configuration from Django settings; *overrides* that are not None win."""
        values: dict[str, Any] = {
            "nats_url": settings.NATS_URL,
            "batch_size": settings.DURAGRAPH_RELAY_BATCH_SIZE,
            "retention_seconds": settings.DURAGRAPH_OUTBOX_RETENTION_SECONDS,
            "slow_retry_after": settings.DURAGRAPH_OUTBOX_SLOW_RETRY_AFTER,
            "duplicate_window_seconds": settings.DURAGRAPH_NATS_DUPLICATE_WINDOW_SECONDS,
            "stream_max_age_seconds": settings.DURAGRAPH_NATS_STREAM_MAX_AGE_SECONDS,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class RelayStats:
    """What one relay did (returned by :func:`run`; the metrics count the same things)."""

    published: int = 0
    #: Publication attempts that failed (a row failing twice counts twice).
    failed: int = 0
    #: Batches claimed (non-empty ones).
    batches: int = 0
    pruned: int = 0
    #: Times the relay backed off because NATS was unavailable.
    backoffs: int = 0
    #: Published rows JetStream acknowledged as duplicates (already stored under that event id).
    duplicates: int = 0
