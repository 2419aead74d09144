-- run_lifecycle --
-- What a run stream needs before it starts: the RunCreated event (version 1: thread, stream
-- modes) and every start, retry and end, in stream order. Few rows even for a run with
-- thousands of chunks; the (stream_id, version) index finds the stream.
SELECT version, type, payload
FROM events_event
WHERE stream_type = 'run'
  AND stream_id = %(run_id)s
  AND (version = 1 OR type = ANY(%(types)s))
ORDER BY version

-- thread_exists --
-- The thread, if a caller scoped to %(tenant)s (NULL: every tenant) sees it.
SELECT 1 FROM threads_thread
WHERE thread_id = %(thread_id)s AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)

-- graph_of_assistant --
-- The graph an assistant runs (the protocol stream's lifecycle events name it).
SELECT graph_id FROM assistants_assistant WHERE assistant_id = %(assistant_id)s

-- thread_new_runs --
-- The runs of a thread a thread stream does not know yet, oldest first. runs_run.version is
-- the run stream's version, written in the same transaction as its events.
SELECT run_id, version, status
FROM runs_run
WHERE thread_id = %(thread_id)s
  AND NOT (run_id = ANY(%(known)s::uuid[]))
ORDER BY created_at, run_id

-- runs_created --
-- The RunCreated payload (stream modes) of each of these runs.
SELECT stream_id, payload
FROM events_event
WHERE stream_type = 'run'
  AND stream_id = ANY(%(run_ids)s::uuid[])
  AND version = 1

-- runs_reached --
-- For a thread stream resumed after global event id %(after_id)s: how far each run got by then.
-- Within one stream ids grow with versions (each append follows the previous commit).
SELECT stream_id, max(version)
FROM events_event
WHERE stream_type = 'run'
  AND stream_id = ANY(%(run_ids)s::uuid[])
  AND id <= %(after_id)s
GROUP BY stream_id

-- runs_events_after --
-- The events of several run streams, each after its own version, in global id order (runs on
-- one thread run one at a time, so this is their commit order).
SELECT e.id, e.stream_type, e.stream_id, e.version, e.type, e.payload, e.metadata, e.created_at
FROM events_event e
JOIN unnest(%(run_ids)s::uuid[], %(after)s::int[]) AS f(run_id, after_version)
  ON e.stream_id = f.run_id AND e.version > f.after_version
ORDER BY e.id
