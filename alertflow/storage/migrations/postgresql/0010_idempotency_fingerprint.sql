-- An Idempotency-Key names one request: the key is stored with a fingerprint of the request
-- it was first used for (method, path, canonical body), and reusing it for another request
-- is refused (issue 13). Rows from before this have none; they are honoured as before.
ALTER TABLE idempotency_keys ADD COLUMN fingerprint TEXT;
