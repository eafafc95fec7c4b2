-- @oncely/postgres: the idempotency record table (migration 001).
-- Safe to run more than once. To use another table name, replace every "oncely_idempotency" below
-- (the index is named after the table); to use a schema, qualify the table: "my_schema"."oncely_idempotency".
CREATE TABLE IF NOT EXISTS "oncely_idempotency" (
  id               text    COLLATE "C" NOT NULL,
  key              text    NOT NULL,
  scope            text    NOT NULL,
  state            text    NOT NULL,
  token            text    NOT NULL,
  fingerprint      text    NOT NULL,
  lease_until      bigint,
  expires_at       bigint  NOT NULL,
  created_at       bigint  NOT NULL,
  completed_at     bigint,
  response_status  integer,
  response_headers jsonb,
  response_body    bytea,
  result           bytea,
  PRIMARY KEY (id),
  CHECK (state IN ('in_progress', 'completed')),
  CHECK ((state = 'in_progress') = (lease_until IS NOT NULL)),
  CHECK ((state = 'completed') = (completed_at IS NOT NULL))
) WITH (fillfactor = 90);

CREATE INDEX IF NOT EXISTS "oncely_idempotency_expires_at_idx" ON "oncely_idempotency" (expires_at);
