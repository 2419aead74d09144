-- claim_runs --
-- Lease up to %(limit)s pending runs to %(worker_id)s, in ONE statement: pick with
-- FOR UPDATE SKIP LOCKED (several executors may claim at once), bump each run's lease epoch
-- and attempt, and append its RunStarted event and outbox row. The RunStarted payload is what
-- runs.domain.start would produce; the projection tests rebuild claimed runs to prove it.
WITH candidates AS (
    SELECT r.run_id
    FROM runs_run r
    WHERE r.status = 'pending'
      -- not before after_seconds / retry backoff
      AND r.available_at <= %(now)s
      -- one active run per thread: none of its runs may be running
      AND NOT EXISTS (
          SELECT 1 FROM runs_run o WHERE o.thread_id = r.thread_id AND o.status = 'running'
      )
      -- FIFO per thread: only the oldest pending run of a thread is a candidate
      AND NOT EXISTS (
          SELECT 1 FROM runs_run o
          WHERE o.thread_id = r.thread_id AND o.status = 'pending'
            AND (o.created_at, o.run_id) < (r.created_at, r.run_id)
      )
      -- only runs of graphs this worker serves (NULL: all of them)
      AND (%(graph_ids)s::text[] IS NULL OR EXISTS (
          SELECT 1 FROM assistants_assistant a
          WHERE a.assistant_id = r.assistant_id AND a.graph_id = ANY(%(graph_ids)s::text[])
      ))
    ORDER BY r.available_at, r.created_at
    LIMIT %(limit)s
    FOR UPDATE OF r SKIP LOCKED
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
), new_events AS (
    INSERT INTO events_event (stream_type, stream_id, version, type, payload, metadata, created_at)
    SELECT 'run', c.run_id, c.version, 'RunStarted',
           jsonb_build_object(
               'worker_id', %(worker_id)s::text,
               'lease_epoch', c.lease_epoch,
               'lease_expires_at', c.lease_expires_at,
               'attempt', c.attempt
           ),
           %(metadata)s::jsonb || jsonb_build_object('worker_id', %(worker_id)s::text, 'lease_epoch', c.lease_epoch),
           %(now)s
    FROM claimed c
    RETURNING id, stream_id
), queued AS (
    INSERT INTO events_outbox (event_id, subject, attempts, last_error, created_at)
    SELECT e.id, 'duragraph.threads.' || c.thread_id || '.runs.' || c.run_id, 0, '', %(now)s
    FROM new_events e JOIN claimed c ON c.run_id = e.stream_id
)
SELECT run_id, lease_epoch FROM claimed

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
), new_events AS (
    INSERT INTO events_event (stream_type, stream_id, version, type, payload, metadata, created_at)
    SELECT 'run', %(run_id)s, f.version - %(count)s + batch.ordinal, batch.type, batch.payload,
           %(metadata)s::jsonb, %(now)s
    FROM fenced f,
         unnest(%(types)s::text[], %(payloads)s::jsonb[]) WITH ORDINALITY AS batch(type, payload, ordinal)
    RETURNING id
), queued AS (
    INSERT INTO events_outbox (event_id, subject, attempts, last_error, created_at)
    SELECT id, %(subject)s, 0, '', %(now)s FROM new_events
)
SELECT version FROM fenced

-- save_checkpoint --
-- A LangGraph checkpoint from a run's lease holder, in ONE statement: the fence, the thread
-- stream's next version, the CheckpointSaved event and its outbox row, and the checkpoint row
-- with the thread's new values. Exactly what threads.services.thread_record_checkpoint does
-- through the ORM (projection tests rebuild executed runs to prove it), without its round trips.
WITH thread_lock AS (
    -- the project's lock order, thread then run (runs/services.py), or this statement and a
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
), new_event AS (
    INSERT INTO events_event (stream_type, stream_id, version, type, payload, metadata, created_at)
    SELECT 'thread', %(thread_id)s, b.version, 'CheckpointSaved', %(payload)s::jsonb, %(metadata)s::jsonb, %(now)s
    FROM bumped b
    RETURNING id
), queued AS (
    INSERT INTO events_outbox (event_id, subject, attempts, last_error, created_at)
    SELECT id, %(subject)s, 0, '', %(now)s FROM new_event
), saved AS (
    INSERT INTO threads_checkpoint
        (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, type, checkpoint, metadata, "values", created_at)
    SELECT %(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(parent_checkpoint_id)s, %(run_id)s,
           %(type)s, %(blob)s, %(checkpoint_metadata)s::jsonb, %(values)s::jsonb, %(now)s
    FROM bumped
)
SELECT version FROM bumped

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
), new_event AS (
    INSERT INTO events_event (stream_type, stream_id, version, type, payload, metadata, created_at)
    SELECT 'thread', %(thread_id)s, b.version, 'CheckpointWritesSaved', %(payload)s::jsonb, %(metadata)s::jsonb, %(now)s
    FROM bumped b
    RETURNING id
), queued AS (
    INSERT INTO events_outbox (event_id, subject, attempts, last_error, created_at)
    SELECT id, %(subject)s, 0, '', %(now)s FROM new_event
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
SELECT version FROM bumped

-- runs_by_status --
-- /metrics (runs.metrics.RunsCollector): runs by status.
SELECT status, count(*) FROM runs_run GROUP BY status

-- run_queue --
-- /metrics: pending runs claimable now, and how long the oldest of them has waited.
SELECT count(*), extract(epoch FROM clock_timestamp() - min(available_at))::float8
FROM runs_run
WHERE status = 'pending' AND available_at <= clock_timestamp()
