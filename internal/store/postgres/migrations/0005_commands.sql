-- Operator actions on an incident asked on a replica that does not own
-- its partition: the owner's committer takes them (taken), applies them
-- as a local request and records the outcome (done, with error_kind and
-- error empty on success). The asker waits for done, or ends a command
-- nobody took with an expiry.
CREATE TABLE commands (
	id          bigserial PRIMARY KEY,
	partition   int NOT NULL,
	fingerprint text COLLATE "C" NOT NULL,
	kind        text NOT NULL,
	args        jsonb NOT NULL,
	actor       text NOT NULL DEFAULT '',
	created     timestamptz NOT NULL DEFAULT now(),
	taken       timestamptz,
	done        boolean NOT NULL DEFAULT false,
	result      jsonb,
	error_kind  text NOT NULL DEFAULT '',
	error       text NOT NULL DEFAULT ''
);
CREATE INDEX commands_pending ON commands (partition, id) WHERE NOT done;
CREATE INDEX commands_created ON commands (created);
