-- ferroswitch store, PostgreSQL, migration 9: which node wrote a binding and an
-- agent's status (docs/multi-node.md). A node restores, refreshes and
-- deletes only its own bindings (a phone's NAT mapping or connection is to
-- that node) and reads the others' for location lookups; it applies the
-- agent status rows other nodes wrote. '' is a node that is not clustered.
ALTER TABLE bindings ADD COLUMN node_id TEXT NOT NULL DEFAULT '';
ALTER TABLE agent_status ADD COLUMN node_id TEXT NOT NULL DEFAULT '';
CREATE INDEX bindings_node ON bindings (node_id, expires_at_ms);
CREATE INDEX agent_status_updated ON agent_status (updated_at_ms);
