package main

import (
	"fmt"
	"strconv"
	"strings"
)

// batchSize is how many statuses a batch delivery carries. Meta groups
// statuses of busy numbers into one POST; 50 keeps a batch well under the
// 3 MiB limit while making its parse cost visible.
const batchSize = 50

// Delivery shapes, one per kind of POST the bench sends.
const (
	shapeFailed   = "failed"   // one failed status with one error code
	shapeOK       = "ok"       // one sent, delivered or read status
	shapeBatch    = "batch"    // batchSize statuses, a few of them failed
	shapeBlocked  = "blocked"  // 131031 from the account Meta locked
	shapeIncoming = "incoming" // one message a customer sent
	shapeAccount  = "account"  // an account_update (policy violation)
	shapeTemplate = "template" // a template status or quality update
)

// mixSpec is a traffic mix: shapes with their weight per thousand
// deliveries, and how often a status in a batch failed.
type mixSpec struct {
	name string
	// shapes are in the order the weights are cumulated; weights add up
	// to 1000.
	shapes []weighted
	// batchFailEvery: every n-th status of a batch failed.
	batchFailEvery int
}

type weighted struct {
	shape  string
	weight int // per thousand
}

// The mixes. Realistic is what a business that sends notifications sees:
// each message it sends comes back as three statuses (sent, delivered,
// read), almost all of them one per POST, and a few percent of its
// messages fail; customers reply now and then; account and template
// events are rare.
//
//	realistic (per thousand deliveries)
//	  880 ok        single sent/delivered/read: the bulk of the webhook traffic
//	   40 failed    single failed status: 2-5% of sent messages fail, most as
//	                131026 (undeliverable), some spam and rate limits
//	   40 batch     50 statuses in one POST (Meta batches busy numbers), one
//	                in 25 failed
//	   30 incoming  a customer's text message
//	    5 account   account_update (policy violation): a few a day in real
//	                life, over-represented so the path is measured at all
//	    5 template  template rejected or quality changed: likewise
//
// Outage is the mix of an outage of Meta or of a number: 45% single
// failures in bursts of one code, 12% batches with every tenth status
// failed, 3% from a locked account, the rest single successes.
var (
	mixRealistic = mixSpec{name: "realistic", batchFailEvery: 25, shapes: []weighted{
		{shapeOK, 880}, {shapeFailed, 40}, {shapeBatch, 40}, {shapeIncoming, 30}, {shapeAccount, 5}, {shapeTemplate, 5},
	}}
	mixOutage = mixSpec{name: "outage", batchFailEvery: 10, shapes: []weighted{
		{shapeFailed, 450}, {shapeOK, 400}, {shapeBatch, 120}, {shapeBlocked, 30},
	}}
	mixes = []mixSpec{mixRealistic, mixOutage}
)

// mixNamed returns the mix called name.
func mixNamed(name string) (mixSpec, error) {
	var names []string
	for _, m := range mixes {
		if m.name == name {
			return m, nil
		}
		names = append(names, m.name)
	}
	return mixSpec{}, fmt.Errorf("mix %q: want one of %s", name, strings.Join(names, ", "))
}

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
	mix       mixSpec
}

// spec is the generator's mix; the zero generator sends the realistic one.
func (g *generator) spec() *mixSpec {
	if len(g.mix.shapes) == 0 {
		return &mixRealistic
	}
	return &g.mix
}

// mix returns a well-spread 64-bit value for seq (splitmix64), so the
// shapes interleave instead of arriving in runs.
func mix(seq uint64) uint64 {
	z := seq + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// shape picks the delivery shape of seq by the mix's weights.
func (g *generator) shape(seq uint64) string {
	s := g.spec()
	r := int(mix(seq) % 1000)
	for _, w := range s.shapes {
		if r < w.weight {
			return w.shape
		}
		r -= w.weight
	}
	return s.shapes[len(s.shapes)-1].shape
}

// events is how many events the delivery of a shape carries.
func events(shape string) int {
	if shape == shapeBatch {
		return batchSize
	}
	return 1
}

// Body returns the delivery for seq.
func (g *generator) Body(seq uint64) []byte {
	h := mix(seq)
	shape := g.shape(seq)
	waba := 1 + int(h>>8)%wabaCount
	wabaID := "1022901293400" + pad(waba, 2)
	phone := waba*numbersPerWABA + int(h>>16)%numbersPerWABA
	switch shape {
	case shapeBlocked:
		wabaID, phone = blockedWABA, 0
	case shapeAccount, shapeTemplate:
		return g.accountLevel(shape, seq, h, wabaID)
	}
	b := make([]byte, 0, g.sizeHint(shape))
	b = append(b, `{"object":"whatsapp_business_account","entry":[{"id":"`...)
	b = append(b, wabaID...)
	b = append(b, `","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1555010`...)
	b = append(b, pad(phone, 4)...)
	b = append(b, `","phone_number_id":"10654035224`...)
	b = append(b, pad(phone, 4)...)
	if shape == shapeIncoming {
		from := "1555" + pad(int((seq*31)%10_000_000), 7)
		b = append(b, `"},"contacts":[{"profile":{"name":"Bench Customer"},"wa_id":"`...)
		b = append(b, from...)
		b = append(b, `"}],"messages":[{"from":"`...)
		b = append(b, from...)
		b = append(b, `","id":"wamid.HBgLBENCHIN`...)
		b = append(b, g.tag...)
		b = append(b, '.')
		b = strconv.AppendUint(b, seq, 10)
		b = append(b, `","timestamp":"`...)
		b = strconv.AppendInt(b, g.timestamp, 10)
		b = append(b, `","type":"text","text":{"body":"Hello, is my order on its way?"}}]},"field":"messages"}]}]}`...)
		return b
	}
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
		every := g.spec().batchFailEvery
		for i := range batchSize {
			if i > 0 {
				b = append(b, ',')
			}
			hi := mix(seq<<8 | uint64(i))
			if every > 0 && i%every == every-1 {
				b = g.status(b, seq, i, "failed", failures[int(hi>>24)%len(failures)])
				continue
			}
			b = g.status(b, seq, i, okStatuses[int(hi>>24)%len(okStatuses)], failure{})
		}
	}
	b = append(b, `]},"field":"messages"}]}]}`...)
	return b
}

// templateNames are the templates whose status and quality change.
var templateNames = [...]string{"order_update", "shipping_notice", "abandoned_cart", "otp_login"}

// accountLevel builds an account_update or a template event. Such events
// carry no id of their own: Meta's entry time tells repeats apart, so it
// is the run's time stamp in milliseconds plus seq, which keeps each
// delivery's events new.
func (g *generator) accountLevel(shape string, seq, h uint64, wabaID string) []byte {
	b := make([]byte, 0, 512)
	b = append(b, `{"object":"whatsapp_business_account","entry":[{"id":"`...)
	b = append(b, wabaID...)
	b = append(b, `","time":`...)
	b = strconv.AppendInt(b, g.timestamp*1000+int64(seq), 10)
	b = append(b, `,"changes":[{"value":`...)
	if shape == shapeAccount {
		b = append(b, `{"event":"ACCOUNT_VIOLATION","violation_info":{"violation_type":"SCAM"}},"field":"account_update"}]}]}`...)
		return b
	}
	name := templateNames[int(h>>24)%len(templateNames)]
	if h>>32&1 == 0 {
		b = append(b, `{"event":"REJECTED","message_template_id":`...)
		b = strconv.AppendUint(b, 1689556908000000+uint64(int(h>>24)%len(templateNames)), 10)
		b = append(b, `,"message_template_name":"`...)
		b = append(b, name...)
		b = append(b, `","message_template_language":"en","reason":"INVALID_FORMAT","message_template_category":"UTILITY"},"field":"message_template_status_update"}]}]}`...)
		return b
	}
	b = append(b, `{"previous_quality_score":"GREEN","new_quality_score":"YELLOW","message_template_id":`...)
	b = strconv.AppendUint(b, 1689556908000000+uint64(int(h>>24)%len(templateNames)), 10)
	b = append(b, `,"message_template_name":"`...)
	b = append(b, name...)
	b = append(b, `","message_template_language":"en"},"field":"message_template_quality_update"}]}]}`...)
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
