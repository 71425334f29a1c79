-- People who sign in to the dashboard (issue 16). A member belongs to one tenant with a role,
-- as an API key does; an operator belongs to none and manages them all. One email is one
-- member. The password is an argon2id hash, NULL until the invite link is used.
CREATE TABLE members (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,    -- lower-cased
    tenant_id     TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    role          TEXT CHECK (role IN ('owner', 'admin', 'member')),
    operator      INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT,
    created_at    REAL NOT NULL,
    CHECK ((operator = 1 AND tenant_id IS NULL AND role IS NULL)
        OR (operator = 0 AND tenant_id IS NOT NULL AND role IS NOT NULL))
);
CREATE INDEX members_tenant ON members(tenant_id);

-- One-time links that set a password (an invite or a reset): only the token's hash is kept.
CREATE TABLE password_links (
    token_hash  TEXT PRIMARY KEY,
    member_id   TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL
);
CREATE INDEX password_links_member ON password_links(member_id);

-- Signed-in browsers. The cookie's token is kept hashed; tenant_id is an operator's current
-- tenant (a member's is their own). Ending a session deletes its row.
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    member_id    TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    tenant_id    TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   REAL NOT NULL,
    last_seen_at REAL NOT NULL
);
CREATE INDEX sessions_member ON sessions(member_id);
