-- Each incident write bumps its version. A committer writing an incident
-- it holds in memory, unread in its transaction, writes only over the
-- version it last saw, so two partitions' copies of one incident (a rule
-- whose group_by leaves out the account) cannot overwrite each other.
ALTER TABLE incidents ADD COLUMN version bigint NOT NULL DEFAULT 0;
