-- Bounces and complaints stop future sends (issue 17).

-- Addresses a tenant no longer sends to on a channel, and why (bounce, complaint, manual).
-- Addresses are stored normalised (recipients/suppression_list.py), so a publish finds them
-- with one indexed look-up of the addresses it is about to reach.
CREATE TABLE suppressions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel    TEXT NOT NULL,
    address    TEXT NOT NULL,
    reason     TEXT NOT NULL CHECK (reason IN ('bounce', 'complaint', 'manual')),
    detail     TEXT,
    created_at REAL NOT NULL,
    UNIQUE (tenant_id, address, channel)
);
CREATE INDEX suppressions_tenant ON suppressions(tenant_id, id);

-- A tenant's secret receipt URL per provider (ses, sendgrid): only the token's hash is kept;
-- public_key is SendGrid's signature verification key (base64 DER).
CREATE TABLE receipt_endpoints (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    public_key TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (tenant_id, provider)
);

-- Messages (SNS MessageId, SendGrid sg_event_id) already applied: a replay changes nothing.
-- Kept for the replay window only; older messages are refused by their timestamp.
CREATE TABLE receipt_messages (
    provider    TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (provider, message_id)
);
CREATE INDEX receipt_messages_age ON receipt_messages(received_at);

-- Receipts name a message by the provider's id alone (SES and SendGrid do not know which of
-- our providers sent it): the index leads with the id.
DROP INDEX IF EXISTS deliveries_provider_message;
CREATE INDEX deliveries_provider_message_id ON deliveries(provider_message_id)
    WHERE provider_message_id IS NOT NULL;
