-- claim_job --
-- The oldest claimable job for a worker with %(labels)s: queued, its backoff over, every label
-- it requires among the worker's (an empty list requires none), a shell job (agent jobs run on
-- the server). SKIP LOCKED: concurrent claimers take different jobs, none waits. The row stays
-- locked: the service records the claim in the same transaction.
SELECT id
FROM workflows_jobrun
WHERE status = 'queued'
  AND not_before <= %(now)s
  -- the worker's labels as a JSON array: no quoting of theirs can break the statement
  AND labels <@ ARRAY(SELECT jsonb_array_elements_text(%(labels)s::jsonb))
  AND agent IS NULL
ORDER BY queued_at, id
LIMIT 1
FOR UPDATE SKIP LOCKED;

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
