package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/config"
	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/sources"
)

// RulesTestFile is a file of rule unit tests, as `wabridge test rules`
// reads it.
type RulesTestFile struct {
	// RuleFiles, when set, replace the config's rules.files (relative to
	// the tests file).
	RuleFiles []string    `yaml:"rule_files"`
	Tests     []RulesCase `yaml:"tests"`
}

// RulesCase is one test: a payload, optionally after prior payloads, and
// the notifications it must queue.
type RulesCase struct {
	Name   string      `yaml:"name"`
	Source string      `yaml:"source"`
	At     string      `yaml:"at"` // RFC 3339; default 2026-01-05T10:00:00Z (a Monday)
	Prior  []RulesStep `yaml:"prior"`
	// Payload is a file (relative to the tests file) or inline JSON, as a
	// string or as YAML.
	Payload yaml.Node `yaml:"payload"`
	// After, when set, moves the clock on by this long after the payload
	// and lets time decide (group_wait, resolve_after).
	After string `yaml:"after"`
	// Expect lists the notifications, or is the word none.
	Expect yaml.Node `yaml:"expect"`
	line   int
}

// RulesStep is a prior payload.
type RulesStep struct {
	Payload yaml.Node `yaml:"payload"`
	Source  string    `yaml:"source"`
	// After is how long after the previous step it arrives.
	After string `yaml:"after"`
}

// Expected is one notification a test expects.
type Expected struct {
	Rule     string `yaml:"rule"`
	Notifier string `yaml:"notifier"`
	Target   string `yaml:"target"`
	Op       string `yaml:"op"`
}

func (e Expected) String() string {
	op := e.Op
	if op == "" {
		op = "open"
	}
	return fmt.Sprintf("rule=%s notifier=%s target=%s op=%s", e.Rule, e.Notifier, e.Target, op)
}

// RulesCaseResult is how one test went.
type RulesCaseResult struct {
	File   string
	Line   int
	Name   string
	Passed bool
	// Diff lines: "-" expected and missing, "+" queued and not expected.
	Diff []string
	// Err is a test that could not run (a missing payload file, a rule
	// that does not exist).
	Err string
}

var defaultTestClock = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

// RunRulesTests runs every case of a tests file against the config's
// sources, notifiers and templates, and its rules or the file's.
func RunRulesTests(ctx context.Context, cfgPath, testsPath string) ([]RulesCaseResult, error) {
	raw, err := os.ReadFile(testsPath)
	if err != nil {
		return nil, err
	}
	var f RulesTestFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", testsPath, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err == nil {
		setCaseLines(&doc, f.Tests)
	}
	if len(f.Tests) == 0 {
		return nil, fmt.Errorf("%s: no tests (want a tests: list)", testsPath)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(testsPath)
	if len(f.RuleFiles) > 0 {
		cfg.Rules.Files = nil
		for _, rf := range f.RuleFiles {
			if !filepath.IsAbs(rf) {
				rf, _ = filepath.Abs(filepath.Join(dir, rf))
			}
			cfg.Rules.Files = append(cfg.Rules.Files, rf)
		}
	}
	problems := cfg.Problems()
	srcs, err := BuildSources(cfg)
	problems.Append(err)
	rt, err := BuildRuntime(cfg, slog.New(slog.DiscardHandler))
	problems.Append(err)
	if len(problems) > 0 {
		return nil, problems
	}
	defer rt.Close()
	var out []RulesCaseResult
	for _, c := range f.Tests {
		res := RulesCaseResult{File: testsPath, Line: c.line, Name: c.Name}
		diff, err := runCase(ctx, cfg, srcs, rt, dir, c)
		switch {
		case err != nil:
			res.Err = err.Error()
		default:
			res.Diff, res.Passed = diff, len(diff) == 0
		}
		out = append(out, res)
	}
	return out, nil
}

func setCaseLines(doc *yaml.Node, cases []RulesCase) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "tests" && m.Content[i+1].Kind == yaml.SequenceNode {
			for j, n := range m.Content[i+1].Content {
				if j < len(cases) {
					cases[j].line = n.Line
				}
			}
		}
	}
}

func runCase(ctx context.Context, cfg *config.Config, srcs map[string]sources.Source, rt *Runtime, dir string, c RulesCase) ([]string, error) {
	clock := defaultTestClock
	if c.At != "" {
		t, err := time.Parse(time.RFC3339, c.At)
		if err != nil {
			return nil, fmt.Errorf("at %q: want an RFC 3339 time such as 2026-01-05T10:00:00Z", c.At)
		}
		clock = t
	}
	want, err := expected(c.Expect, rt)
	if err != nil {
		return nil, err
	}
	d, err := NewDryRun(cfg, srcs, rt, admin.DryRunOptions{Clock: clock})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	for i, p := range c.Prior {
		if p.After != "" {
			step, err := duration.Parse(p.After)
			if err != nil {
				return nil, fmt.Errorf("prior %d: after: %w", i+1, err)
			}
			clock = clock.Add(step)
			d.SetClock(clock)
		}
		body, err := payloadOf(p.Payload, dir)
		if err != nil {
			return nil, fmt.Errorf("prior %d: %w", i+1, err)
		}
		if _, err := d.Deliver(ctx, firstNonEmpty(p.Source, c.Source), "", body); err != nil {
			return nil, fmt.Errorf("prior %d: %w", i+1, err)
		}
	}
	body, err := payloadOf(c.Payload, dir)
	if err != nil {
		return nil, err
	}
	rep, err := d.Deliver(ctx, c.Source, "", body)
	if err != nil {
		return nil, err
	}
	got := rep.Notifications
	if c.After != "" {
		step, err := duration.Parse(c.After)
		if err != nil {
			return nil, fmt.Errorf("after: %w", err)
		}
		d.SetClock(clock.Add(step))
		later, err := d.Tick(ctx)
		if err != nil {
			return nil, err
		}
		got = append(got, later.Notifications...)
	}
	var have []string
	for _, n := range got {
		have = append(have, Expected{Rule: n.Rule, Notifier: n.Notifier, Target: n.Target, Op: n.Op}.String())
	}
	var wantS []string
	for _, e := range want {
		wantS = append(wantS, e.String())
	}
	return diffLines(wantS, have), nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// expected reads expect: none, or a list of notifications whose rules must
// exist.
func expected(n yaml.Node, rt *Runtime) ([]Expected, error) {
	switch {
	case n.Kind == 0:
		return nil, fmt.Errorf("expect: missing (a list of {rule, notifier, target, op}, or none)")
	case n.Kind == yaml.ScalarNode && n.Value == "none":
		return nil, nil
	case n.Kind != yaml.SequenceNode:
		return nil, fmt.Errorf("line %d: expect: want a list of {rule, notifier, target, op}, or none", n.Line)
	}
	var out []Expected
	for _, item := range n.Content {
		var e Expected
		if err := item.Decode(&e); err != nil {
			return nil, fmt.Errorf("line %d: expect: %w", item.Line, err)
		}
		if e.Rule == "" || e.Notifier == "" {
			return nil, fmt.Errorf("line %d: expect: each notification needs rule and notifier", item.Line)
		}
		if rt.Rules.Rule(e.Rule) == nil {
			var names []string
			for _, r := range rt.Rules.Rules() {
				names = append(names, r.Name)
			}
			return nil, fmt.Errorf("line %d: expect: no rule named %q (rules: %s)", item.Line, e.Rule, strings.Join(names, ", "))
		}
		if e.Op == "" {
			e.Op = "open"
		}
		out = append(out, e)
	}
	return out, nil
}

// payloadOf reads a payload: inline JSON (a string starting with { or [,
// or YAML mapping or list) or a file relative to the tests file.
func payloadOf(n yaml.Node, dir string) ([]byte, error) {
	switch n.Kind {
	case 0:
		return nil, fmt.Errorf("payload: missing (a file, or inline JSON)")
	case yaml.MappingNode, yaml.SequenceNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: payload: %w", n.Line, err)
		}
		return json.Marshal(v)
	}
	s := strings.TrimSpace(n.Value)
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return []byte(s), nil
	}
	p := s
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("line %d: payload %s: %w", n.Line, s, err)
	}
	return bytes.TrimSpace(b), nil
}

// diffLines compares two lists as multisets, in order: "-" for a wanted
// line missing, "+" for a line got and not wanted.
func diffLines(want, got []string) []string {
	left := map[string]int{}
	for _, g := range got {
		left[g]++
	}
	var out []string
	for _, w := range want {
		if left[w] > 0 {
			left[w]--
			continue
		}
		out = append(out, "- "+w)
	}
	extra := map[string]int{}
	for _, w := range want {
		extra[w]++
	}
	for _, g := range got {
		if extra[g] > 0 {
			extra[g]--
			continue
		}
		out = append(out, "+ "+g)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i][0] == '-' && out[j][0] == '+' })
	return out
}
