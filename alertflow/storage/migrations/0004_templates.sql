-- Templates: every save is an immutable version; one version is active.

CREATE TABLE templates (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    name            TEXT,
    active_version  INTEGER NOT NULL,
    latest_version  INTEGER NOT NULL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID;

CREATE TABLE template_versions (
    tenant_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    version     INTEGER NOT NULL,
    name        TEXT,
    content     TEXT NOT NULL,   -- validated {"channels": ..., "locales": ...}
    variables   TEXT NOT NULL,   -- JSON list of the names a publish must supply
    created_at  REAL NOT NULL,
    PRIMARY KEY (tenant_id, key, version)
) WITHOUT ROWID;
