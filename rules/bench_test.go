package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/notifiers/builtin"
)

// benchRules generates n rules mixing what real files hold: exact codes,
// ranges, codes narrowed by attributes, kind/status rules with regexp
// attributes, a few `when` rules and catch-alls near the end.
func benchRules(n int) string {
	kinds := []string{"status", "error", "account_update", "template_status", "connection", "quality_update"}
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: r%d\n    actions: [{log: {}}]\n", i)
		switch {
		case i%100 == 99:
			fmt.Fprintf(&b, "    match: {kinds: [message]}\n    when: 'message contains \"w%d\"'\n", i)
		case i%5 == 0:
			fmt.Fprintf(&b, "    match: {codes: [%d]}\n", 100000+i)
		case i%5 == 1:
			fmt.Fprintf(&b, "    match: {codes: [\"%d-%d\"], kinds: [status]}\n", 200000+i*10, 200000+i*10+9)
		case i%5 == 2:
			fmt.Fprintf(&b, "    match: {codes: [%d], attributes: {template_name: t%d}}\n", 300000+i%50, i)
		case i%5 == 3:
			fmt.Fprintf(&b, "    match: {kinds: [%s], statuses: [s%d], attributes: {x: \"~v%d_.*\"}}\n", kinds[i%len(kinds)], i%7, i)
		case i%5 == 4:
			fmt.Fprintf(&b, "    match: {codes: [%d, \"500000-500999\"], severities: [critical], phone_number_ids: [\"p%d\"]}\n", 400000+i%100, i)
		}
	}
	return b.String()
}

func BenchmarkMatch1000Rules(b *testing.B) {
	s := mustParse(b, benchRules(1000))
	cases := []struct {
		name string
		e    event.Event
		want string
	}{
		{"early", event.Event{Code: 100000, Kind: event.KindStatus}, "r0"},
		{"late-exact", event.Event{Code: 100995, Kind: event.KindStatus}, "r995"},
		{"late-range", event.Event{Code: 209915, Kind: event.KindStatus}, "r991"},
		// 20 rules share code 300047; the attribute picks the last one.
		{"late-shared-code-attribute", event.Event{Code: 300047, Attributes: map[string]string{"template_name": "t997"}}, "r997"},
		// Every status rule with a regexp is a candidate; the last matches.
		{"late-kind-regexp", event.Event{Kind: event.KindStatus, Status: "s3", Attributes: map[string]string{"x": "v948_a"}}, "r948"},
		// 200 rules cover the range; the phone number picks the last one.
		{"late-overlapping-ranges", event.Event{Code: 500500, Severity: event.SeverityCritical, PhoneNumberID: "p994"}, "r994"},
		{"late-when", event.Event{Kind: event.KindMessage, Message: "hello w899"}, "r899"},
		{"never-code", event.Event{Code: 999999, Kind: event.KindStatus, Status: "failed"}, ""},
		{"never-kind-regexp", event.Event{Kind: event.KindStatus, Status: "s3", Attributes: map[string]string{"x": "zzz"}}, ""},
		{"never-range", event.Event{Code: 500500, Severity: event.SeverityCritical, PhoneNumberID: "nobody"}, ""},
		{"never-message-when", event.Event{Kind: event.KindMessage, Message: "hello"}, ""},
	}
	for _, c := range cases {
		got := s.Match(&c.e)
		if name := strings.Join(names(got), ","); name != c.want {
			b.Fatalf("%s: Match = %q, want %q", c.name, name, c.want)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Match(&c.e)
			}
		})
	}
}

func BenchmarkLoad1000Rules(b *testing.B) {
	src := []byte(benchRules(1000))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse("bench.yaml", src, Options{Specs: builtin.Specs()}); err != nil {
			b.Fatal(err)
		}
	}
}
