"""Run commands. Each is one transaction: run events + thread status + read models + outbox.

Lock order, everywhere: the thread row first, then run rows. Run creation must lock the thread
(multitask strategies look at its other runs), so every transition that may change the thread's
status locks the thread first too; otherwise the two would deadlock.

One module per topic, used as ``from runs import services`` then ``services.run_create(...)``:

- :mod:`~runs.services.creating`: ``run_create`` and the multitask strategies;
- :mod:`~runs.services.queue`: ``runs_claim`` (the queue), ``run_start``, ``Claim``;
- :mod:`~runs.services.lease_holder`: the fenced writes of the run's lease holder and its ending;
- :mod:`~runs.services.operations`: cancel, requeue, delete;
- :mod:`~runs.services.hand_back`: runs back to the queue when their worker is gone;
- :mod:`~runs.services.recording`: what every command shares (locking, recording, the thread).
"""

from __future__ import annotations

from runs.services.creating import refuse_what_remote_workers_ignore, run_create
from runs.services.hand_back import runs_hand_back_from_worker, runs_reap_expired_leases
from runs.services.lease_holder import (
    run_complete,
    run_fail,
    run_interrupt,
    run_record_output,
    run_renew_lease,
    run_save_checkpoint,
    run_save_writes,
    run_time_out,
)
from runs.services.operations import (
    run_cancel,
    run_delete,
    run_requeue,
    runs_cancel_many,
    runs_delete_for_thread,
)
from runs.services.queue import Claim, run_start, runs_claim

__all__ = [
    "refuse_what_remote_workers_ignore",
    "Claim",
    "run_cancel",
    "run_complete",
    "run_create",
    "run_delete",
    "run_fail",
    "run_interrupt",
    "run_record_output",
    "run_renew_lease",
    "run_requeue",
    "run_save_checkpoint",
    "run_save_writes",
    "run_start",
    "run_time_out",
    "runs_cancel_many",
    "runs_claim",
    "runs_delete_for_thread",
    "runs_hand_back_from_worker",
    "runs_reap_expired_leases",
]
