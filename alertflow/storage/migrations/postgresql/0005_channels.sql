-- A tenant's own providers per channel, ordered; secret settings are sealed (sealing.py).

CREATE TABLE channel_providers (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel     TEXT NOT NULL,
    providers   TEXT NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, channel)
);

