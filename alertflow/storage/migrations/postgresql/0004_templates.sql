-- Templates: every save is an immutable version; one version is active.

CREATE TABLE templates (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    name            TEXT,
    active_version  BIGINT NOT NULL,
    latest_version  BIGINT NOT NULL,
    created_at      DOUBLE PRECISION NOT NULL,
    updated_at      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE template_versions (
    tenant_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    name        TEXT,
    content     TEXT NOT NULL,   -- validated {"channels": ..., "locales": ...}
    variables   TEXT NOT NULL,   -- JSON list of the names a publish must supply
    created_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, key, version)
);
