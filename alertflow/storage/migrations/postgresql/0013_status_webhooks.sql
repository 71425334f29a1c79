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
    previous_until DOUBLE PRECISION,
    failing_since DOUBLE PRECISION,
    disabled_at DOUBLE PRECISION,
    disabled_reason TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, id);
CREATE TABLE webhook_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    status_code BIGINT,
    latency_ms DOUBLE PRECISION,
    error TEXT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
