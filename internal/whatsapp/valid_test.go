package whatsapp

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

var validCases = []string{
	``, ` `, `{}`, `[]`, `null`, `nul`, `nulls`, `true`, `tru`, `false`, `falsee`, `0`, `-0`, `01`, `-`, `1.`, `1.5`,
	`.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.5e10`, `+1`, `0x10`, `1 2`, `"a"`, `"a`, `"\"`, `"\\"`, `"\/"`,
	`"\u00e9"`, `"\u00G9"`, `"\u00e"`, `"\x"`, "\"\t\"", "\"\x7f\"", "\"\xff\xfe\"", `"é"`,
	`{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":}`, `{,}`, `{"a":1 "b":2}`, `{"a":[1,2,{"b":null}]}`,
	`[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[[[]]`, `[]]`, `{}}`, `{"a":1}x`, " \t\r\n[ 1 , 2 ] \n", "\v1", "[\f]",
	`{"a":{"b":{"c":[true,false,null,-1.25e-3,"\ud83d\ude00"]}}}`, `{"":""}`, `["a","b",]`, `{"a":1,"a":2}`,
}

func TestValidMatchesJSONValid(t *testing.T) {
	for _, c := range validCases {
		if got, want := valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("valid(%q) = %v, json.Valid says %v", c, got, want)
		}
	}
	for _, c := range splitCases {
		if got, want := valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("valid(%q) = %v, json.Valid says %v", c, got, want)
		}
	}
	// The nesting limit is encoding/json's, to the level.
	for _, n := range []int{maxNesting - 1, maxNesting, maxNesting + 1} {
		for _, open := range []string{"[", `{"a":`} {
			close := "]"
			if open != "[" {
				close = "}"
			}
			doc := []byte(strings.Repeat(open, n) + "1" + strings.Repeat(close, n))
			if got, want := valid(doc), json.Valid(doc); got != want {
				t.Errorf("%d levels of %s: valid = %v, json.Valid says %v", n, open, got, want)
			}
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c))
	}
	for _, c := range splitCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := valid(data), json.Valid(data); got != want {
			t.Fatalf("valid(%q) = %v, json.Valid says %v", data, got, want)
		}
	})
}

// TestIndexRecordsContainerEnds: every end the validating pass records is
// where scanning the container ends, and every large container has one.
func TestIndexRecordsContainerEnds(t *testing.T) {
	bodies := [][]byte{deliveredBody(3), batchBody(5)}
	for _, path := range fixtures(t) {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	for _, body := range bodies {
		ix := ends{}
		if !validIndex(body, ix) {
			t.Fatalf("%s: not valid", body)
		}
		recorded := 0
		for i, c := range body {
			if c != '{' && c != '[' {
				continue
			}
			end, ok := skipValue(body, i)
			if !ok {
				continue // a bracket inside a string
			}
			n, known := ix[&body[i]]
			switch {
			case known && i+n != end:
				t.Fatalf("%s: container at %d ends at %d, the index says %d", body, i, end, i+n)
			case !known && end-i >= indexedContainer && !insideString(body, i):
				t.Fatalf("%s: container at %d of %d bytes not indexed", body, i, end-i)
			}
			if known {
				recorded++
			}
		}
		if recorded != len(ix) {
			t.Fatalf("%s: %d entries, %d containers found", body, len(ix), recorded)
		}
	}
}

// insideString reports whether body[i] is inside a JSON string.
func insideString(body []byte, i int) bool {
	in := false
	for j := 0; j < i; j++ {
		switch {
		case in && body[j] == '\\':
			j++
		case body[j] == '"':
			in = !in
		}
	}
	return in
}
