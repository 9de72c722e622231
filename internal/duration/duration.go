// Package duration is wabridge's one duration grammar, used by config keys,
// rule keys, CLI flags and admin API parameters alike: Prometheus's forms
// (90s, 15m, 1h30m, 7d, 1w, 1y; units in decreasing order, each once) and,
// so that existing files keep working, Go's (1.5h, 250ms).
package duration

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Form is what an error says the accepted form is.
const Form = "a number and a unit, largest first: 90s, 15m, 1h30m, 7d, 1w (units ms, s, m, h, d, w, y)"

// units in the order Prometheus requires them.
var units = []struct {
	name string
	d    time.Duration
}{
	{"y", 365 * 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
	{"ms", time.Millisecond},
}

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("not a duration")

// Parse reads a duration. "0" is zero; a negative duration is an error.
func Parse(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "0" {
		return 0, nil
	}
	if d, ok := parseProm(in); ok {
		return d, nil
	}
	// Go's forms only where Prometheus's have no word: fractions and units
	// below a millisecond.
	if !strings.ContainsAny(in, ".uµn") {
		return 0, fmt.Errorf("%q is %w; use %s", s, ErrSyntax, Form)
	}
	if d, err := time.ParseDuration(in); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("%q is negative: %w", s, ErrSyntax)
		}
		return d, nil
	}
	return 0, fmt.Errorf("%q is %w; use %s", s, ErrSyntax, Form)
}

func parseProm(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var total time.Duration
	next := 0 // index into units: each unit once, largest first
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 12 {
			return 0, false
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, false
		}
		s = s[i:]
		found := false
		for j := next; j < len(units); j++ {
			u := units[j]
			// "m" must not take the "m" of "ms".
			if strings.HasPrefix(s, u.name) && !(u.name == "m" && strings.HasPrefix(s, "ms")) {
				if n > int64((1<<63-1)/u.d) {
					return 0, false
				}
				total += time.Duration(n) * u.d
				if total < 0 {
					return 0, false
				}
				s = s[len(u.name):]
				next, found = j+1, true
				break
			}
		}
		if !found {
			return 0, false
		}
	}
	return total, true
}

// Format writes d in the grammar's own form (1w, 1h30m, 90s -> 1m30s),
// falling back to Go's form for what it cannot write (sub-millisecond).
func Format(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	if d < 0 || d%time.Millisecond != 0 {
		return d.String()
	}
	var b strings.Builder
	for _, u := range units {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			d -= n * u.d
		}
	}
	return b.String()
}

// Value is a time.Duration flag that reads the grammar; it satisfies
// pflag.Value.
type Value struct{ D *time.Duration }

// NewValue sets *p to def and returns a flag value writing to p.
func NewValue(p *time.Duration, def time.Duration) *Value {
	*p = def
	return &Value{D: p}
}

func (v *Value) String() string {
	if v == nil || v.D == nil {
		return "0s"
	}
	return Format(*v.D)
}

// Set parses a flag's text.
func (v *Value) Set(s string) error {
	d, err := Parse(s)
	if err != nil {
		return err
	}
	*v.D = d
	return nil
}

// Type is the name pflag prints in usage.
func (v *Value) Type() string { return "duration" }
