-- claim_jobs --
-- Lease up to %(limit)s of the oldest claimable jobs for a worker with %(labels)s to
-- %(worker_id)s, in ONE statement: pick them (queued, their backoff over, every label they
-- require among the worker's, shell jobs: agent jobs run on the server) with FOR UPDATE SKIP
-- LOCKED, so concurrent claimers take different jobs and none waits; mark each running under a
-- new lease of its own; append each one's JobClaimed event (events_append_v1). The rows and
-- payloads are what workflows.domain.claim and apply_job produce; the replay tests rebuild
-- claimed jobs to prove it. Returns the jobs' rows, oldest first, or none.
WITH candidate AS (
    SELECT id
    FROM workflows_jobrun
    WHERE status = 'queued'
      AND not_before <= %(now)s
      -- the worker's labels as a JSON array: no quoting of theirs can break the statement
      AND labels <@ ARRAY(SELECT jsonb_array_elements_text(%(labels)s::jsonb))
      AND agent IS NULL
    ORDER BY queued_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE workflows_jobrun j
    SET status = 'running',
        lease_id = gen_random_uuid(),
        lease_epoch = j.lease_epoch + 1,
        worker_id = %(worker_id)s,
        ttl_seconds = %(ttl_seconds)s,
        lease_expires_at = %(now)s + make_interval(secs => %(ttl_seconds)s),
        started_at = %(now)s,
        error = NULL,
        version = j.version + 1,
        updated_at = %(now)s
    FROM candidate c
    WHERE j.id = c.id
    RETURNING j.*
), appended AS (
    SELECT c.id, events_append_v1(
        %(stream_type)s, c.id, c.version::integer, ARRAY['JobClaimed'],
        ARRAY[jsonb_build_object(
            'lease_id', c.lease_id,
            'lease_epoch', c.lease_epoch,
            'worker_id', c.worker_id,
            'ttl_seconds', c.ttl_seconds,
            'lease_expires_at', c.lease_expires_at
        )],
        %(metadata)s::jsonb,
        -- the job's subject, from workflows.projection.JOB_SUBJECT
        replace(replace(replace(%(subject)s, '{workflow_id}', c.workflow_id),
                        '{run_id}', c.run_id::text), '{job_id}', c.job_id),
        %(now)s
    ) AS event_ids
    FROM claimed c
)
SELECT c.* FROM claimed c JOIN appended a ON a.id = c.id ORDER BY c.queued_at, c.id

-- complete_jobs --
-- End the attempts under leases %(lease_ids)s with success and %(outputs)s (one each), in ONE
-- statement: lock their runs first, in run_id order (the lock order of workflows.services:
-- runs, then jobs; sorted, so two batches never wait on each other in a circle), then the
-- fence (each job's current lease, running, not expired) sets each job's outcome and appends
-- its JobSucceeded event (events_append_v1), as workflows.domain.succeed and apply_job would.
-- A lease that is not current gets no row and nothing is written for it (the service says
-- why). Returns, per completed lease, the lease id and its run's row (not changed here); the
-- service then lets the scheduler decide each run in the same transaction.
WITH given AS (
    SELECT * FROM unnest(%(lease_ids)s::uuid[], %(outputs)s::jsonb[]) AS g(lease_id, outputs)
), run_lock AS (
    SELECT r.*
    FROM workflows_workflowrun r
    WHERE r.run_id IN (
        SELECT j.run_id FROM workflows_jobrun j JOIN given g ON g.lease_id = j.lease_id
    )
    ORDER BY r.run_id
    FOR UPDATE
), succeeded AS (
    UPDATE workflows_jobrun j
    SET status = 'success',
        outputs = g.outputs,
        finished_at = %(now)s,
        lease_expires_at = NULL,
        version = j.version + 1,
        updated_at = %(now)s
    FROM given g
    -- an uncorrelated subquery runs once, first, and reads every run: all are locked before
    -- any job (EXISTS would stop at the first)
    WHERE (SELECT count(*) FROM run_lock) > 0
      AND j.lease_id = g.lease_id
      AND j.status = 'running'
      AND (j.lease_expires_at IS NULL OR j.lease_expires_at > %(now)s)
    RETURNING j.id, j.run_id, j.workflow_id, j.job_id, j.version, j.lease_epoch, j.lease_id,
              g.outputs
), appended AS (
    SELECT s.id, events_append_v1(
        %(stream_type)s, s.id, s.version::integer, ARRAY['JobSucceeded'],
        ARRAY[jsonb_build_object('lease_epoch', s.lease_epoch, 'outputs', s.outputs)],
        %(metadata)s::jsonb,
        replace(replace(replace(%(subject)s, '{workflow_id}', s.workflow_id),
                        '{run_id}', s.run_id::text), '{job_id}', s.job_id),
        %(now)s
    ) AS event_ids
    FROM succeeded s
)
SELECT s.lease_id AS completed_lease_id, r.*
FROM run_lock r JOIN succeeded s ON s.run_id = r.run_id JOIN appended a ON a.id = s.id

-- settle_jobs --
-- A run's jobs as its scheduler sees them (workflows.services._settle): each one's status and
-- row id, what only a waiting job needs decided (its needs and its if), and whether it is an
-- agent job. Outputs stay here: enqueue_jobs hands them downstream.
SELECT job_id,
       status,
       id,
       CASE WHEN status = 'waiting' THEN needs END,
       CASE WHEN status = 'waiting' THEN condition END,
       agent IS NOT NULL
FROM workflows_jobrun
WHERE run_id = %(run_id)s

-- enqueue_jobs --
-- Enqueue the waiting jobs %(ids)s, whose needs are met, in ONE statement: each is queued for
-- its next attempt (the first, unless it ran before a requeue reset it), claimable now, with
-- the outputs of its direct needs ({job_id: outputs}) and its reason (%(reasons)s), and gets
-- its JobQueued event (events_append_v1), as workflows.domain.enqueue and apply_job would.
-- The caller holds the run's lock. Returns how many were enqueued.
WITH given AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(reasons)s::text[]) AS g(id, reason)
), queued AS (
    UPDATE workflows_jobrun j
    SET status = 'queued',
        attempt = j.attempt + 1,
        not_before = %(now)s,
        queued_at = %(now)s,
        upstream_outputs = (
            SELECT coalesce(jsonb_object_agg(n.job_id, n.outputs), '{}'::jsonb)
            FROM workflows_jobrun n
            WHERE n.run_id = j.run_id
              AND n.job_id IN (SELECT jsonb_array_elements_text(j.needs))
        ),
        lease_id = NULL,
        worker_id = NULL,
        ttl_seconds = NULL,
        lease_expires_at = NULL,
        started_at = NULL,
        version = j.version + 1,
        updated_at = %(now)s
    FROM given g
    WHERE j.id = g.id AND j.status = 'waiting'
    RETURNING j.id, j.run_id, j.workflow_id, j.job_id, j.version, j.attempt, j.upstream_outputs,
              g.reason
), appended AS (
    SELECT q.id, events_append_v1(
        %(stream_type)s, q.id, q.version::integer, ARRAY['JobQueued'],
        ARRAY[jsonb_build_object(
            'attempt', q.attempt,
            'not_before', %(now)s::timestamptz,
            'upstream_outputs', q.upstream_outputs,
            'reason', q.reason
        )],
        %(metadata)s::jsonb,
        replace(replace(replace(%(subject)s, '{workflow_id}', q.workflow_id),
                        '{run_id}', q.run_id::text), '{job_id}', q.job_id),
        %(now)s
    ) AS event_ids
    FROM queued q
)
SELECT count(*) FROM appended

-- overdue_jobs --
-- Running jobs whose lease expired or whose time ran out, for the reaper (at most %(limit)s,
-- the longest overdue first). Not locked here: each is handled under its run's lock.
SELECT id, run_id
FROM workflows_jobrun
WHERE status = 'running'
  AND (lease_expires_at <= %(now)s
       OR (timeout_seconds IS NOT NULL
           AND started_at + make_interval(secs => timeout_seconds) <= %(now)s))
ORDER BY lease_expires_at
LIMIT %(limit)s;

-- due_agent_jobs --
-- Agent jobs queued for a retry whose backoff is over: the reaper starts their runs (a shell
-- job waits for a worker's claim instead).
SELECT id, run_id
FROM workflows_jobrun
WHERE status = 'queued'
  AND agent IS NOT NULL
  AND not_before <= %(now)s
ORDER BY queued_at
LIMIT %(limit)s;
