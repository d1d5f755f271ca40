-- 005_nodes: several processes on several machines (docs/DEPLOYMENT.md).
-- - nodes: one row per data directory that runs conversations (its workspaces live there), with
--   the URL other nodes reach them at, and until when it counts as alive (it renews that as a
--   runner renews a lease).
-- - conversations.node: the node holding the conversation's workspace; a follow-up goes back to
--   it while it lives. conversations.base_commit: the commit the work branch started from, so
--   another node can rebuild the workspace from the pushed branch.
-- - cluster: values every node must agree on (a check value of secret.key).
-- - conversations_waiting now serves the claim's order, so a claim reads one index entry
--   instead of sorting every waiting conversation.
-- As migrations/sqlite/005_nodes.sql.

ALTER TABLE conversations ADD COLUMN node TEXT;
ALTER TABLE conversations ADD COLUMN base_commit TEXT;

CREATE TABLE nodes (
    id          TEXT PRIMARY KEY, -- DATA/node.id
    url         TEXT,             -- where its workspaces are served to other nodes; NULL: nowhere
    alive_until BIGINT NOT NULL
);

CREATE TABLE cluster (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

DROP INDEX conversations_waiting;
CREATE INDEX conversations_waiting ON conversations((COALESCE(queued_at, updated_at)), seq)
    WHERE status IN ('STARTING', 'RUNNING');
