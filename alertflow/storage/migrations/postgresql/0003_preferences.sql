-- Recipients' choices: tenant categories, preferences (user and tenant defaults), topics.

CREATE TABLE categories (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    priority        TEXT NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
    opt_out_allowed BIGINT NOT NULL,
    name            TEXT,
    updated_at      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

-- user_id '' holds the tenant's defaults.
CREATE TABLE preferences (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    document    TEXT NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE topic_subscribers (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    topic       TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, topic, user_id)
);
