"""A DAG job's log, live: the job run's ``JobLogged`` events as workflow-graph's SSE ``log``
events, replayed from PostgreSQL and then followed through NATS with the same machinery as
run streams (``runs.streams.follow``: subscribe first, catch up, de-duplicate by version), and
an ``end`` event once the job is over, which workflow-graph never sends.

Frame ids are ``<version>.<chunk>``: ``Last-Event-ID`` resumes after the last line a client had.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from duragraph_site.errors import NotFound
from events import store
from events.domain import StoredEvent
from runs.frames import Cursor, Frame, parse_last_event_id
from runs.streams import Scope, follow
from workflows import projection, selectors

#: The events that end a job (its log with it).
JOB_ENDS = {
    "JobSucceeded": "success",
    "JobFailed": "failure",
    "JobSkipped": "skipped",
    "JobCancelled": "cancelled",
}
#: The events after which an ended job runs again (an operator's requeue).
JOB_AGAIN = {"JobQueued", "JobReset"}


class JobLogScope(Scope):
    def __init__(
        self,
        *,
        job_run_id: uuid.UUID,
        workflow_id: str,
        run_id: uuid.UUID,
        job_id: str,
        after: Cursor,
    ) -> None:
        self.job_run_id = job_run_id
        self.workflow_id = workflow_id
        self.job_id = job_id
        self.subject = projection.JOB_SUBJECT.format(
            workflow_id=workflow_id, run_id=run_id, job_id=job_id
        )
        self.after = after
        self.version = 0
        #: Ends the log already shows were not the last: the job was requeued after them.
        self.superseded: set[int] = set()

    def load(self) -> list[StoredEvent]:
        events = store.load(self.job_run_id, after_version=self.version)
        again = max((e.version for e in events if e.type in JOB_AGAIN), default=0)
        self.superseded.update(
            e.version for e in events if e.type in JOB_ENDS and e.version < again
        )
        return events

    def offer(self, event: StoredEvent) -> list[Frame] | None:
        if event.stream_id != self.job_run_id or event.version <= self.version or self.done:
            return []
        if event.version != self.version + 1:
            return None
        self.version = event.version
        self.taken += 1
        if event.type == "JobLogged":
            chunks: list[dict[str, Any]] = event.payload["chunks"]
            return [
                Frame(
                    "log",
                    selectors.log_chunk(
                        self.workflow_id, self.job_id, event.payload["attempt"], chunk
                    ),
                    f"{event.version}.{index}",
                )
                for index, chunk in enumerate(chunks)
                if not self.after.covers(event.version, index)
            ]
        if (status := JOB_ENDS.get(event.type)) and event.version not in self.superseded:
            self.done = True
            return [Frame("end", {"job_id": self.job_id, "status": status}, str(event.version))]
        return []


async def job_log_stream(
    *, job_run_id: uuid.UUID, workflow_id: str, run_id: uuid.UUID, job_id: str, after: Cursor | None
) -> AsyncIterator[Frame | None]:
    """The job run's log lines from the start (or after *after*), then live, then ``end``."""
    scope = JobLogScope(
        job_run_id=job_run_id,
        workflow_id=workflow_id,
        run_id=run_id,
        job_id=job_id,
        after=after or Cursor(0),
    )
    async for frame in follow(scope):
        yield frame


def latest_job_log(
    *, workflow_id: str, job_id: str, last_event_id: str | None
) -> AsyncIterator[Frame | None]:
    """The log of the job in the workflow's latest run, after *last_event_id* (NotFound: the
    job has not run)."""
    job = selectors.job_of_latest_run(workflow_id, job_id)
    if job is None:
        raise NotFound(f"Job {job_id} of workflow {workflow_id} has not run")
    return job_log_stream(
        job_run_id=job.id,
        workflow_id=workflow_id,
        run_id=job.run_id,
        job_id=job_id,
        after=parse_last_event_id(last_event_id),
    )
