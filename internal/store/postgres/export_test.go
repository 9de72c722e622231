package postgres

// Queued is how many deliveries AddInbox handed to the group commit.
func Queued(s *Store) int64 { return s.ingest.queued.get() }
