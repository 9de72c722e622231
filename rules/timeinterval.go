package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// timeInterval is one entry of active_time or mute_time: the weekdays and
// times of day, in a location, when it applies.
type timeInterval struct {
	days  uint8       // bit per time.Weekday; all bits when weekdays is absent
	times []timeRange // minutes since midnight; none: the whole day
	loc   *time.Location
}

// timeRange is [start, end) in minutes since midnight.
type timeRange struct{ start, end int }

const allDays = 1<<7 - 1

func (ti *timeInterval) contains(t time.Time) bool {
	lt := t.In(ti.loc)
	if ti.days&(1<<uint(lt.Weekday())) == 0 {
		return false
	}
	if len(ti.times) == 0 {
		return true
	}
	m := lt.Hour()*60 + lt.Minute()
	for _, r := range ti.times {
		if m >= r.start && m < r.end {
			return true
		}
	}
	return false
}

var weekdayNames = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func (l *loader) parseIntervals(n *yaml.Node, what string) []timeInterval {
	var out []timeInterval
	for _, item := range l.seq(n, what) {
		if ti, ok := l.parseInterval(item, what); ok {
			out = append(out, ti)
		}
	}
	return out
}

func (l *loader) parseInterval(n *yaml.Node, what string) (timeInterval, bool) {
	ti := timeInterval{days: allDays, loc: time.UTC}
	f, ok := l.mapping(n, what+" entry", nil, "weekdays", "times", "location")
	if !ok {
		return ti, false
	}
	before := len(l.errs)
	if v := f.get("location"); v != nil {
		if name, ok := l.nonEmpty(v, what+".location"); ok {
			loc, err := time.LoadLocation(name)
			if err != nil {
				l.errorf(v, "%s.location: unknown time zone %q (use an IANA name like Europe/Madrid)", what, name)
			} else {
				ti.loc = loc
			}
		}
	}
	if v := f.get("weekdays"); v != nil {
		var days uint8
		for _, item := range l.seq(v, what+".weekdays") {
			s, ok := l.nonEmpty(item, what+".weekdays entry")
			if !ok {
				continue
			}
			d, err := parseWeekdays(s)
			if err != nil {
				l.errorf(item, "%s.weekdays: %v", what, err)
				continue
			}
			days |= d
		}
		if days != 0 {
			ti.days = days
		}
	}
	if v := f.get("times"); v != nil {
		for _, item := range l.seq(v, what+".times") {
			tf, ok := l.mapping(item, what+".times entry", nil, "start", "end")
			if !ok {
				continue
			}
			var r timeRange
			okStart, okEnd := false, false
			for _, side := range []string{"start", "end"} {
				sv := tf.get(side)
				if sv == nil {
					l.errorf(item, "%s.times entry needs start and end (\"09:00\", \"17:30\")", what)
					break
				}
				s, ok := l.nonEmpty(sv, what+".times."+side)
				if !ok {
					continue
				}
				m, err := parseClock(s)
				if err != nil {
					l.errorf(sv, "%s.times.%s: %v", what, side, err)
					continue
				}
				if side == "start" {
					r.start, okStart = m, true
				} else {
					r.end, okEnd = m, true
				}
			}
			if !okStart || !okEnd {
				continue
			}
			if r.start >= r.end {
				l.errorf(item, "%s.times: start must be before end; split a window that crosses midnight into two (22:00-24:00 and 00:00-06:00)", what)
				continue
			}
			ti.times = append(ti.times, r)
		}
	}
	return ti, len(l.errs) == before
}

// parseWeekdays reads "monday" or a range "monday:friday"; a range may wrap
// past Saturday ("friday:monday" is a long weekend).
func parseWeekdays(s string) (uint8, error) {
	a, b, isRange := strings.Cut(strings.ToLower(strings.TrimSpace(s)), ":")
	from, ok := weekdayNames[strings.TrimSpace(a)]
	if !ok {
		return 0, fmt.Errorf("%q is not a weekday (monday ... sunday, or a range like monday:friday)", s)
	}
	to := from
	if isRange {
		if to, ok = weekdayNames[strings.TrimSpace(b)]; !ok {
			return 0, fmt.Errorf("%q is not a weekday (monday ... sunday, or a range like monday:friday)", s)
		}
	}
	var days uint8
	for d := from; ; d = (d + 1) % 7 {
		days |= 1 << uint(d)
		if d == to {
			break
		}
	}
	return days, nil
}

// parseClock reads "HH:MM" (00:00 to 24:00) into minutes since midnight.
func parseClock(s string) (int, error) {
	bad := fmt.Errorf("%q is not a time of day like 09:00 or 17:30", s)
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(m) != 2 || len(h) == 0 || len(h) > 2 {
		return 0, bad
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, bad
	}
	return hh*60 + mm, nil
}
