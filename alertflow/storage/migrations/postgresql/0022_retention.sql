-- Retention (issue 17): a tenant's own retention days, each NULL for the configured default
-- ([retention]) and 0 for keep forever.
CREATE TABLE retention_settings (
    tenant_id        TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    notifications    INTEGER,
    inbox            INTEGER,
    outbox           INTEGER,
    webhook_attempts INTEGER,
    audit            INTEGER
);

-- Counts of purged rows, per tenant and hour of creation: usage and analytics add them to
-- the rows still there, so a purge changes no count. channel and status are '' on the
-- notifications' own rows.
CREATE TABLE usage_rollups (
    tenant_id     TEXT NOT NULL,
    hour          DOUBLE PRECISION NOT NULL,
    channel       TEXT NOT NULL,
    status        TEXT NOT NULL,
    notifications BIGINT NOT NULL DEFAULT 0,
    deliveries    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, hour, channel, status)
);

-- The purge finds a tenant's oldest inbox items, outbox captures and webhook attempts by age.
CREATE INDEX inbox_age ON inbox(tenant_id, created_at);
CREATE INDEX outbox_age ON outbox(tenant_id, created_at);
CREATE INDEX webhook_attempts_age ON webhook_attempts(tenant_id, at);
