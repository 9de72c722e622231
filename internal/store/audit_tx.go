package store

import "time"

var _ AuditTx = (*boltTx)(nil)

// PutAudit writes a processed delivery's audit record in the transaction
// that processes it.
func (t *boltTx) PutAudit(rec *AuditRecord, body Payload, until time.Time, outbox []OutboxEntry) error {
	return writeAudit(t.tx, rec, body, until, outbox)
}
