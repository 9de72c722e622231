package templates

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"
)

// Limits on one execution of a template. text/template cannot be
// interrupted from outside, so the bounds are enforced from inside: every
// function a template can call, the start of every template and every
// range, and the writer check the execution's budget, and a template that
// runs past it fails with an error rather than spinning or growing without
// end. An execution therefore stops within one function call of its
// deadline; no goroutine is left behind.
const (
	// MaxOutputBytes is how much one execution writes; the rest is
	// dropped and the text ends with TruncationMarker. Slack and Jira take
	// far less, and their notifiers truncate again.
	MaxOutputBytes = 1 << 20
	// MaxValueBytes bounds a string a function returns (more than twice a
	// 3 MiB delivery, so an escaped payload still fits).
	MaxValueBytes = 8 << 20
	// MaxSteps bounds the range iterations and template calls of one
	// execution.
	MaxSteps = 100_000
	// ExecTimeout is the time one execution may take, at load and when a
	// notification is rendered.
	ExecTimeout = time.Second
)

// budget is one execution's allowance. Only the executing goroutine uses it.
type budget struct {
	steps    int
	deadline time.Time
}

// errLimit marks an execution stopped by its budget.
var errLimit = errors.New("template limit")

func (b *budget) reset(timeout time.Duration) {
	b.steps = 0
	b.deadline = time.Now().Add(timeout)
}

// spend takes n steps and checks the clock; it panics with an error, which
// text/template turns into the execution's error.
func (b *budget) spend(n int) {
	if n < 0 || b.steps+n > MaxSteps || b.steps+n < b.steps {
		panic(fmt.Errorf("%w: more than %d loop iterations and template calls", errLimit, MaxSteps))
	}
	b.steps += n
	b.tick()
}

// tick panics once the deadline has passed; only functions may use it, as
// text/template recovers panics in function calls alone.
func (b *budget) tick() {
	if err := b.late(); err != nil {
		panic(err)
	}
}

func (b *budget) late() error {
	if time.Now().After(b.deadline) {
		return fmt.Errorf("%w: ran longer than %v", errLimit, ExecTimeout)
	}
	return nil
}

func tooLong(what string, n int) error {
	return fmt.Errorf("%w: %s would be %d bytes, more than %d", errLimit, what, n, MaxValueBytes)
}

// cappedWriter keeps the first MaxOutputBytes written and drops the rest.
type cappedWriter struct {
	b         *budget
	buf       strings.Builder
	truncated bool
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if err := w.b.late(); err != nil {
		return 0, err
	}
	if room := MaxOutputBytes - w.buf.Len(); len(p) > room {
		w.buf.Write(p[:max(room, 0)])
		w.truncated = true
		return len(p), nil
	}
	w.buf.Write(p)
	return len(p), nil
}

func (w *cappedWriter) String() string {
	if !w.truncated {
		return w.buf.String()
	}
	s := w.buf.String()
	return cutRunes(s, len(s)-len(TruncationMarker)) + TruncationMarker
}

// Names of the hooks instrument adds to parse trees. They are functions
// like any other, so text/template finds them in the function map.
const (
	stepFunc  = "_step"
	rangeFunc = "_range"
)

// boundFuncs is funcMap with every function checking b: each may run only
// within the budget and return at most MaxValueBytes of text. Functions
// whose result can outgrow their input many times over (replace, join and
// the printing builtins) check the size before building it.
func boundFuncs(b *budget, now func() time.Time) template.FuncMap {
	m := template.FuncMap{}
	for name, fn := range funcMap(now) {
		m[name] = bound(b, name, fn)
	}
	m["replace"] = bound(b, "replace", func(old, new, s string) (string, error) {
		if n := len(s) + strings.Count(s, old)*(len(new)-len(old)); n > MaxValueBytes {
			return "", tooLong("replace", n)
		}
		return strings.ReplaceAll(s, old, new), nil
	})
	m["join"] = bound(b, "join", func(sep string, list any) (string, error) {
		if v := reflect.ValueOf(list); v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
			n := max(v.Len()-1, 0) * len(sep)
			for i := range v.Len() {
				n += approxLen(v.Index(i).Interface())
			}
			if n > MaxValueBytes {
				return "", tooLong("join", n)
			}
		}
		return join(sep, list)
	})
	m["print"] = bound(b, "print", func(args ...any) (string, error) {
		if n := argsLen(args); n > MaxValueBytes {
			return "", tooLong("print", n)
		}
		return fmt.Sprint(args...), nil
	})
	m["println"] = bound(b, "println", func(args ...any) (string, error) {
		if n := argsLen(args) + len(args); n > MaxValueBytes {
			return "", tooLong("println", n)
		}
		return fmt.Sprintln(args...), nil
	})
	m["printf"] = bound(b, "printf", func(format string, args ...any) (string, error) {
		n, err := printfLen(format, args)
		if err != nil {
			return "", err
		}
		if n > MaxValueBytes {
			return "", tooLong("printf", n)
		}
		return fmt.Sprintf(format, args...), nil
	})
	for name, esc := range map[string]func(...any) string{
		"html": template.HTMLEscaper, "js": template.JSEscaper, "urlquery": template.URLQueryEscaper,
	} {
		m[name] = bound(b, name, func(args ...any) (string, error) {
			// Escaping at most sextuples a byte (& → &#34; and \u0027).
			if n := 6 * argsLen(args); n > MaxValueBytes {
				return "", tooLong(name, n)
			}
			return esc(args...), nil
		})
	}
	m[stepFunc] = func() string { b.spend(1); return "" }
	m[rangeFunc] = func(v any) any { b.spend(rangeLen(v)); return v }
	return m
}

// bound wraps fn so that it checks the budget before and after the call and
// refuses a string result over MaxValueBytes.
func bound(b *budget, name string, fn any) any {
	fv := reflect.ValueOf(fn)
	ft := fv.Type()
	return reflect.MakeFunc(ft, func(args []reflect.Value) []reflect.Value {
		b.tick()
		var out []reflect.Value
		if ft.IsVariadic() {
			out = fv.CallSlice(args)
		} else {
			out = fv.Call(args)
		}
		b.tick()
		for _, v := range out {
			if v.Kind() == reflect.String && v.Len() > MaxValueBytes {
				panic(tooLong(name, v.Len()))
			}
		}
		return out
	}).Interface()
}

// rangeLen is how many iterations a range over v takes; -1 refuses what
// has no length known up front (a channel, an iterator function).
func rangeLen(v any) int {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Invalid:
		return 0
	case reflect.Slice, reflect.Array, reflect.Map, reflect.String:
		return rv.Len()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := rv.Int()
		if n < 0 {
			return 0
		}
		if n > MaxSteps {
			return MaxSteps + 1
		}
		return int(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if n := rv.Uint(); n <= MaxSteps {
			return int(n)
		}
		return MaxSteps + 1
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return 0
		}
		return rangeLen(rv.Elem().Interface())
	}
	return -1
}

// approxLen is an upper bound on the printed size of a value that matters:
// exact for text, generous for numbers; other values are printed to measure.
func approxLen(v any) int {
	switch x := v.(type) {
	case nil:
		return 5
	case string:
		return len(x)
	case []byte:
		return len(x)
	case fmt.Stringer, error:
		return len(fmt.Sprint(x))
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return 64
	}
	return len(fmt.Sprint(v))
}

func argsLen(args []any) int {
	n := 0
	for _, a := range args {
		n += approxLen(a) + 1
	}
	return n
}

// printfLen bounds printf's output: the format, every width and precision
// it names, and each verb printing the largest argument (more for %q and
// %x, which expand). Explicit argument indexes can print one argument many
// times, which this counts too. `*` widths come from arguments and are
// refused.
func printfLen(format string, args []any) (int, error) {
	largest := 0
	for _, a := range args {
		largest = max(largest, approxLen(a))
	}
	n := len(format)
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
	verb:
		for i < len(format) {
			c := format[i]
			switch {
			case c == '*':
				return 0, fmt.Errorf("printf: widths from arguments (*) are not supported in templates")
			case c >= '0' && c <= '9':
				w := 0
				for i < len(format) && format[i] >= '0' && format[i] <= '9' {
					w = min(w*10+int(format[i]-'0'), MaxValueBytes+1)
					i++
				}
				n += w
				continue
			case strings.IndexByte("+-# .[]", c) >= 0:
				i++
				continue
			}
			switch c {
			case '%':
			case 'q':
				n += 4*largest + 2 // \xNN for each byte at worst, and the quotes
			case 'x', 'X':
				n += 3 * largest // two digits a byte, and spaces with "% x"
			default:
				n += largest + utf8.UTFMax
			}
			break verb
		}
	}
	return n, nil
}

// instrument adds the budget's hooks to a parse tree: a step at the start
// of the template, so every template call counts, and a count of the
// iterations at the head of every range. A tree is instrumented once. The
// hooks' nodes carry the position of what they guard and no tree of their
// own, so an error they raise names the template's FILE:LINE.
func instrument(tr *parse.Tree) {
	if tr == nil || tr.Root == nil || instrumented(tr.Root) {
		return
	}
	step := &parse.ActionNode{NodeType: parse.NodeAction, Pos: tr.Root.Pos, Pipe: hookPipe(tr.Root.Pos, stepFunc)}
	tr.Root.Nodes = append([]parse.Node{step}, tr.Root.Nodes...)
	walkRanges(tr.Root, func(r *parse.RangeNode) {
		r.Pipe.Cmds = append(r.Pipe.Cmds, hookPipe(r.Pos, rangeFunc).Cmds[0])
	})
}

func hookPipe(pos parse.Pos, fn string) *parse.PipeNode {
	id := parse.NewIdentifier(fn).SetPos(pos)
	cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{id}}
	return &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Cmds: []*parse.CommandNode{cmd}}
}

func instrumented(root *parse.ListNode) bool {
	if len(root.Nodes) == 0 {
		return false
	}
	a, ok := root.Nodes[0].(*parse.ActionNode)
	if !ok || a.Pipe == nil || len(a.Pipe.Cmds) != 1 || len(a.Pipe.Cmds[0].Args) != 1 {
		return false
	}
	id, ok := a.Pipe.Cmds[0].Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == stepFunc
}

func walkRanges(n parse.Node, fn func(*parse.RangeNode)) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			walkRanges(c, fn)
		}
	case *parse.RangeNode:
		fn(x)
		walkRanges(x.List, fn)
		walkRanges(x.ElseList, fn)
	case *parse.IfNode:
		walkRanges(x.List, fn)
		walkRanges(x.ElseList, fn)
	case *parse.WithNode:
		walkRanges(x.List, fn)
		walkRanges(x.ElseList, fn)
	}
}
