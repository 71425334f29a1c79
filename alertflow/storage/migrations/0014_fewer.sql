-- Fewer, better notifications (#18): digests, throttles, dedupes, replacements, fallbacks.

-- The publish options a notification was sent with (JSON; NULL when none, so the hot path
-- stores and reads nothing more). The deliverer reads them: a digest gathers its events, a
-- fallback checks whether it is still needed, a replace_key collapses.
ALTER TABLE notifications ADD COLUMN options TEXT;

-- One open digest window per tenant, recipient and key; a new window replaces the row.
-- ``id`` is the digest's own notification, whose waiting jobs close the window at closes_at
-- (the queue's durable timer): nothing about a window lives only in memory.
CREATE TABLE digests (
    tenant_id   TEXT NOT NULL,
    recipient   TEXT NOT NULL,     -- "user:<id>", or "to:" + the SHA-256 of the addresses given
    key         TEXT NOT NULL,
    id          TEXT NOT NULL,     -- the digest notification
    opened_at   REAL NOT NULL,
    closes_at   REAL NOT NULL,
    events      INTEGER NOT NULL,
    max_events  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, recipient, key)
);

-- The events each digest collected, oldest first (seq counts from 1).
CREATE TABLE digest_events (
    digest_id       TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    notification_id TEXT NOT NULL,
    PRIMARY KEY (digest_id, seq)
);

-- Throttle and dedupe counters: a fixed window from its first event, per recipient and key.
CREATE TABLE send_limits (
    tenant_id  TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    kind       TEXT NOT NULL,      -- throttle, dedupe
    key        TEXT NOT NULL,
    opened_at  REAL NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, recipient, kind, key)
);

-- In-app items a later one replaces: the key it was sent with and the item it replaced.
ALTER TABLE inbox ADD COLUMN replace_key TEXT;
ALTER TABLE inbox ADD COLUMN replaces TEXT;
CREATE INDEX inbox_replace ON inbox(tenant_id, user_id, replace_key) WHERE replace_key IS NOT NULL;

-- Send options as defaults: a category's and a template version's (JSON; NULL when none).
ALTER TABLE categories ADD COLUMN options TEXT;
ALTER TABLE template_versions ADD COLUMN options TEXT;
