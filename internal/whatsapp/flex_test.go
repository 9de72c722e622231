package whatsapp

import (
	"encoding/json"
	"testing"
)

func TestFlexString(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{`"abc"`, "abc", false},
		{`"caf\u00e9 \"q\""`, `café "q"`, false},
		{`""`, "", false},
		{`1689556908129835`, "1689556908129835", false}, // a template id: the digits stay text
		{`12345678901234567890123`, "12345678901234567890123", false},
		{`true`, "true", false},
		{`null`, "", false},
		{`{}`, "", true},
		{`[1]`, "", true},
	}
	for _, tt := range tests {
		var s FlexString
		err := json.Unmarshal([]byte(tt.in), &s)
		if (err != nil) != tt.wantErr || string(s) != tt.want {
			t.Errorf("%s: got %q, %v; want %q, error %v", tt.in, s, err, tt.want, tt.wantErr)
		}
	}
}

func TestFlexInt(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{`131026`, 131026, false},
		{`"131026"`, 131026, false},
		{`" 131026 "`, 131026, false},
		{`131026.0`, 131026, false},
		{`1.31026e5`, 131026, false},
		{`""`, 0, false},
		{`null`, 0, false},
		{`-5`, -5, false},
		{`131026.5`, 0, true},
		{`"abc"`, 0, true},
		{`true`, 0, true},
		{`{}`, 0, true},
		{`[]`, 0, true},
		{`1e300`, 0, true},
	}
	for _, tt := range tests {
		var n FlexInt
		err := json.Unmarshal([]byte(tt.in), &n)
		if (err != nil) != tt.wantErr || (!tt.wantErr && int64(n) != tt.want) {
			t.Errorf("%s: got %d, %v; want %d, error %v", tt.in, n, err, tt.want, tt.wantErr)
		}
	}
}

func TestFlexList(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{`"DISABLE"`, "DISABLE", false},
		{`["DISABLE"]`, "DISABLE", false},
		{`["A","","B"]`, "A,B", false},
		{`null`, "", false},
		{`[]`, "", false},
		{`[{}]`, "", true},
		{`{}`, "", true},
	}
	for _, tt := range tests {
		var l FlexList
		err := json.Unmarshal([]byte(tt.in), &l)
		if (err != nil) != tt.wantErr || l.Join() != tt.want {
			t.Errorf("%s: got %q, %v; want %q, error %v", tt.in, l.Join(), err, tt.want, tt.wantErr)
		}
	}
}
