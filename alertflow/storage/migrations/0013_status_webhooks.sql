-- Status webhooks (README "Status webhooks"): a tenant's endpoints, and every attempt to
-- reach one. The events themselves travel as deliveries on the internal `status` channel,
-- so the queue's leases, retries and dead letters apply to them unchanged.
-- Secrets are sealed (providers/sealing.py); `previous_secret` signs too until
-- `previous_until`, so a receiver can roll its secret over without missing a message.
-- `disabled_at` set: the endpoint failed for [webhooks] disable_after_hours and gets nothing.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    description TEXT,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_until REAL,
    failing_since REAL,
    disabled_at REAL,
    disabled_reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, id);
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    at REAL NOT NULL,
    status_code INTEGER,
    latency_ms REAL,
    error TEXT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
