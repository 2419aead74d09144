-- events_append_v1 --
-- THE writer of the event log: append events to one stream at versions first_version, ... and
-- queue each for publication on subject, in one call (the outbox insert fires the relay's
-- NOTIFY). Every write of events goes through here: events.store.append, and the hot
-- single-statement writes of runs/sql/queries.sql, which call it in the statement that checks
-- their fence. The unique (stream_id, version) constraint turns a concurrent writer into a
-- unique violation (events.store: ConcurrencyError). Returns the new events' ids in version
-- order. Never changed once released: a new behaviour is a new function (_v2).
CREATE OR REPLACE FUNCTION events_append_v1(
    p_stream_type text,
    p_stream_id uuid,
    p_first_version integer,
    p_types text[],
    p_payloads jsonb[],
    p_metadata jsonb,
    p_subject text,
    p_created_at timestamptz
) RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    new_ids bigint[];
BEGIN
    WITH new_events AS (
        INSERT INTO events_event (stream_type, stream_id, version, type, payload, metadata, created_at)
        SELECT p_stream_type, p_stream_id, p_first_version + batch.ordinal::integer - 1,
               batch.type, batch.payload, p_metadata, p_created_at
        FROM unnest(p_types, p_payloads) WITH ORDINALITY AS batch(type, payload, ordinal)
        RETURNING id, version
    ), queued AS (
        INSERT INTO events_outbox (event_id, subject, attempts, last_error, created_at)
        SELECT id, p_subject, 0, '', p_created_at FROM new_events
    )
    SELECT coalesce(array_agg(id ORDER BY version), '{}') INTO new_ids FROM new_events;
    RETURN new_ids;
END
$$
