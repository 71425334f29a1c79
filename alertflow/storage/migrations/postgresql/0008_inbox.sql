-- The in-app inbox's hot reads: the unread badge is counted on every connect and after every
-- change, and `?unread=true` lists the same rows newest first. A partial index of exactly the
-- unread, visible items answers both from the index alone, however much history a user has.
CREATE INDEX inbox_unread ON inbox(tenant_id, user_id, id) WHERE read_at IS NULL AND archived_at IS NULL;
