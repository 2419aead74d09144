-- claim_runs --
-- Lease up to %(limit)s pending runs to %(worker_id)s, in ONE statement: pick with
-- FOR UPDATE SKIP LOCKED (several executors may claim at once), bump each run's lease epoch
-- and attempt, and append its RunStarted event (events_append_v1). The RunStarted payload is what
-- runs.domain.start would produce; the projection tests rebuild claimed runs to prove it.
WITH candidates AS (
    SELECT c.run_id
    FROM runs_claimable_v1 c  -- runs/sql/runs_claimable_v1.sql
    -- claimable now: not before after_seconds / retry backoff
    WHERE c.available_at <= %(now)s
      -- only runs of graphs this worker serves (NULL: all of them)
      AND (%(graph_ids)s::text[] IS NULL OR EXISTS (
          SELECT 1 FROM assistants_assistant a
          WHERE a.assistant_id = c.assistant_id AND a.graph_id = ANY(%(graph_ids)s::text[])
      ))
    -- first come, first served: a retried run keeps its place in line (available_at only
    -- decides when it may run again, as LangGraph's and Temporal's retries do)
    ORDER BY c.created_at, c.run_id
    LIMIT %(limit)s
    -- locks the runs_run rows only; another claimer skips them
    FOR UPDATE OF c SKIP LOCKED
), claimed AS (
    UPDATE runs_run r
    SET status = 'running',
        lease_epoch = r.lease_epoch + 1,
        worker_id = %(worker_id)s,
        lease_expires_at = %(now)s + make_interval(secs => %(lease_seconds)s),
        attempt = r.attempt + 1,
        error = NULL,
        version = r.version + 1,
        updated_at = %(now)s
    FROM candidates c
    WHERE r.run_id = c.run_id
    RETURNING r.run_id, r.thread_id, r.version, r.lease_epoch, r.lease_expires_at, r.attempt
), started AS (
    -- each claimed run's RunStarted, written by events_append_v1 (the one writer of the log)
    SELECT c.run_id, c.lease_epoch, events_append_v1(
        'run', c.run_id, c.version::integer, ARRAY['RunStarted'],
        ARRAY[jsonb_build_object(
            'worker_id', %(worker_id)s::text,
            'lease_epoch', c.lease_epoch,
            'lease_expires_at', c.lease_expires_at,
            'attempt', c.attempt
        )],
        %(metadata)s::jsonb || jsonb_build_object('worker_id', %(worker_id)s::text, 'lease_epoch', c.lease_epoch),
        -- the run's subject, from runs.projection.SUBJECT
        replace(replace(%(subject)s, '{thread_id}', c.thread_id::text), '{run_id}', c.run_id::text),
        %(now)s
    ) AS event_ids
    FROM claimed c
)
SELECT run_id, lease_epoch FROM started

-- append_run_output --
-- Append the lease holder's output events (stream chunks, node starts/ends) to its run's
-- stream in ONE statement. The UPDATE is the fence: only the run at this lease epoch, still
-- running, matches; it also takes the row lock and reserves the next versions. No row back:
-- the lease is stale (cancelled, reaped, taken over) and nothing was written.
WITH fenced AS (
    UPDATE runs_run
    SET version = version + %(count)s, updated_at = %(now)s
    WHERE run_id = %(run_id)s
      AND status = 'running'
      AND lease_epoch = %(lease_epoch)s
    RETURNING version
)
-- the events, by events_append_v1 (the one writer of the log), only if the fence held
SELECT f.version
FROM fenced f, LATERAL events_append_v1(
    'run', %(run_id)s, (f.version - %(count)s + 1)::integer, %(types)s::text[], %(payloads)s::jsonb[],
    %(metadata)s::jsonb, %(subject)s, %(now)s
) AS appended

-- save_checkpoint --
-- A LangGraph checkpoint from a run's lease holder, in ONE statement: the fence, the thread
-- stream's next version, the CheckpointSaved event and its outbox row, and the checkpoint row
-- with the thread's new values. Exactly what threads.services.thread_record_checkpoint does
-- through the ORM (projection tests rebuild executed runs to prove it), without its round trips.
WITH thread_lock AS (
    -- the project's lock order, thread then run (runs.services), or this statement and a
    -- concurrent cancel (thread, then run FOR UPDATE) would deadlock
    SELECT 1 FROM threads_thread WHERE thread_id = %(thread_id)s FOR UPDATE
), fence AS (
    -- only the current lease holder of a running run may write; FOR SHARE waits for a
    -- concurrent cancel (which holds the run FOR UPDATE), so the two are serialized. The
    -- uncorrelated EXISTS is a one-time filter: the thread is locked before the run.
    SELECT 1 FROM runs_run
    WHERE EXISTS (SELECT 1 FROM thread_lock)
      AND run_id = %(run_id)s
      AND thread_id = %(thread_id)s
      AND status = 'running'
      AND lease_epoch = %(lease_epoch)s
    FOR SHARE
), bumped AS (
    UPDATE threads_thread t
    SET version = t.version + 1,
        updated_at = %(now)s,
        -- a root checkpoint's values become the thread's values (threads.domain.apply)
        "values" = CASE WHEN %(has_values)s THEN %(values)s::jsonb ELSE t."values" END,
        state_updated_at = CASE WHEN %(has_values)s THEN %(now)s ELSE t.state_updated_at END
    WHERE t.thread_id = %(thread_id)s
      AND EXISTS (SELECT 1 FROM fence)
    RETURNING t.version
), appended AS (
    -- the CheckpointSaved event, by events_append_v1 (the one writer of the log)
    SELECT b.version, events_append_v1(
        'thread', %(thread_id)s, b.version::integer, ARRAY['CheckpointSaved'], ARRAY[%(payload)s::jsonb],
        %(metadata)s::jsonb, %(subject)s, %(now)s
    ) AS event_ids
    FROM bumped b
), saved AS (
    INSERT INTO threads_checkpoint
        (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, type, checkpoint, metadata, "values", created_at)
    SELECT %(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(parent_checkpoint_id)s, %(run_id)s,
           %(type)s, %(blob)s, %(checkpoint_metadata)s::jsonb, %(values)s::jsonb, %(now)s
    FROM bumped
)
SELECT version FROM appended  -- referenced, so the event is written

-- save_writes --
-- A task's pending writes from a run's lease holder, in ONE statement (fence, thread version,
-- CheckpointWritesSaved event, outbox row, write rows). LangGraph's rule for the rows: writes to
-- special channels (negative idx: error, interrupt, ...) replace earlier ones of the task;
-- ordinary writes are kept from the first time (threads.projection._save_writes).
WITH thread_lock AS (  -- thread, then run: as save_checkpoint
    SELECT 1 FROM threads_thread WHERE thread_id = %(thread_id)s FOR UPDATE
), fence AS (
    SELECT 1 FROM runs_run
    WHERE EXISTS (SELECT 1 FROM thread_lock)
      AND run_id = %(run_id)s
      AND thread_id = %(thread_id)s
      AND status = 'running'
      AND lease_epoch = %(lease_epoch)s
    FOR SHARE
), bumped AS (
    UPDATE threads_thread t
    SET version = t.version + 1, updated_at = %(now)s
    WHERE t.thread_id = %(thread_id)s
      AND EXISTS (SELECT 1 FROM fence)
    RETURNING t.version
), appended AS (
    -- the CheckpointWritesSaved event, by events_append_v1 (the one writer of the log)
    SELECT b.version, events_append_v1(
        'thread', %(thread_id)s, b.version::integer, ARRAY['CheckpointWritesSaved'], ARRAY[%(payload)s::jsonb],
        %(metadata)s::jsonb, %(subject)s, %(now)s
    ) AS event_ids
    FROM bumped b
), saved AS (
    INSERT INTO threads_checkpointwrite
        (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, value)
    SELECT %(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(task_id)s, %(task_path)s,
           w.idx, w.channel, w.type, w.value
    FROM bumped, unnest(%(idxs)s::int[], %(channels)s::text[], %(types)s::text[], %(values)s::bytea[]) AS w(idx, channel, type, value)
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
    DO UPDATE SET task_path = EXCLUDED.task_path, channel = EXCLUDED.channel, type = EXCLUDED.type, value = EXCLUDED.value
    WHERE EXCLUDED.idx < 0
)
SELECT version FROM appended  -- referenced, so the event is written

-- claimable_exist --
-- Whether a run of the given graphs (NULL: any) can be claimed at %(now)s: the executors'
-- wake-up check and the scheduler's sweeper, with the claim's own definition (runs_claimable_v1).
SELECT EXISTS (
    SELECT 1 FROM runs_claimable_v1 c
    WHERE c.available_at <= %(now)s
      AND (%(graph_ids)s::text[] IS NULL OR EXISTS (
        SELECT 1 FROM assistants_assistant a
        WHERE a.assistant_id = c.assistant_id AND a.graph_id = ANY(%(graph_ids)s::text[])
    ))
)

-- runs_by_status --
-- /metrics (runs.metrics.RunsCollector): runs by status.
SELECT status, count(*) FROM runs_run GROUP BY status

-- run_queue --
-- /metrics: pending runs claimable now, and how long the oldest of them has waited.
SELECT count(*), extract(epoch FROM clock_timestamp() - min(available_at))::float8
FROM runs_run
WHERE status = 'pending' AND available_at <= clock_timestamp()

-- ended_per_bucket --
-- The runs that ended in the hour before %(now)s, per 5-minute bucket (0 = the oldest) and
-- outcome (failed: error or timeout), for the dashboard's overview. A run's updated_at is
-- when it ended once it is terminal; %(tenant)s NULL counts every tenant's.
SELECT LEAST(11, FLOOR(EXTRACT(EPOCH FROM (r.updated_at - (%(now)s - INTERVAL '1 hour'))) / 300))::int
           AS bucket,
       r.status IN ('error', 'timeout') AS failed,
       COUNT(*)
FROM runs_run r
WHERE r.updated_at >= %(now)s - INTERVAL '1 hour'
  AND r.status NOT IN ('pending', 'running')
  AND (%(tenant)s::text IS NULL OR r.tenant = %(tenant)s)
GROUP BY 1, 2;
