// Package problem is the one list of problems found while loading what a
// person wrote: the config, rules, mapping files, the catalogue and
// templates. Each problem points at the file and line to edit, so `wabridge
// check`, a refused reload and the admin API all say FILE:LINE: message.
package problem

import (
	"errors"
	"fmt"
	"strings"
)

// Problem is one thing wrong, where a person has to fix it.
type Problem struct {
	// File is the file to edit, or "environment NAME" when a variable set
	// the value; "" when the problem has no place of its own.
	File string
	// Line is the line in File; 0 when the problem concerns the whole file
	// or its line is unknown.
	Line    int
	Message string
}

// At is a problem at a file and line.
func At(file string, line int, format string, a ...any) Problem {
	return Problem{File: file, Line: line, Message: fmt.Sprintf(format, a...)}
}

// String renders "FILE:LINE: message", "FILE: message" without a line, or
// the message alone without a place.
func (p Problem) String() string {
	switch {
	case p.File == "":
		return p.Message
	case p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return p.File + ": " + p.Message
}

// Error makes a problem an error, so a function that returns errors can
// return one and keep its place.
func (p Problem) Error() string { return p.String() }

// List is every problem found in one load, in the order found. A non-empty
// List is an error that prints one problem a line.
type List []Problem

// Add appends a problem at file and line.
func (l *List) Add(file string, line int, format string, a ...any) {
	*l = append(*l, At(file, line, format, a...))
}

// Append appends the problems err carries (see Of).
func (l *List) Append(err error) {
	*l = append(*l, Of(err)...)
}

// Error prints one problem a line.
func (l List) Error() string { return strings.Join(l.Strings(), "\n") }

// Strings renders each problem.
func (l List) Strings() []string {
	out := make([]string, len(l))
	for i, p := range l {
		out[i] = p.String()
	}
	return out
}

// Err is l as an error, nil when it is empty.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// InFile gives a file to the problems that have no place: a component
// checked its part of a file without knowing the file's name.
func (l List) InFile(file string) List {
	out := make(List, len(l))
	for i, p := range l {
		if p.File == "" {
			p.File = file
		}
		out[i] = p
	}
	return out
}

// Of returns the problems err carries: a List, a Problem, errors joined
// with errors.Join (each taken apart), or any other error as one problem
// without a place. nil carries none.
func Of(err error) List {
	if err == nil {
		return nil
	}
	var l List
	if errors.As(err, &l) && sameError(err, l) {
		return l
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out List
		for _, e := range j.Unwrap() {
			out = append(out, Of(e)...)
		}
		return out
	}
	var p Problem
	if errors.As(err, &p) && err.Error() == p.Error() {
		return List{p}
	}
	var pp *Problem
	if errors.As(err, &pp) && pp != nil && err.Error() == pp.Error() {
		return List{*pp}
	}
	return List{{Message: err.Error()}}
}

// sameError reports whether err says no more than the list it wraps: a
// list wrapped with a prefix ("source x: %w") is one problem in its words.
func sameError(err error, l List) bool { return err.Error() == l.Error() }
