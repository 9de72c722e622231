package store

import (
	"time"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/outbox"
)

var _ AuditTx = (*boltTx)(nil)

// PutAudit writes a processed delivery's audit record in the transaction
// that processes it.
func (t *boltTx) PutAudit(rec *audit.Record, body Payload, until time.Time, outbox []outbox.Entry) error {
	return writeAudit(t.tx, rec, body, until, outbox)
}
