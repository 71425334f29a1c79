-- Time and volume: a claim fair across tenants, bulk batches and cron schedules.

-- Within one priority the claim takes tenants in turn, each tenant's jobs oldest first
-- (queue.claim), so it seeks on this index instead of 0001's and still never sorts.
DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs(channel, state, priority DESC, tenant_id, run_at);

-- A batch's progress is its deliveries counted by status (GET /v1/batches/{id}); only bulk
-- deliveries carry a batch, so only they pay for the index.
ALTER TABLE deliveries ADD COLUMN batch_id TEXT;
CREATE INDEX deliveries_batch ON deliveries(batch_id, status) WHERE batch_id IS NOT NULL;

-- One bulk send: the request as accepted and how far its fan-out has got, so a restart
-- continues where the last chunk committed.
CREATE TABLE batches (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    request     TEXT NOT NULL,     -- the publish body without its recipients (JSON)
    topic       TEXT,              -- recipients are this topic's subscribers, else batch_chunks
    recipients  BIGINT NOT NULL,
    status      TEXT NOT NULL,     -- fanning_out, fanned_out, cancelling, cancelled, failed
    cursor      TEXT,              -- the last chunk seq (inline) or user_id (topic) fanned out
    fanned_out  BIGINT NOT NULL DEFAULT 0,
    error       TEXT,              -- why a fan-out failed (its template was deleted, ...)
    dedupe_key  TEXT,              -- a schedule firing's "schedule id@fire time": enqueued once
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX batches_unfinished ON batches(status) WHERE status IN ('fanning_out', 'cancelling');

-- Inline recipients of a batch, one fan-out step's worth per row; deleted once fanned out.
CREATE TABLE batch_chunks (
    batch_id    TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    recipients  TEXT NOT NULL,     -- JSON list of validated recipients
    PRIMARY KEY (batch_id, seq)
);

-- Cron schedules; each firing enqueues a batch under its dedupe key.
CREATE TABLE schedules (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    cron          TEXT NOT NULL,
    timezone      TEXT NOT NULL,
    request       TEXT NOT NULL,   -- the bulk body each firing enqueues (JSON)
    paused        BIGINT NOT NULL DEFAULT 0,
    next_fire_at  DOUBLE PRECISION,            -- due next; in the past after downtime (one catch-up firing)
    last_fire_at  DOUBLE PRECISION,
    last_batch_id TEXT,
    last_error    TEXT,            -- why the last firing enqueued nothing (its topic was empty, ...)
    created_at    DOUBLE PRECISION NOT NULL,
    updated_at    DOUBLE PRECISION NOT NULL
);
CREATE INDEX schedules_tenant ON schedules(tenant_id, id);
