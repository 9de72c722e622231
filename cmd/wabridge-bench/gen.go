package main

import (
	"strconv"
)

// batchSize is how many statuses a batch delivery carries. Meta groups
// statuses of busy numbers into one POST; 50 keeps a batch well under the
// 3 MiB limit while making its parse cost visible.
const batchSize = 50

// Delivery shapes of the mix, in the order the generator picks them.
const (
	shapeFailed  = "failed"  // one failed status with one error code
	shapeOK      = "ok"      // one sent, delivered or read status
	shapeBatch   = "batch"   // batchSize statuses, every tenth failed
	shapeBlocked = "blocked" // 131031 from the account Meta locked
)

// failure is one error code of the mix with the title Meta sends.
type failure struct {
	code  int
	title string
}

// failures is weighted by repetition: undeliverable dominates real traffic,
// spam and throughput limits come in bursts, template errors are rarer.
var failures = [...]failure{
	{131026, "Message undeliverable"},
	{131026, "Message undeliverable"},
	{131026, "Message undeliverable"},
	{131026, "Message undeliverable"},
	{131048, "Spam rate limit hit"},
	{131048, "Spam rate limit hit"},
	{130429, "Rate limit hit"},
	{131047, "Re-engagement message"},
	{131056, "(Business Account, Consumer Account) pair rate limit hit"},
	{132001, "Template does not exist"},
	{131000, "Something went wrong"},
}

var okStatuses = [...]string{"sent", "delivered", "read"}

// Accounts of the mix. The locked account sends only its 131031 failures:
// the example rules inhibit an account's other failures while it is
// blocked, and a bench that mixed them would measure the inhibition.
const (
	blockedWABA    = "102290129349999"
	wabaCount      = 8 // healthy accounts
	numbersPerWABA = 4
)

// generator builds signed-ready Meta deliveries. Body(seq) is a pure
// function of seq and the generator's fields, so the events a delivery
// carried can be recomputed after the run instead of being recorded on
// the hot path.
type generator struct {
	tag       string // distinguishes phases, so message ids never repeat across them
	timestamp int64  // unix seconds written into every status
}

// mix returns a well-spread 64-bit value for seq (splitmix64), so the
// shapes interleave instead of arriving in runs.
func mix(seq uint64) uint64 {
	z := seq + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// shape picks the delivery shape of seq: 45% single failures, 40% single
// delivered/read/sent, 12% batches, 3% account locked.
func (g *generator) shape(seq uint64) string {
	switch r := mix(seq) % 100; {
	case r < 45:
		return shapeFailed
	case r < 85:
		return shapeOK
	case r < 97:
		return shapeBatch
	default:
		return shapeBlocked
	}
}

// Body returns the delivery for seq.
func (g *generator) Body(seq uint64) []byte {
	h := mix(seq)
	shape := g.shape(seq)
	waba := 1 + int(h>>8)%wabaCount
	wabaID := "1022901293400" + pad(waba, 2)
	phone := waba*numbersPerWABA + int(h>>16)%numbersPerWABA
	if shape == shapeBlocked {
		wabaID, phone = blockedWABA, 0
	}
	b := make([]byte, 0, g.sizeHint(shape))
	b = append(b, `{"object":"whatsapp_business_account","entry":[{"id":"`...)
	b = append(b, wabaID...)
	b = append(b, `","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1555010`...)
	b = append(b, pad(phone, 4)...)
	b = append(b, `","phone_number_id":"10654035224`...)
	b = append(b, pad(phone, 4)...)
	b = append(b, `"},"statuses":[`...)
	switch shape {
	case shapeFailed:
		f := failures[int(h>>24)%len(failures)]
		b = g.status(b, seq, 0, "failed", f)
	case shapeOK:
		b = g.status(b, seq, 0, okStatuses[int(h>>24)%len(okStatuses)], failure{})
	case shapeBlocked:
		b = g.status(b, seq, 0, "failed", failure{131031, "Business Account locked"})
	case shapeBatch:
		for i := range batchSize {
			if i > 0 {
				b = append(b, ',')
			}
			hi := mix(seq<<8 | uint64(i))
			if i%10 == 9 {
				b = g.status(b, seq, i, "failed", failures[int(hi>>24)%len(failures)])
				continue
			}
			b = g.status(b, seq, i, okStatuses[int(hi>>24)%len(okStatuses)], failure{})
		}
	}
	b = append(b, `]},"field":"messages"}]}]}`...)
	return b
}

func (g *generator) sizeHint(shape string) int {
	if shape == shapeBatch {
		return 400 + batchSize*420
	}
	return 900
}

// status appends one statuses[] item. The wamid carries the phase tag, the
// delivery and the item index, so every status of a run is a new message.
func (g *generator) status(b []byte, seq uint64, i int, status string, f failure) []byte {
	b = append(b, `{"id":"wamid.HBgLBENCH`...)
	b = append(b, g.tag...)
	b = append(b, '.')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `","status":"`...)
	b = append(b, status...)
	b = append(b, `","timestamp":"`...)
	b = strconv.AppendInt(b, g.timestamp, 10)
	b = append(b, `","recipient_id":"1555`...)
	b = append(b, pad(int((seq*31+uint64(i)*7)%10_000_000), 7)...)
	b = append(b, '"')
	if f.code == 0 {
		b = append(b, `,"conversation":{"id":"c0ffee`...)
		b = strconv.AppendUint(b, seq, 16)
		b = append(b, `","origin":{"type":"utility"}},"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}}`...)
		return b
	}
	b = append(b, `,"errors":[{"code":`...)
	b = strconv.AppendInt(b, int64(f.code), 10)
	b = append(b, `,"title":"`...)
	b = append(b, f.title...)
	b = append(b, `","message":"`...)
	b = append(b, f.title...)
	b = append(b, `","error_data":{"details":"`...)
	b = append(b, f.title...)
	b = append(b, `."},"href":"/documentation/business-messaging/whatsapp/support/error-codes"}]}`...)
	return b
}

// pad formats n with at least width digits.
func pad(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}
