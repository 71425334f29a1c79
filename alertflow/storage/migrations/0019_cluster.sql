-- Rate-limit token buckets shared by the nodes of a cluster (storage/rate_buckets.py): one row
-- per limit and key, e.g. ('publish', tenant id). A single SQLite node keeps its buckets in
-- memory (coordination.InProcessCoordinator), so on SQLite this table stays empty.
CREATE TABLE rate_buckets (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    tokens REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (name, key)
);

-- What every node of a cluster must agree on, as digests (storage/cluster_checks.py): a node
-- whose server.secret_key differs from the first node's is refused at start. Unused on SQLite.
CREATE TABLE cluster_checks (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL
);
