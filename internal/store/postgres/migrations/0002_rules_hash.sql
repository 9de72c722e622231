-- Each replica's rules hash: a replica takes no partition while a live
-- one runs other rules, so one incident is never judged by two rule sets.
ALTER TABLE replicas ADD COLUMN rules_hash text NOT NULL DEFAULT '';
