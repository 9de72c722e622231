package store

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// bAuditBodyZ keeps audit payloads compressed with DEFLATE, under the same
// keys as bAuditBody, which keeps those stored raw (small ones, and every
// one written before compression). A payload is in one of the two.
var bAuditBodyZ = []byte("audit_body_z")

// minDeflate is the smallest payload worth compressing.
const minDeflate = 256

// Payload is a delivery's body as the audit trail stores it. A Compressor
// makes one outside the write transaction, where compressing holds up no
// other writer.
type Payload struct {
	b        []byte
	deflated bool
	// ref, when set, is the delivery's record in the inbox log: the audit
	// trail reads the payload there instead of keeping a copy.
	ref *Location
}

// RawPayload stores body as it is.
func RawPayload(body []byte) Payload { return Payload{b: body} }

// LoggedPayload refers to the payload of the inbox log's record at loc.
func LoggedPayload(loc Location) Payload { return Payload{ref: &loc} }

// Bytes returns the payload as a backend stores it, and whether it is
// DEFLATE-compressed; a payload that refers to the inbox log has none
// (see Logged).
func (p Payload) Bytes() (b []byte, deflated bool) { return p.b, p.deflated }

// Logged returns the inbox log record the payload refers to, if it does.
func (p Payload) Logged() (Location, bool) {
	if p.ref == nil {
		return Location{}, false
	}
	return *p.ref, true
}

// maxIdleWriters bounds the writers a Compressor keeps between uses.
const maxIdleWriters = 4

// Compressor deflates payloads. The zero value is ready, and safe for
// concurrent use. A writer holds about a megabyte of tables, so a few are
// kept for reuse: a sync.Pool would drop them at every collection and
// have them allocated again, which under load grew the heap by tens of
// megabytes.
type Compressor struct {
	mu   sync.Mutex
	idle []*flate.Writer
}

func (c *Compressor) get() *flate.Writer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.idle); n > 0 {
		w := c.idle[n-1]
		c.idle = c.idle[:n-1]
		return w
	}
	return nil
}

func (c *Compressor) put(w *flate.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) < maxIdleWriters {
		c.idle = append(c.idle, w)
	}
}

// Payload compresses body when that makes it smaller: webhook payloads are
// repetitive JSON and shrink several times, and they are kept for the
// whole retention, so they make up most of the store file.
func (c *Compressor) Payload(body []byte) Payload {
	if len(body) < minDeflate {
		return RawPayload(body)
	}
	var buf bytes.Buffer
	buf.Grow(len(body) / 3)
	w := c.get()
	if w == nil {
		// BestSpeed: the level is valid, so NewWriter cannot fail.
		w, _ = flate.NewWriter(&buf, flate.BestSpeed)
	} else {
		w.Reset(&buf)
	}
	_, err := w.Write(body)
	if err == nil {
		err = w.Close()
	}
	c.put(w)
	if err != nil || buf.Len() >= len(body) {
		return RawPayload(body)
	}
	return Payload{b: buf.Bytes(), deflated: true}
}

// inflate reads back a payload stored compressed.
func inflate(z []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(z))
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decompress audit payload: %w", err)
	}
	return b, nil
}
