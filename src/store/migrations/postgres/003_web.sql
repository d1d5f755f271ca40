-- 003_web: what the web UI's sign-in needs: a password per account (argon2id, libsodium's
-- crypto_pwhash_str format; NULL: the account cannot sign in to the web UI), the failed
-- sign-ins that lock it for a while, and server-side sessions (stored by a keyed hash of the
-- cookie's value, like API keys). As migrations/sqlite/003_web.sql.

ALTER TABLE accounts ADD COLUMN password_hash TEXT;
ALTER TABLE accounts ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN locked_until BIGINT;

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,   -- keyed hash of the cookie's value
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,      -- sent back by the page in X-CSRF-Token
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);
