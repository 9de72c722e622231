-- wabridge schema 1: every table of the store ports. Times that the
-- callers pass (receive times, claim leases, dedup windows, expiries) are
-- unix nanoseconds in bigint columns: they round-trip exactly and compare
-- by the callers' clock, as the ports want. Lease and heartbeat expiries are
-- the database's own clock (timestamptz), the one clock all replicas share.
-- Documents are JSON in bytea: never re-parsed by the database, and a
-- provider's \u0000 cannot fail a write the way jsonb would.

-- settings holds what every replica must agree on (the partition count).
CREATE TABLE settings (
	name  text PRIMARY KEY,
	value text NOT NULL
);

-- replicas is each open store's heartbeat: a lease is live while its
-- owner's heartbeat is, so renewing is one row, never the lease rows that
-- commits lock.
CREATE TABLE replicas (
	owner   text PRIMARY KEY,          -- replica id '#' incarnation
	replica text NOT NULL,             -- the configured replica id
	expires timestamptz NOT NULL
);

-- leases gives each partition one owner; epoch grows at every change of
-- owner, and each commit checks owner and epoch under FOR UPDATE.
CREATE TABLE leases (
	partition int PRIMARY KEY,
	owner     text,
	epoch     bigint NOT NULL DEFAULT 0
);

CREATE TABLE inbox (
	seq          bigserial PRIMARY KEY,
	partition    int NOT NULL,
	delivery_id  text NOT NULL,
	source       text NOT NULL,
	received_at  bigint NOT NULL,
	remote_addr  text NOT NULL,
	content_type text NOT NULL,
	body         bytea NOT NULL
);
CREATE INDEX inbox_by_partition ON inbox (partition, seq);

-- quarantine keeps inbox entries taken out of processing, as received.
CREATE TABLE quarantine (
	seq          bigint PRIMARY KEY,
	partition    int NOT NULL,
	delivery_id  text NOT NULL,
	source       text NOT NULL,
	received_at  bigint NOT NULL,
	remote_addr  text NOT NULL,
	content_type text NOT NULL,
	body         bytea NOT NULL,
	reason       text NOT NULL,
	at           timestamptz NOT NULL DEFAULT now()
);

-- batches is each partition's crash record (BeginBatch); crashes counts
-- the crashes of the entries still in the inbox.
CREATE TABLE batches (
	partition int PRIMARY KEY,
	lo        bigint NOT NULL,
	hi        bigint NOT NULL
);
CREATE TABLE crashes (
	seq       bigint PRIMARY KEY,
	partition int NOT NULL,
	count     int NOT NULL
);
CREATE INDEX crashes_by_partition ON crashes (partition);

CREATE TABLE dedup (
	event_id text PRIMARY KEY,
	until    bigint NOT NULL
);
CREATE INDEX dedup_by_until ON dedup (until);

CREATE TABLE incidents (
	fingerprint text COLLATE "C" PRIMARY KEY,
	partition   int NOT NULL,
	live        boolean NOT NULL DEFAULT false, -- what LiveIncidents returns
	status      text NOT NULL DEFAULT '',
	expires     bigint NOT NULL DEFAULT 0,     -- a resolved one's, 0: never
	doc         bytea,                          -- the incident without its event
	event       bytea                           -- the event it started with
);
CREATE INDEX incidents_live ON incidents (partition) WHERE live;
CREATE INDEX incidents_expiring ON incidents (expires) WHERE expires <> 0;

-- refs are keyed by ordering key: fingerprint '/' notifier '/' target.
CREATE TABLE refs (
	key text COLLATE "C" PRIMARY KEY,
	doc bytea NOT NULL
);

CREATE SEQUENCE claim_tokens;

CREATE TABLE outbox (
	id           bigserial PRIMARY KEY,
	key          text COLLATE "C" NOT NULL,
	next_attempt bigint NOT NULL,
	due          bigint NOT NULL,              -- next_attempt, or a release's later wait
	token        bigint NOT NULL DEFAULT 0,    -- the live claim's, 0 when none
	claim_until  bigint NOT NULL DEFAULT 0,
	in_flight    bigint NOT NULL DEFAULT 0,
	doc          bytea NOT NULL                -- the entry, ids filled on read
);
CREATE INDEX outbox_by_key ON outbox (key, id);

CREATE TABLE dead (
	id            bigint PRIMARY KEY,
	doc           bytea NOT NULL,
	replay_token  bigint NOT NULL DEFAULT 0,
	replay_since  bigint NOT NULL DEFAULT 0,
	replay_until  bigint NOT NULL DEFAULT 0
);

CREATE TABLE silences (
	id  bigserial PRIMARY KEY,
	doc bytea NOT NULL
);

-- audit is keyed by audit.ID, which starts with the receive time in hex:
-- the primary key is the time index. expires is what the sweep walks.
CREATE TABLE audit (
	id       text COLLATE "C" PRIMARY KEY,
	source   text NOT NULL,
	expires  bigint NOT NULL,
	doc      bytea NOT NULL,
	body     bytea,
	deflated boolean NOT NULL DEFAULT false
);
CREATE INDEX audit_by_expiry ON audit (expires);

-- audit_links ties an outbox id to the record of the delivery that made
-- it; audit_notes holds each notification's latest result.
CREATE TABLE audit_links (
	outbox_id bigint PRIMARY KEY,
	audit_id  text COLLATE "C" NOT NULL REFERENCES audit (id) ON DELETE CASCADE
);
CREATE INDEX audit_links_by_audit ON audit_links (audit_id);
CREATE TABLE audit_notes (
	audit_id  text COLLATE "C" NOT NULL REFERENCES audit (id) ON DELETE CASCADE,
	outbox_id bigint NOT NULL,
	doc       bytea NOT NULL,
	PRIMARY KEY (audit_id, outbox_id)
);

-- checks is Check's and Probe's heartbeat row.
CREATE TABLE checks (
	name text PRIMARY KEY,
	at   timestamptz NOT NULL,
	pad  bytea
);
