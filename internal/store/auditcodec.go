package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/audit"
)

// Audit records are stored in a compact binary form: one is written for
// every delivery in the committer's transaction, and encoding/json spent
// more time on it, through reflection, than bbolt spent storing it, in
// twice the bytes. A record is
//
//	version  byte  auditRecordV1
//	strings  ID, DeliveryID, Source, RemoteAddr, Signature, Reason, SHA256
//	times    ReceivedAt, ProcessedAt (varint unix nanoseconds; 0 = zero time)
//	ints     HTTPStatus, Size, PayloadKept (varint)
//	events   uvarint count+1 (0 = none recorded, 1 = an empty list), then
//	         per event: ID, Kind, Status, varint Code, Outcome, uvarint
//	         decision count, then per decision: Rule, Outcome, Detail
//
// with every string a uvarint length and its bytes. Records written
// before are JSON documents, which start with '{'; they are read as such
// until the retention has swept them.
const auditRecordV1 byte = 1

// appendAuditRecord encodes rec without its notifications and payload,
// which are kept apart.
func appendAuditRecord(b []byte, rec *audit.Record) []byte {
	b = append(b, auditRecordV1)
	for _, s := range [...]string{rec.ID, rec.DeliveryID, rec.Source, rec.RemoteAddr, rec.Signature, rec.Reason, rec.SHA256} {
		b = appendString(b, s)
	}
	b = appendTime(b, rec.ReceivedAt)
	b = appendTime(b, rec.ProcessedAt)
	b = binary.AppendVarint(b, int64(rec.HTTPStatus))
	b = binary.AppendVarint(b, int64(rec.Size))
	b = binary.AppendVarint(b, int64(rec.PayloadKept))
	if rec.Events == nil {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(rec.Events))+1)
	for i := range rec.Events {
		e := &rec.Events[i]
		b = appendString(b, e.ID)
		b = appendString(b, e.Kind)
		b = appendString(b, e.Status)
		b = binary.AppendVarint(b, int64(e.Code))
		b = appendString(b, e.Outcome)
		b = binary.AppendUvarint(b, uint64(len(e.Decisions)))
		for _, d := range e.Decisions {
			b = appendString(b, d.Rule)
			b = appendString(b, d.Outcome)
			b = appendString(b, d.Detail)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decodeAuditRecord reads a stored record in either form.
func decodeAuditRecord(v []byte) (audit.Record, error) {
	var rec audit.Record
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &rec)
		return rec, err
	}
	if len(v) == 0 || v[0] != auditRecordV1 {
		return rec, fmt.Errorf("unknown audit record format %q", v[:min(len(v), 1)])
	}
	r := byteReader{b: v[1:]}
	for _, s := range [...]*string{&rec.ID, &rec.DeliveryID, &rec.Source, &rec.RemoteAddr, &rec.Signature, &rec.Reason, &rec.SHA256} {
		*s = r.string()
	}
	rec.ReceivedAt = r.time()
	rec.ProcessedAt = r.time()
	rec.HTTPStatus = int(r.varint())
	rec.Size = int(r.varint())
	rec.PayloadKept = int(r.varint())
	if n := r.uvarint(); n > 0 && r.err == nil {
		if n-1 > uint64(len(r.b)) { // every event takes at least a byte
			return rec, errAuditRecord
		}
		rec.Events = make([]audit.Event, n-1)
		for i := range rec.Events {
			e := &rec.Events[i]
			e.ID, e.Kind, e.Status = r.string(), r.string(), r.string()
			e.Code = int(r.varint())
			e.Outcome = r.string()
			nd := r.uvarint()
			if nd > uint64(len(r.b)) {
				return rec, errAuditRecord
			}
			if nd > 0 {
				e.Decisions = make([]audit.Decision, nd)
				for j := range e.Decisions {
					e.Decisions[j] = audit.Decision{Rule: r.string(), Outcome: r.string(), Detail: r.string()}
				}
			}
		}
	}
	if r.err != nil || len(r.b) > 0 {
		return rec, errAuditRecord
	}
	return rec, nil
}

var errAuditRecord = errors.New("audit record is truncated or damaged")

// byteReader reads what appendAuditRecord wrote, remembering the first
// error so a caller checks once.
type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = errAuditRecord
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *byteReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.err = errAuditRecord
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *byteReader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errAuditRecord
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *byteReader) time() time.Time {
	n := r.varint()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
