"""The reaper: runs whose worker is gone go back to the queue (``manage.py scheduler`` runs it).

Two ways a run's worker is gone, two owners: ``workers`` knows which workers fell silent
(declared lost after ``DURAGRAPH_WORKER_LOST_AFTER_HEARTBEATS`` missed heartbeats, long before
a lease lapses) or went offline, and hands their runs back through ``runs``; ``runs`` knows which
leases expired. Either way the run is retried with backoff while attempts remain, else fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from runs import selectors as run_selectors
from runs import services as run_services
from workers import services
from workers.models import Worker, WorkerStatus

if TYPE_CHECKING:
    from datetime import datetime

    from runs.models import Run

#: Workers that will not finish their runs, and the reason recorded in the runs' retry.
GONE = {WorkerStatus.LOST: "was lost (no heartbeat)", WorkerStatus.OFFLINE: "went offline"}


def workers_reap(*, now: datetime | None = None) -> list[Run]:
    """Declare silent workers lost; hand back the runs of gone workers, then the runs whose
    lease expired. Returns the runs handed back (pending again, or failed past the budget).
    Safe to run concurrently: locked rows are left to the next round."""
    now = now or timezone.now()
    services.workers_mark_lost(now=now)
    gone = Worker.objects.filter(status__in=list(GONE))
    reaped: list[Run] = []
    for worker_id, status in gone.filter(
        worker_id__in=run_selectors.runs_holders(gone.values("worker_id"))
    ).values_list("worker_id", "status"):
        reaped += run_services.runs_hand_back_from_worker(
            worker_id=worker_id, why=GONE[status], now=now, skip_locked=True
        )
    return reaped + run_services.runs_reap_expired_leases(now=now)
