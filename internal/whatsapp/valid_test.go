package whatsapp

import (
	"encoding/json"
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
