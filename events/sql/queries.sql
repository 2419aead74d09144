-- append_events --
-- Append a batch of events to one stream and queue each for publication, in one statement
-- (one round trip). Versions are computed by the caller from its expected version; the unique
-- (stream_id, version) constraint turns a concurrent writer into a unique violation, which
-- events.store translates into ConcurrencyError. The outbox insert fires the NOTIFY trigger.
WITH new_events AS (
    INSERT INTO events_event (stream_type, stream_id, version, type, payload, metadata, created_at)
    SELECT %(stream_type)s, %(stream_id)s, batch.version, batch.type, batch.payload, %(metadata)s::jsonb, %(created_at)s
    FROM unnest(%(versions)s::int[], %(types)s::text[], %(payloads)s::jsonb[]) AS batch(version, type, payload)
    RETURNING id, version
), queued AS (
    INSERT INTO events_outbox (event_id, subject, attempts, last_error, created_at)
    SELECT id, %(subject)s, 0, '', %(created_at)s FROM new_events
)
SELECT id, version FROM new_events ORDER BY version

-- load_stream --
-- A stream's events in stream order. Never order by id alone: ids are handed out at insert,
-- not at commit, so across concurrent transactions they are not commit-ordered.
SELECT id, stream_type, stream_id, version, type, payload, metadata, created_at
FROM events_event
WHERE stream_id = %(stream_id)s
  AND version > %(after_version)s
ORDER BY version

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
