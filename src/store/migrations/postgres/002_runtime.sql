-- 002_runtime: what the agent runtime needs: per-account settings, named secrets, and an
-- index for runners looking for work (queued conversations, or active ones whose runner's
-- lease ran out). As migrations/sqlite/002_runtime.sql.

CREATE TABLE settings (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    body       TEXT NOT NULL DEFAULT '{}' -- a JSON object; credentials in it are sealed
);

CREATE TABLE secrets (
    account_id   BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    value_sealed TEXT NOT NULL,           -- crypto_seal() of the value
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);

CREATE INDEX conversations_waiting ON conversations(status, queued_at)
    WHERE status IN ('STARTING', 'RUNNING');
