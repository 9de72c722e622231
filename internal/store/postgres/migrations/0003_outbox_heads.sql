-- The head of each ordering key is marked, so a claim reads the due heads
-- from one small index however long the backlog behind them. Every write
-- that adds or removes a key's entries holds the key's advisory lock, so
-- exactly the lowest id of each key is marked.
ALTER TABLE outbox ADD COLUMN head boolean NOT NULL DEFAULT false;
UPDATE outbox SET head = true WHERE id IN (SELECT DISTINCT ON (key) id FROM outbox ORDER BY key, id);
CREATE INDEX outbox_due_heads ON outbox (due, id) WHERE head;
