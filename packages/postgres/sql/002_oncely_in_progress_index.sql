-- @oncely/postgres: in-progress claims by age, for listInProgress (migration 002).
-- Safe to run more than once. Building it locks out writes to the table while it scans it (about
-- half a second per million rows): on a big live table, run it as CREATE INDEX CONCURRENTLY instead.
CREATE INDEX IF NOT EXISTS "oncely_idempotency_created_at_idx" ON "oncely_idempotency" (created_at) WHERE state = 'in_progress';
