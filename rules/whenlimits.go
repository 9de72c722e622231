package rules

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/wabridge/wabridge/internal/event"
)

// A `when` expression runs on the committer for every candidate event, so
// one that allocates or loops without bound takes the whole process down
// (and, its delivery still in the inbox, every restart after it). expr
// bounds arrays and ranges by its memory budget but not strings, and its
// loops and `let` reuse values, which turns linear growth into exponential
// growth. So a `when` is kept to what a predicate over one event needs:
// comparisons, `in`, `contains`, `startsWith`, `matches` with a literal
// pattern, and the builtins listed in whenBuiltins, whose results are at
// most a small multiple of their input; string `+` is capped at
// maxWhenString; and every expression is run against sample events at load.
const (
	// maxWhenNodes bounds an expression's size (expr's default is 10,000).
	maxWhenNodes = 1000
	// whenMemoryBudget is expr's budget of array and range elements per run.
	whenMemoryBudget = 10_000
	// maxWhenString bounds a string built by + (more than twice a 3 MiB
	// delivery's longest field).
	maxWhenString = 8 << 20
)

// whenBuiltins are the builtins a `when` may call: none loops, and none
// returns more than a few times what it was given.
var whenBuiltins = map[string]bool{
	"len": true, "abs": true, "ceil": true, "floor": true, "round": true, "int": true, "float": true,
	"string": true, "trim": true, "trimPrefix": true, "trimSuffix": true, "upper": true, "lower": true,
	"indexOf": true, "lastIndexOf": true, "hasPrefix": true, "hasSuffix": true, "max": true, "min": true,
	"first": true, "last": true, "get": true, "keys": true, "values": true, "type": true,
	"now": true, "duration": true, "date": true,
}

var errWhenLimit = errors.New("string longer than the limit for when expressions")

// whenOptions compile a `when`: typed against the event, boolean, small,
// and with string + capped.
func whenOptions() []expr.Option {
	return []expr.Option{
		expr.Env(&exprEnv{}), expr.AsBool(), expr.MaxNodes(maxWhenNodes),
		expr.Function("_concat", func(params ...any) (any, error) {
			a, b := params[0].(string), params[1].(string)
			if len(a)+len(b) > maxWhenString {
				return nil, fmt.Errorf("%w (%d bytes)", errWhenLimit, maxWhenString)
			}
			return a + b, nil
		}, new(func(string, string) string)),
		expr.Operator("+", "_concat"),
	}
}

// checkWhenShape refuses what can allocate or loop without bound, each
// reason said in words a rule author can act on.
func checkWhenShape(src string) error {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil // Compile reports it, with its position
	}
	v := &shapeCheck{}
	ast.Walk(&tree.Node, v)
	if len(v.problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(v.problems, "; "))
}

type shapeCheck struct{ problems []string }

func (c *shapeCheck) add(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	for _, p := range c.problems {
		if p == msg {
			return
		}
	}
	c.problems = append(c.problems, msg)
}

func (c *shapeCheck) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.BuiltinNode:
		if !whenBuiltins[x.Name] {
			c.add("%s() is not allowed in when (allowed: %s): it loops or can allocate without bound", x.Name, allowedBuiltins())
		}
	case *ast.VariableDeclaratorNode:
		c.add("let is not allowed in when")
	case *ast.PredicateNode:
		c.add("predicates ({...}, #) are not allowed in when")
	case *ast.BinaryNode:
		if x.Operator == "matches" {
			if _, ok := x.Right.(*ast.StringNode); !ok {
				c.add("matches needs a literal pattern in when, such as message matches \"^refund\"")
			}
		}
	}
}

func allowedBuiltins() string {
	names := make([]string, 0, len(whenBuiltins))
	for n := range whenBuiltins {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// sampleWhenEvents are what every `when` runs against at load, besides its
// rule's own sample event: an empty event and one with long fields.
func sampleWhenEvents() []event.Event {
	long := strings.Repeat("x", 64<<10)
	return []event.Event{
		{},
		{
			ID: "sample-long", Source: "meta", Kind: event.KindStatus, Status: "failed", Code: 131026,
			Title: long, Message: long, Details: long, RecipientID: "16505550123",
			Attributes: map[string]string{"a": long, "template_name": "order_update"},
		},
	}
}

// probe runs the expression on an event and returns the error of a run
// that hit a limit; other runtime errors are an ordinary "no match".
func (c *compiledWhen) probe(e *event.Event) error {
	st := c.runner.pool.Get().(*whenState)
	defer c.runner.pool.Put(st)
	st.env.fill(e)
	st.vm.MemoryBudget = whenMemoryBudget
	_, err := st.vm.Run(c.program, &st.env)
	st.env = exprEnv{}
	if err != nil && (errors.Is(err, errWhenLimit) || strings.Contains(err.Error(), "memory budget exceeded")) {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return errors.New(msg)
	}
	return nil
}
