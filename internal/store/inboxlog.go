package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wabridge/wabridge/internal/delivery"
)

// The inbox is an append-only log of raw deliveries in segment files under
// storage.dir/inbox, the way a disk buffer works: a delivery is written
// once, as received, and the committer and the audit trail both read it
// there. Concurrent AddInbox calls share one write and one fdatasync (a
// group commit with no wait of its own: whoever arrives while a sync runs
// goes in the next one). What was processed is a watermark in the bbolt
// file, written in the committer's transaction, so the log is never
// rewritten; a segment is removed once it is processed and the audit
// trail's retention has passed since.
//
// A record is
//
//	magic  uint32  recordMagic
//	length uint32  of the rest
//	crc    uint32  Castagnoli, of the rest
//	rest:  seq uint64, received unix nanoseconds int64,
//	       id, source, remote address, content type (uvarint length + bytes),
//	       body (to the end)
//
// A crash can leave a torn record at the end of the last segment; nothing
// in it was acknowledged, and opening the log cuts it off. A damaged record
// elsewhere stops reads at it with a *DamagedEntryError; QuarantineInbox
// copies it out and reads resume at the next record the magic and the
// checksum find.
const (
	inboxDirName  = "inbox"
	segmentSuffix = ".seg"
	recordMagic   = 0x57414231 // "WAB1"
	headerSize    = 12
	// segmentBytes is when a segment is closed and the next one begun.
	segmentBytes = 64 << 20
	// maxRecord bounds a record's length field, so a damaged one is
	// not believed: the body limit is a few MiB.
	maxRecord = 64 << 20
	// maxGroup bounds the bytes one group commit writes.
	maxGroup = 8 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Location is where a delivery's record lives in the inbox log, which is
// how the audit trail refers to its payload.
type Location struct {
	Segment uint64 // the segment's first sequence number
	Offset  int64  // of the record
	Length  int32  // of the whole record
}

// segment is one file of the log.
type segment struct {
	first uint64 // its first sequence number; names the file
	last  uint64 // its last one, 0 when empty
	size  int64
	path  string
}

// inboxLog is the append side and the reader of the log.
type inboxLog struct {
	dir    string
	noSync bool

	reqs chan *appendReq
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex // guards segs, next and the read cache
	segs     []*segment
	next     uint64 // the sequence the next record gets
	active   *os.File
	closed   bool
	failed   error    // a write or sync failed: the log takes no more until reopened
	readPos  Location // where the record after readSeq starts
	readSeq  uint64
	readFile *os.File // the segment readPos is in
	readSeg  uint64
	// skips are damaged byte ranges moved to the quarantine: start → end.
	skips map[skipKey]int64
	// damaged is where the damaged record each read stopped at is, by
	// the sequence it reported.
	damaged map[uint64]Location
}

type skipKey struct {
	segment uint64
	offset  int64
}

type appendReq struct {
	d    delivery.Delivery
	seq  uint64
	loc  Location
	err  error
	done chan struct{}
}

// openInboxLog opens (creating when missing) dir/inbox, cuts a torn tail
// off the last segment and starts the writer. after is the highest
// sequence the store ever handed out, so numbering continues past it.
func openInboxLog(dir string, noSync bool, after uint64) (*inboxLog, error) {
	d := filepath.Join(dir, inboxDirName)
	if err := os.MkdirAll(d, 0o750); err != nil {
		return nil, fmt.Errorf("inbox log %s: cannot create it: %w", d, err)
	}
	l := &inboxLog{dir: d, noSync: noSync, reqs: make(chan *appendReq, 1024),
		stop: make(chan struct{}), done: make(chan struct{}),
		skips: map[skipKey]int64{}, damaged: map[uint64]Location{}}
	if err := l.load(after); err != nil {
		return nil, err
	}
	go l.writer()
	return l, nil
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentSuffix) }

// load finds the segments, reads the last one to its end and truncates
// what follows its last whole record.
func (l *inboxLog) load(after uint64) error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("inbox log %s: %w", l.dir, err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok || e.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("inbox log: %w", err)
		}
		l.segs = append(l.segs, &segment{first: first, size: fi.Size(), path: filepath.Join(l.dir, e.Name())})
	}
	slices.SortFunc(l.segs, func(a, b *segment) int { return cmpU64(a.first, b.first) })
	l.next = after + 1
	for i, s := range l.segs {
		tail := i == len(l.segs)-1
		last, end, err := scanSegment(s.path, tail)
		if err != nil {
			return err
		}
		s.last = last
		if tail && end < s.size {
			// A torn record of a write that was never acknowledged.
			if err := os.Truncate(s.path, end); err != nil {
				return fmt.Errorf("inbox log: cut the torn end of %s: %w", s.path, err)
			}
			s.size = end
		}
		if last >= l.next {
			l.next = last + 1
		}
		if s.first >= l.next {
			l.next = s.first
		}
	}
	return l.openActive()
}

// scanSegment returns the last sequence of a segment and the offset after
// its last whole record. Only the tail segment may end in a torn record;
// elsewhere a bad record is skipped over (it is found when read).
func scanSegment(path string, tail bool) (last uint64, end int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("inbox log: %w", err)
	}
	defer f.Close()
	r := &recordReader{f: f}
	for {
		rec, off, err := r.next()
		if errors.Is(err, io.EOF) {
			return last, r.off, nil
		}
		if err != nil {
			// Damage with a whole record after it is damage (reads report
			// it); without one it is the torn end of a write that was never
			// acknowledged, which the tail segment may have.
			if !r.resync() {
				if tail {
					return last, off, nil
				}
				return last, r.off, nil
			}
			continue
		}
		last = rec.seq
	}
}

// openActive opens the last segment for appending, or starts one.
func (l *inboxLog) openActive() error {
	if n := len(l.segs); n > 0 && l.segs[n-1].size < segmentBytes {
		f, err := os.OpenFile(l.segs[n-1].path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("inbox log: %w", err)
		}
		l.active = f
		return nil
	}
	return l.rotate()
}

// rotate closes the active segment and starts the next at l.next.
func (l *inboxLog) rotate() error {
	if l.active != nil {
		if err := l.active.Close(); err != nil {
			return fmt.Errorf("inbox log: close segment: %w", err)
		}
		l.active = nil
	}
	s := &segment{first: l.next, path: filepath.Join(l.dir, segmentName(l.next))}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("inbox log: create segment: %w", err)
	}
	if !l.noSync {
		// The new file's name must survive a crash like its records.
		if err := syncDir(l.dir); err != nil {
			_ = f.Close()
			return err
		}
	}
	l.active = f
	l.segs = append(l.segs, s)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("inbox log: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("inbox log: sync %s: %w", dir, err)
	}
	return nil
}

// append stores d and returns its sequence once it is on disk.
func (l *inboxLog) append(d delivery.Delivery) (uint64, Location, error) {
	r := &appendReq{d: d, done: make(chan struct{})}
	select {
	case <-l.stop:
		return 0, Location{}, ErrClosed
	default:
	}
	select {
	case l.reqs <- r:
	case <-l.stop:
		return 0, Location{}, ErrClosed
	}
	select {
	case <-r.done:
	case <-l.done:
		// The writer left; it may have answered r on its way out.
		select {
		case <-r.done:
		default:
			return 0, Location{}, ErrClosed
		}
	}
	return r.seq, r.loc, r.err
}

// writer is the one goroutine that writes: it takes every request that is
// waiting, writes them in one go and syncs once for all of them.
func (l *inboxLog) writer() {
	defer close(l.done)
	var buf []byte
	var group []*appendReq
	for {
		var first *appendReq
		select {
		case first = <-l.reqs:
		case <-l.stop:
			l.failAll(ErrClosed)
			return
		}
		group = append(group[:0], first)
		size := len(first.d.Body)
	more:
		for size < maxGroup {
			select {
			case r := <-l.reqs:
				group = append(group, r)
				size += len(r.d.Body)
			default:
				break more
			}
		}
		buf = l.commit(group, buf[:0])
		if cap(buf) > 2*maxGroup {
			buf = nil // one huge group must not pin its buffer
		}
	}
}

// failAll answers every request still queued.
func (l *inboxLog) failAll(err error) {
	for {
		select {
		case r := <-l.reqs:
			r.err = err
			close(r.done)
		default:
			return
		}
	}
}

func (l *inboxLog) commit(group []*appendReq, buf []byte) []byte {
	l.mu.Lock()
	err := l.failed
	if err == nil && l.segs[len(l.segs)-1].size >= segmentBytes {
		err = l.rotate()
	}
	seg := l.segs[len(l.segs)-1]
	start := seg.size
	seq := l.next
	f := l.active
	l.mu.Unlock()
	if err == nil {
		for _, r := range group {
			off := start + int64(len(buf))
			if r.d.ID == "" {
				r.d.ID = strconv.FormatUint(seq, 10)
			}
			buf = appendRecord(buf, seq, r.d)
			r.seq = seq
			r.loc = Location{Segment: seg.first, Offset: off, Length: int32(start + int64(len(buf)) - off)}
			seq++
		}
		_, err = f.Write(buf)
		if err == nil && !l.noSync {
			err = syncData(f)
		}
		if err != nil {
			// What was written past start may be half a record: cut it, so
			// the next group starts on a record boundary. Until that
			// succeeds the log refuses writes.
			if terr := f.Truncate(start); terr != nil {
				l.mu.Lock()
				l.failed = fmt.Errorf("inbox log: a write failed and its end could not be cut off (%v); restart to recover: %w", terr, err)
				l.mu.Unlock()
			}
			err = fmt.Errorf("inbox log: write: %w", err)
		}
	}
	l.mu.Lock()
	if err == nil {
		seg.size = start + int64(len(buf))
		seg.last = seq - 1
		l.next = seq
	}
	l.mu.Unlock()
	for _, r := range group {
		if err != nil {
			r.seq, r.loc, r.err = 0, Location{}, err
		}
		close(r.done)
	}
	return buf
}

func appendRecord(buf []byte, seq uint64, d delivery.Delivery) []byte {
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, recordMagic)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0) // length and crc, below
	rest := len(buf)
	buf = binary.BigEndian.AppendUint64(buf, seq)
	var at int64
	if !d.ReceivedAt.IsZero() {
		at = d.ReceivedAt.UnixNano()
	}
	buf = binary.BigEndian.AppendUint64(buf, uint64(at))
	for _, s := range []string{d.ID, d.Source, d.RemoteAddr, d.ContentType} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	buf = append(buf, d.Body...)
	binary.BigEndian.PutUint32(buf[start+4:], uint32(len(buf)-rest))
	binary.BigEndian.PutUint32(buf[start+8:], crc32.Checksum(buf[rest:], castagnoli))
	return buf
}

// record is one decoded log record.
type record struct {
	seq uint64
	d   delivery.Delivery
}

func decodeRecord(rest []byte) (record, error) {
	if len(rest) < 16 {
		return record{}, errors.New("record shorter than its header")
	}
	r := record{seq: binary.BigEndian.Uint64(rest)}
	if at := int64(binary.BigEndian.Uint64(rest[8:])); at != 0 {
		r.d.ReceivedAt = time.Unix(0, at).UTC()
	}
	p := rest[16:]
	var fields [4]string
	for i := range fields {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return record{}, errors.New("record field runs past its end")
		}
		fields[i] = string(p[k : k+int(n)])
		p = p[k+int(n):]
	}
	r.d.ID, r.d.Source, r.d.RemoteAddr, r.d.ContentType = fields[0], fields[1], fields[2], fields[3]
	r.d.Body = p
	return r, nil
}

// recordReader reads records one after another from a segment.
type recordReader struct {
	f   *os.File
	off int64
	hdr [headerSize]byte
}

// next reads the record at r.off. On success r.off moves past it; off is
// where it started.
func (r *recordReader) next() (rec record, off int64, err error) {
	off = r.off
	if _, err := r.f.ReadAt(r.hdr[:], off); err != nil {
		if errors.Is(err, io.EOF) {
			if fi, serr := r.f.Stat(); serr == nil && fi.Size() > off {
				return record{}, off, errors.New("torn record header")
			}
			return record{}, off, io.EOF
		}
		return record{}, off, err
	}
	if binary.BigEndian.Uint32(r.hdr[:]) != recordMagic {
		return record{}, off, errors.New("no record starts here")
	}
	n := binary.BigEndian.Uint32(r.hdr[4:])
	if n > maxRecord {
		return record{}, off, fmt.Errorf("record length %d is not believable", n)
	}
	rest := make([]byte, n)
	if _, err := r.f.ReadAt(rest, off+headerSize); err != nil {
		return record{}, off, fmt.Errorf("torn record: %w", err)
	}
	if crc32.Checksum(rest, castagnoli) != binary.BigEndian.Uint32(r.hdr[8:]) {
		return record{}, off, errors.New("record checksum mismatch")
	}
	rec, err = decodeRecord(rest)
	if err != nil {
		return record{}, off, err
	}
	r.off = off + headerSize + int64(n)
	return rec, off, nil
}

// resync moves r.off to the next offset after it where a whole record
// with a good checksum starts. It reports false when there is none.
func (r *recordReader) resync() bool {
	fi, err := r.f.Stat()
	if err != nil {
		return false
	}
	const chunk = 64 << 10
	var magic [4]byte
	binary.BigEndian.PutUint32(magic[:], recordMagic)
	buf := make([]byte, chunk+3)
	for pos := r.off + 1; pos < fi.Size(); pos += chunk {
		n, _ := r.f.ReadAt(buf, pos)
		for i := 0; i+4 <= n; {
			j := bytes.Index(buf[i:n], magic[:])
			if j < 0 {
				break
			}
			cand := pos + int64(i+j)
			probe := &recordReader{f: r.f, off: cand}
			if _, _, err := probe.next(); err == nil {
				r.off = cand
				return true
			}
			i += j + 1
		}
	}
	return false
}

// read returns up to limit records with a sequence above after, skipping
// those skip says to. A damaged record stops the read with a
// *DamagedEntryError naming the sequence it should have had.
func (l *inboxLog) read(after uint64, limit int, skip func(uint64) bool) ([]InboxEntry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []InboxEntry
	want := after + 1
	for si := l.segmentOf(want); si >= 0 && si < len(l.segs); si++ {
		s := l.segs[si]
		if s.last < want && s.last != 0 || s.size == 0 {
			continue
		}
		r, err := l.readerAt(s, want)
		if err != nil {
			return out, err
		}
		for r.off < s.size {
			if limit > 0 && len(out) >= limit {
				l.keep(s, r.off, want)
				return out, nil
			}
			if end, ok := l.skips[skipKey{s.first, r.off}]; ok {
				r.off = end
				continue
			}
			rec, off, err := r.next()
			if err != nil {
				l.readSeq = 0
				l.damaged[want] = Location{Segment: s.first, Offset: off}
				return out, &DamagedEntryError{Seq: want, Err: err}
			}
			if rec.seq < want {
				continue
			}
			want = rec.seq + 1
			if skip != nil && skip(rec.seq) {
				continue
			}
			out = append(out, InboxEntry{Seq: rec.seq, Delivery: rec.d,
				Location: Location{Segment: s.first, Offset: off, Length: int32(r.off - off)}})
		}
		l.keep(s, r.off, want)
	}
	return out, nil
}

// keep remembers where the record after want-1 starts, so the committer's
// next read continues there instead of scanning the segment again.
func (l *inboxLog) keep(s *segment, off int64, want uint64) {
	l.readSeq, l.readPos = want, Location{Segment: s.first, Offset: off}
}

// readerAt returns a reader positioned at or before the record of seq.
func (l *inboxLog) readerAt(s *segment, seq uint64) (*recordReader, error) {
	if l.readFile == nil || l.readSeg != s.first {
		if l.readFile != nil {
			_ = l.readFile.Close()
			l.readFile = nil
		}
		f, err := os.Open(s.path)
		if err != nil {
			return nil, fmt.Errorf("inbox log: %w", err)
		}
		l.readFile, l.readSeg = f, s.first
	}
	r := &recordReader{f: l.readFile}
	if l.readSeq == seq && l.readPos.Segment == s.first {
		r.off = l.readPos.Offset
	}
	return r, nil
}

// segmentOf is the index of the segment that holds seq (or would).
func (l *inboxLog) segmentOf(seq uint64) int {
	i, found := slices.BinarySearchFunc(l.segs, seq, func(s *segment, seq uint64) int { return cmpU64(s.first, seq) })
	if found {
		return i
	}
	return max(i-1, 0)
}

// readAt reads the record at loc, for the audit trail's payloads.
func (l *inboxLog) readAt(loc Location) (record, error) {
	l.mu.Lock()
	var path string
	for _, s := range l.segs {
		if s.first == loc.Segment {
			path = s.path
		}
	}
	l.mu.Unlock()
	if path == "" {
		return record{}, os.ErrNotExist
	}
	f, err := os.Open(path)
	if err != nil {
		return record{}, err
	}
	defer f.Close()
	rec, _, err := (&recordReader{f: f, off: loc.Offset}).next()
	return rec, err
}

// rawAt returns the bytes of the record at loc as stored, for the
// quarantine: as much as its header claims, or to the next record.
func (l *inboxLog) rawAt(loc Location) ([]byte, int64, error) {
	l.mu.Lock()
	var s *segment
	for _, x := range l.segs {
		if x.first == loc.Segment {
			s = x
		}
	}
	l.mu.Unlock()
	if s == nil {
		return nil, 0, os.ErrNotExist
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := &recordReader{f: f, off: loc.Offset}
	end := s.size
	if r.resync() {
		end = r.off
	}
	b := make([]byte, end-loc.Offset)
	if _, err := f.ReadAt(b, loc.Offset); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	return b, end, nil
}

// skip makes reads go past the damaged bytes [loc.Offset, end) of a
// segment from now on; the store keeps the range, so it holds after a
// restart too.
func (l *inboxLog) skip(loc Location, end int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.skips[skipKey{loc.Segment, loc.Offset}] = end
	l.readSeq = 0
}

// damagedAt returns where the damaged record a read reported for seq is.
func (l *inboxLog) damagedAt(seq uint64) (Location, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	loc, ok := l.damaged[seq]
	return loc, ok
}

// counts: the highest sequence handed out.
func (l *inboxLog) last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next - 1
}

// removable returns the segments wholly at or below done, except the
// active one.
func (l *inboxLog) removable(done uint64) []*segment {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*segment
	for i, s := range l.segs {
		if i == len(l.segs)-1 {
			break
		}
		next := l.segs[i+1].first
		if next-1 <= done {
			out = append(out, s)
		}
	}
	return out
}

// remove deletes a segment file.
func (l *inboxLog) remove(first uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.segs {
		if s.first != first || i == len(l.segs)-1 {
			continue
		}
		if l.readSeg == first && l.readFile != nil {
			_ = l.readFile.Close()
			l.readFile = nil
		}
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("inbox log: remove %s: %w", s.path, err)
		}
		l.segs = slices.Delete(l.segs, i, i+1)
		return nil
	}
	return nil
}

func (l *inboxLog) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.active != nil {
		err = l.active.Close()
	}
	if l.readFile != nil {
		_ = l.readFile.Close()
	}
	return err
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
