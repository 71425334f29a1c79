-- The API behind the dashboard's pages (issue 16): keys listed with their last use, revoked
-- by prefix, and a tenant's batches listed newest first.

-- When a key last authenticated: written from memory at most once a minute per key
-- (key_usage.py), never once per request.
ALTER TABLE api_keys ADD COLUMN last_used_at DOUBLE PRECISION;
-- DELETE /v1/keys/{prefix} and `alertflow keys revoke PREFIX` find a key by its prefix.
CREATE INDEX api_keys_prefix ON api_keys(prefix);
-- GET /v1/batches: a tenant's batches newest first (ids sort by creation time).
CREATE INDEX batches_tenant ON batches(tenant_id, id);
