-- append_events --
-- Append a batch of events to one stream and queue each for publication, in one statement
-- (one round trip): events_append_v1 (events_append_v1.sql). Versions follow the caller's
-- expected version; a concurrent writer is a unique violation, which events.store translates
-- into ConcurrencyError.
SELECT events_append_v1(
    %(stream_type)s, %(stream_id)s, %(first_version)s, %(types)s::text[], %(payloads)s::jsonb[],
    %(metadata)s::jsonb, %(subject)s, %(created_at)s
)

-- load_stream --
-- A stream's events in stream order. Never order by id alone: ids are handed out at insert,
-- not at commit, so across concurrent transactions they are not commit-ordered.
SELECT id, stream_type, stream_id, version, type, payload, metadata, created_at
FROM events_event
WHERE stream_id = %(stream_id)s
  AND version > %(after_version)s
ORDER BY version

-- last_event --
-- The latest event of one stream of a type whose payload contains the given JSON (backwards
-- over the (stream_id, version) index; a stream's events are few hundred at most).
SELECT id, stream_type, stream_id, version, type, payload, metadata, created_at
FROM events_event
WHERE stream_id = %(stream_id)s
  AND type = %(type)s
  AND payload @> %(contains)s::jsonb
ORDER BY version DESC
LIMIT 1

-- stream_ids --
-- Every stream of a type, in order of its first event (creation order), for rebuilds.
SELECT stream_id
FROM events_event
WHERE stream_type = %(stream_type)s
  AND version = 1
ORDER BY id

-- stream_version --
-- The current version of one stream (0 when it has no events), from the unique index.
SELECT coalesce(max(version), 0)
FROM events_event
WHERE stream_id = %(stream_id)s

-- claim_outbox --
-- Lock up to %(limit)s unpublished outbox rows for one relay and return what it publishes, in
-- ONE statement. FOR UPDATE SKIP LOCKED: several relays drain the outbox in parallel, each
-- taking rows no other relay holds. The locks last until the relay's transaction marks the rows
-- (mark_outbox); a relay that dies before its commit releases them and another publishes them
-- again (JetStream drops the duplicate by Nats-Msg-Id). The body is the event as JSON, built
-- here so that payload and metadata go out as stored, without a decode/encode round trip.
WITH claimed AS MATERIALIZED (
    -- MATERIALIZED: pick and lock the narrow outbox rows first, so the JSON below is built for
    -- the batch only, whatever plan the statistics of this high-churn table suggest (without
    -- them PostgreSQL built every pending row's JSON, then sorted, then applied the LIMIT)
    SELECT o.id, o.event_id, o.subject
    FROM events_outbox o
    -- walks the partial index events_outbox_pending_idx in id order
    WHERE o.published_at IS NULL
      -- the main pass takes rows that failed fewer than N times; a slower pass takes the others
      -- (a message NATS refuses, say), so that they can never fill every batch
      AND o.attempts >= %(min_attempts)s
      AND o.attempts < %(max_attempts)s
    ORDER BY o.id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
SELECT c.id,
       c.subject,
       e.id,
       json_build_object(
           'id', e.id,
           'stream_type', e.stream_type,
           'stream_id', e.stream_id,
           'version', e.version,
           'type', e.type,
           'payload', e.payload,
           'metadata', e.metadata,
           -- ISO 8601 in UTC with microseconds, whatever the session's TimeZone
           'created_at', to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
       )::text
FROM claimed c
JOIN events_event e ON e.id = c.event_id
ORDER BY c.id

-- mark_outbox --
-- Record the outcome of one publication attempt per claimed row, in the transaction that holds
-- their locks: error NULL means JetStream acknowledged the message. A failed row keeps
-- published_at NULL (it will be retried); last_error is kept after a later success, as history.
UPDATE events_outbox o
SET attempts = o.attempts + 1,
    published_at = CASE WHEN r.error IS NULL THEN clock_timestamp() END,
    last_error = coalesce(r.error, o.last_error)
FROM unnest(%(ids)s::bigint[], %(errors)s::text[]) AS r(id, error)
WHERE o.id = r.id

-- prune_outbox --
-- Delete up to %(limit)s outbox rows delivered more than %(retention_seconds)s ago (the events
-- themselves are never deleted). Bounded, so one call never holds many locks; the relay calls
-- it again while it deletes a full batch. SKIP LOCKED: relays pruning at the same time do not
-- wait on each other.
DELETE FROM events_outbox
WHERE id IN (
    SELECT id
    FROM events_outbox
    -- walks events_outbox_published_idx; NULL (pending) never matches
    WHERE published_at < clock_timestamp() - make_interval(secs => %(retention_seconds)s)
    ORDER BY published_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)

-- outbox_backlog --
-- What the relays still have to publish, for the metrics: the number of unpublished rows, the
-- age in seconds of the oldest one (0 when there is none), and how many of them are struggling
-- (failed at least %(struggling_after)s times). One pass over the pending rows only.
SELECT count(*),
       coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)::float8,
       count(*) FILTER (WHERE attempts >= %(struggling_after)s)
FROM events_outbox
WHERE published_at IS NULL
