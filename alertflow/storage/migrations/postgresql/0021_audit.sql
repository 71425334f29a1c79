-- The audit log (issue 17): who changed what in a tenant, written in the same transaction as
-- the change. The actor is kept as it was named then (a key's prefix, a member's email), so
-- an entry still reads right after the key is revoked or the member removed. before/after
-- are JSON with secrets already masked. seq orders the log and is the API's cursor.
CREATE TABLE audit_entries (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    at            DOUBLE PRECISION NOT NULL,
    actor_type    TEXT NOT NULL CHECK (actor_type IN ('key', 'member', 'operator', 'anonymous')),
    actor         TEXT,
    client        TEXT,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT,
    before        TEXT,
    after         TEXT
);
CREATE INDEX audit_entries_tenant ON audit_entries(tenant_id, seq);
-- Retention deletes a tenant's oldest first.
CREATE INDEX audit_entries_age ON audit_entries(tenant_id, at);
