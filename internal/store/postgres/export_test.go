package postgres

// Queued is how many deliveries AddInbox handed to the group commit.
func Queued(s *Store) int64 { return s.ingest.queued.get() }

// Versions is how many incident versions the store keeps a record of.
func Versions(s *Store) int {
	s.versionMu.Lock()
	defer s.versionMu.Unlock()
	return len(s.versions)
}
