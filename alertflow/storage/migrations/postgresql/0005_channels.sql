-- A tenant's own providers per channel, ordered; secret settings are sealed (sealing.py).

CREATE TABLE channel_providers (
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel     TEXT COLLATE "C" NOT NULL,
    providers   TEXT COLLATE "C" NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, channel)
);

