-- The durable core: tenants, keys, notifications, deliveries, the job queue, the DLQ.
-- Times are REAL seconds since the epoch (UTC); JSON columns hold TEXT.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  REAL NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    prefix      TEXT NOT NULL,           -- shown in listings so a key can be recognised
    secret_hash TEXT NOT NULL UNIQUE,    -- sha256 of the whole key; the key is shown once
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    name        TEXT,
    created_at  REAL NOT NULL,
    revoked_at  REAL
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE users (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    email       TEXT,
    phone       TEXT,
    push_tokens TEXT NOT NULL DEFAULT '[]',
    webpush     TEXT NOT NULL DEFAULT '[]',
    locale      TEXT,
    timezone    TEXT,
    name        TEXT,
    data        TEXT NOT NULL DEFAULT '{}',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) WITHOUT ROWID;

-- One event for one recipient; write-once, so the hot queue rows stay narrow.
CREATE TABLE notifications (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    user_id          TEXT,
    category         TEXT NOT NULL,
    priority         TEXT NOT NULL,
    created_at       REAL NOT NULL,
    send_at          REAL,
    recipient        TEXT NOT NULL,
    content          TEXT,
    template         TEXT,
    template_version INTEGER,
    data             TEXT NOT NULL DEFAULT '{}',
    batch_id         TEXT
);
CREATE INDEX notifications_tenant ON notifications(tenant_id, id);

CREATE TABLE deliveries (
    id                  TEXT PRIMARY KEY,
    notification_id     TEXT NOT NULL REFERENCES notifications(id),
    tenant_id           TEXT NOT NULL,
    channel             TEXT NOT NULL,
    status              TEXT NOT NULL,
    provider            TEXT,
    provider_message_id TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    reason              TEXT,
    created_at          REAL NOT NULL,
    updated_at          REAL NOT NULL,
    sent_at             REAL,
    delivered_at        REAL
);
CREATE INDEX deliveries_notification ON deliveries(notification_id);
CREATE INDEX deliveries_provider_message ON deliveries(provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

CREATE TABLE attempts (
    delivery_id TEXT NOT NULL,
    at          REAL NOT NULL,
    outcome     TEXT NOT NULL,
    error       TEXT,
    provider    TEXT
);
CREATE INDEX attempts_delivery ON attempts(delivery_id);

-- The queue: one narrow row per undelivered delivery. state 0 = ready, 1 = leased (run_at is
-- the lease's end), 2 = waiting (run_at is when it becomes ready: send_at or a retry).
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    delivery_id TEXT NOT NULL UNIQUE,
    tenant_id   TEXT NOT NULL,
    channel     TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    state       INTEGER NOT NULL,
    run_at      REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
-- Matches the claim's WHERE + ORDER BY exactly, so a claim never sorts (PERFORMANCE.md: ~5x).
CREATE INDEX jobs_claim ON jobs(channel, state, priority DESC, run_at);
CREATE INDEX jobs_timer ON jobs(state, run_at);

CREATE TABLE dead_letters (
    delivery_id     TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    last_error      TEXT,
    dead_at         REAL NOT NULL
);
CREATE INDEX dead_letters_tenant ON dead_letters(tenant_id, dead_at);

CREATE TABLE idempotency_keys (
    tenant_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    response    TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_age ON idempotency_keys(created_at);

-- What the built-in outbox provider captured, for GET /v1/outbox.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    delivery_id     TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    content         TEXT NOT NULL,
    created_at      REAL NOT NULL
);
CREATE INDEX outbox_tenant ON outbox(tenant_id, channel, id);

-- In-app items written by the built-in inbox provider.
CREATE TABLE inbox (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    delivery_id     TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    title           TEXT,
    body            TEXT,
    action_url      TEXT,
    data            TEXT NOT NULL DEFAULT '{}',
    category        TEXT NOT NULL,
    created_at      REAL NOT NULL,
    read_at         REAL,
    archived_at     REAL
);
CREATE INDEX inbox_user ON inbox(tenant_id, user_id, id);
