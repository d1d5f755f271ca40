-- 004_webhooks: webhooks (an account's subscriptions to conversation events, with the signing
-- secret sealed) and their deliveries, as migrations/sqlite/004_webhooks.sql. A delivery is a
-- row from the moment it is enqueued to its outcome, with the exact body it sends. A worker
-- claims a due pending row (FOR UPDATE SKIP LOCKED) by moving its next_attempt_at to the end of
-- its lease (a worker that dies leaves it due again then).

CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,     -- 32 lowercase hex characters
    account_id    BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,        -- a JSON array of event names
    description   TEXT NOT NULL DEFAULT '',
    secret_sealed TEXT NOT NULL,        -- crypto_seal() of the signing secret
    created_at    BIGINT NOT NULL
);
CREATE INDEX webhooks_account ON webhooks(account_id, created_at);

CREATE TABLE webhook_deliveries (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- insertion order
    id               TEXT NOT NULL UNIQUE,              -- X-Cloudhands-Delivery
    webhook_id       TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event            TEXT NOT NULL,
    conversation_id  TEXT,                              -- no reference: outlives the conversation
    body             TEXT NOT NULL,                     -- the exact bytes sent
    status           TEXT NOT NULL,                     -- pending, delivered, failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    next_attempt_at  BIGINT,                            -- pending: when it is due (or its lease ends)
    worker           TEXT                               -- the worker that claimed it last
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, seq DESC);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_created ON webhook_deliveries(created_at);
