-- Recipients' choices: tenant categories, preferences (user and tenant defaults), topics.

CREATE TABLE categories (
    tenant_id       TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key             TEXT COLLATE "C" NOT NULL,
    priority        TEXT COLLATE "C" NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
    opt_out_allowed BIGINT NOT NULL,
    name            TEXT COLLATE "C",
    updated_at      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

-- user_id '' holds the tenant's defaults.
CREATE TABLE preferences (
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT COLLATE "C" NOT NULL,
    document    TEXT COLLATE "C" NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE topic_subscribers (
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    topic       TEXT COLLATE "C" NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, topic, user_id)
);
