-- Templates: every save is an immutable version; one version is active.

CREATE TABLE templates (
    tenant_id       TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key             TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C",
    active_version  BIGINT NOT NULL,
    latest_version  BIGINT NOT NULL,
    created_at      DOUBLE PRECISION NOT NULL,
    updated_at      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE template_versions (
    tenant_id   TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    version     BIGINT NOT NULL,
    name        TEXT COLLATE "C",
    content     TEXT COLLATE "C" NOT NULL,   -- validated {"channels": ..., "locales": ...}
    variables   TEXT COLLATE "C" NOT NULL,   -- JSON list of the names a publish must supply
    created_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, key, version)
);
