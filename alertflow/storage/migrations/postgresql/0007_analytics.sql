-- Analytics read deliveries of one tenant over a time range.
CREATE INDEX deliveries_tenant_time ON deliveries(tenant_id, created_at);
