-- take --
-- Up to %(want)s tokens from the bucket %(key)s (accounts.ratelimit.take, in ONE statement):
-- refill it for the time since its last update, at %(rate)s tokens a second, plus the
-- %(refund)s tokens of an unspent lease, up to %(burst)s; and grant as many whole tokens as it
-- holds, at most %(want)s (0: refused). A new bucket starts
-- full. Concurrent requests on one bucket queue on its row (ON CONFLICT locks it), so no token
-- is granted twice. The clock is the database's (the same for every server process) unless
-- %(now)s (epoch seconds) is given. full_at: when the bucket is full again (its row may go).
INSERT INTO accounts_ratelimit_bucket AS b (key, tokens, granted, updated_at, full_at)
SELECT %(key)s, %(burst)s::float8 - fresh.granted, fresh.granted, now.t,
       now.t + fresh.granted / %(rate)s::float8
FROM (SELECT COALESCE(%(now)s::float8, extract(epoch FROM clock_timestamp())::float8) AS t) AS now,
     (SELECT LEAST(%(want)s::integer, %(burst)s::integer) AS granted) AS fresh
ON CONFLICT (key) DO UPDATE SET (tokens, granted, updated_at, full_at) = (
    SELECT GREATEST(0, refill.level - take.n), take.n, excluded.updated_at,
           excluded.updated_at
               + (%(burst)s::float8 - GREATEST(0, refill.level - take.n)) / %(rate)s::float8
    FROM (SELECT LEAST(%(burst)s::float8, b.tokens
                       + GREATEST(0, excluded.updated_at - b.updated_at) * %(rate)s::float8
                       + %(refund)s::integer)
                 AS level) AS refill,
         LATERAL (SELECT LEAST(%(want)s::integer, floor(refill.level + 1e-9)::integer) AS n)
             AS take
)
RETURNING granted, tokens

-- prune --
-- Delete the buckets that are full again: a missing bucket is a full one.
DELETE FROM accounts_ratelimit_bucket
WHERE full_at < extract(epoch FROM clock_timestamp())::float8
