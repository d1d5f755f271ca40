-- 001_init: the first SQLite schema of cloudhands (accounts, API keys, conversations,
-- their events, idempotency keys). Owned by src/store/sqlite.c, which runs each migration
-- inside its own BEGIN IMMEDIATE transaction: no BEGIN/COMMIT or PRAGMA in here.
-- Times are INTEGER microseconds since the epoch; NULL means "not set" (0 in C).

CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    is_admin       INTEGER NOT NULL DEFAULT 0,
    max_concurrent INTEGER,            -- NULL: the server's default limit applies
    created_at     INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    key_hash     TEXT NOT NULL UNIQUE, -- hex of a keyed hash; the key itself is never stored
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER,              -- NULL: never
    revoked_at   INTEGER               -- NULL: valid
);
CREATE INDEX api_keys_account ON api_keys(account_id, id);

-- seq is the paging key (insertion order). AUTOINCREMENT so a seq is never reused, even
-- after the newest conversation is deleted: a client's paging cursor stays meaningful.
CREATE TABLE conversations (
    seq                       INTEGER PRIMARY KEY AUTOINCREMENT,
    id                        TEXT NOT NULL UNIQUE,
    account_id                INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    title                     TEXT,
    status                    TEXT NOT NULL,
    agent_state               TEXT,
    "trigger"                 TEXT,
    selected_repository       TEXT,
    selected_branch           TEXT,
    git_provider              TEXT,
    conversation_instructions TEXT,
    runtime_status            TEXT,
    branch                    TEXT,
    error                     TEXT,
    pull_requests             TEXT NOT NULL DEFAULT '[]',
    metrics                   TEXT NOT NULL DEFAULT '{}',
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL,
    next_event_id             INTEGER NOT NULL DEFAULT 0,
    queued_at                 INTEGER, -- set while waiting for a runner, NULL otherwise
    runner                    TEXT,    -- the runner holding it
    lease_until               INTEGER  -- the runner's lease expiry
);
CREATE INDEX conversations_account_seq ON conversations(account_id, seq DESC);
CREATE INDEX conversations_account_status ON conversations(account_id, status);

CREATE TABLE events (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    id              INTEGER NOT NULL,
    body            TEXT NOT NULL,     -- the event's whole JSON text
    PRIMARY KEY (conversation_id, id)
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    response   TEXT NOT NULL,          -- the first answer, replayed on a retry
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
) WITHOUT ROWID;
