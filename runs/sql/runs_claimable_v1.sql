-- runs_claimable_v1 --
-- THE definition of a claimable run, used by the claim (runs/sql/queries.sql: claim_runs), the
-- executors' wake-up check and the scheduler's sweeper (claimable_exist): pending, on a thread
-- with no running run, and the oldest pending run of its thread (FIFO per thread). Claimable at
-- time t: the rows with available_at <= t (after_seconds, retry backoff), t being the caller's
-- clock, the same clock that set available_at (services pass `now` in). Which graphs a worker
-- serves is the caller's filter too. A plain view: the planner folds it into each query, and
-- FOR UPDATE on it locks only runs_run rows. Never changed once released: a new definition is a
-- new view (_v2).
CREATE OR REPLACE VIEW runs_claimable_v1 AS
SELECT r.*
FROM runs_run r
WHERE r.status = 'pending'
  AND NOT EXISTS (
      SELECT 1 FROM runs_run o WHERE o.thread_id = r.thread_id AND o.status = 'running'
  )
  AND NOT EXISTS (
      SELECT 1 FROM runs_run o
      WHERE o.thread_id = r.thread_id AND o.status = 'pending'
        AND (o.created_at, o.run_id) < (r.created_at, r.run_id)
  )
