package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"
)

// Defaults for the intake bounds (the config's defaults are the same).
const (
	DefaultMaxUnauthenticatedBytes = 32 << 20
	DefaultMaxEvents               = 10000
)

// byteBudget bounds the bytes of request bodies held before their
// signature is checked, across all requests. A body has to be read whole
// before an HMAC over it can be checked, so without a bound anyone who
// knows the URL could make the server hold max_body_bytes per connection.
// acquire never waits: past the bound the request is answered 503 at once.
type byteBudget struct {
	mu   sync.Mutex
	used int64
	max  int64
}

func (b *byteBudget) acquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// errBudget is what readBody returns when the budget is spent.
var errBudget = errors.New("unauthenticated body budget spent")

// readChunk is how much of a body of unknown length is reserved and read
// at a time.
const readChunk = 64 << 10

// readBody reads a body of at most max bytes, holding each byte against the
// budget before it is read; held is what the caller must release. A known
// Content-Length is reserved and allocated at once, exactly.
func (h *handlers) readBody(r *http.Request, w http.ResponseWriter, max int64) (body []byte, held int64, err error) {
	if n := r.ContentLength; n >= 0 && n <= max {
		// The server's body reader stops at Content-Length: exactly n
		// bytes are read, so no MaxBytesReader is needed.
		if !h.budget.acquire(n) {
			return nil, 0, errBudget
		}
		body = make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, n, err
		}
		return body, n, nil
	}
	src := http.MaxBytesReader(w, r.Body, max)
	for {
		if !h.budget.acquire(readChunk) {
			return nil, held, errBudget
		}
		held += readChunk
		if cap(body)-len(body) < readChunk {
			grown := make([]byte, len(body), len(body)+readChunk)
			copy(grown, body)
			body = grown
		}
		n, err := io.ReadFull(src, body[len(body):len(body)+readChunk])
		body = body[:len(body)+n]
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return body, held, nil
		case err != nil:
			return nil, held, err
		}
	}
}

// tooManyElements reports whether a JSON body holds more than limit array
// elements, counting without allocating and stopping at the limit. Every
// event a source makes from JSON is an element of some array (or the one
// root value), so this bounds the events before parsing allocates them: a
// signed 2 MB delivery with a million-element entry array made a million
// events and 2.8 GB of memory. Bytes that are not JSON count nothing.
func tooManyElements(body []byte, limit int) bool {
	if len(body) <= limit {
		// Each element counted starts at a byte of its own: a body this
		// short cannot hold more, and most deliveries are.
		return false
	}
	type frame struct {
		array bool
		empty bool
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') {
		return false // a form or another format: its source bounds it
	}
	var stack []frame
	n := 0
	inString, escaped := false, false
	for _, b := range body {
		if n > limit {
			return true
		}
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inString = true
		case '[', '{':
			if len(stack) > 0 && stack[len(stack)-1].array && stack[len(stack)-1].empty {
				stack[len(stack)-1].empty = false
				n++
			}
			if len(stack) < 10000 {
				stack = append(stack, frame{array: b == '[', empty: true})
			}
			continue
		case ']', '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		case ',':
			if len(stack) > 0 && stack[len(stack)-1].array {
				n++
			}
			continue
		}
		// The first byte of a scalar or string in an array counts it.
		if len(stack) > 0 && stack[len(stack)-1].array && stack[len(stack)-1].empty {
			stack[len(stack)-1].empty = false
			n++
		}
	}
	return n > limit
}

// answer writes a webhook's JSON answer with its length and flushes it, so
// that a write that fails (the client gone, server.write_timeout passed)
// is known here: the access log and the metrics then say the client got
// nothing, rather than the status that was meant.
func (h *handlers) answer(c *gin.Context, status int, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"internal error"}`)
		status = http.StatusInternalServerError
	}
	return h.answerJSON(c, status, b)
}

// accepted is the 200 of a stored delivery, the answer to nearly every
// request: written directly, as json.Marshal of the map would (sorted
// keys), without its reflection. A delivery id is hex digits and a dash,
// nothing to escape.
func (h *handlers) accepted(c *gin.Context, deliveryID string, events int) int {
	b := make([]byte, 0, 64+len(deliveryID))
	b = append(b, `{"delivery_id":"`...)
	b = append(b, deliveryID...)
	b = append(b, `","events":`...)
	b = strconv.AppendInt(b, int64(events), 10)
	b = append(b, `,"status":"accepted"}`...)
	return h.answerJSON(c, http.StatusOK, b)
}

// answerJSON writes b, which is JSON, as the answer.
func (h *handlers) answerJSON(c *gin.Context, status int, b []byte) int {
	var err error
	// Set as gin's renderers set it: one shared value, no slice per answer.
	hdr := c.Writer.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Content-Length"] = []string{strconv.Itoa(len(b))}
	c.Status(status)
	_, err = c.Writer.Write(b)
	if err == nil {
		err = flush(c.Writer)
	}
	if err != nil {
		c.Set(answerFailedKey, fmt.Sprintf("answer %d not delivered: %v", status, err))
		return StatusNotDelivered
	}
	return status
}

var jsonContentType = []string{"application/json; charset=utf-8"}

// StatusNotDelivered is the status Observe is told, and the access log
// shows, when the answer could not be written to the client.
const StatusNotDelivered = 0

const answerFailedKey = "answer_failed"

// flush pushes the buffered answer to the connection and reports the
// connection's error. gin's writer flushes without one, so the writer it
// wraps is asked.
func flush(w http.ResponseWriter) error {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }:
			return t.FlushError()
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			return nil
		}
	}
}
