-- Rate-limit token buckets shared by the nodes of a cluster (storage/rate_buckets.py): one row
-- per limit and key, e.g. ('publish', tenant id), updated under its row lock.
CREATE TABLE rate_buckets (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, key)
);

-- What every node of a cluster must agree on, as digests (storage/cluster_checks.py): a node
-- whose server.secret_key differs from the first node's is refused at start.
CREATE TABLE cluster_checks (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL
);
