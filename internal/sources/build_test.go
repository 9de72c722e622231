package sources

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/secret"
)

func TestValidate(t *testing.T) {
	token := Auth{Type: "token", Header: "apikey", Secret: "k"}
	wpp := Mapping{Kind: "connection", Fields: map[string]string{"status": "status"}}
	cases := []struct {
		name string
		cfg  Config
		want []string // substrings, one per expected error; nil = valid
	}{
		{"valid evolution", Config{Name: "evo", Type: "evolution", Auth: token}, nil},
		{"type case-insensitive", Config{Name: "evo", Type: "Evolution", Auth: token}, nil},
		{"unknown type", Config{Name: "x", Type: "telegram", Auth: token}, []string{`source x: type: "telegram" is not one of meta, evolution`}},
		{"missing type", Config{Name: "x", Auth: token}, []string{"type: required"}},
		{"missing auth", Config{Name: "evo", Type: "evolution"}, []string{"auth: required for type evolution"}},
		{"none without insecure", Config{Name: "w", Type: "mapped", Auth: Auth{Type: "none"}, Mapping: wpp}, []string{"insecure: true"}},
		{"unknown auth type", Config{Name: "w", Type: "zapi", Auth: Auth{Type: "oauth"}}, []string{`auth.type: "oauth" is not hmac, hmac_timestamp, jwt, token, basic, twilio or none`}},
		{"hmac problems at once", Config{Name: "g", Type: "status", Auth: Auth{Type: "hmac", Algorithm: "md5", Encoding: "base32"}},
			[]string{"auth.header: required", `auth.algorithm: "md5"`, `auth.encoding: "base32"`, "auth.secret: required"}},
		{"token without header or query", Config{Name: "e", Type: "evolution", Auth: Auth{Type: "token", Secret: "k"}}, []string{"auth.header or auth.query"}},
		{"basic without user or password", Config{Name: "c", Type: "inbound", Auth: Auth{Type: "basic"}}, []string{"auth.user: required", "auth.password: required"}},
		{"twilio without secret", Config{Name: "t", Type: "twilio", Auth: Auth{Type: "twilio"}}, []string{"auth.secret: required for auth type twilio"}},
		{"twilio bad public_url", Config{Name: "t", Type: "twilio", Auth: Auth{Type: "twilio", Secret: "s"}, PublicURL: "hooks.example.com/x"}, []string{"public_url: must be an absolute"}},
		{"mapped without mapping", Config{Name: "m", Type: "mapped", Auth: token}, []string{"type mapped needs preset: NAME"}},
		{"mapping and file", Config{Name: "m", Type: "mapped", Auth: token, Mapping: wpp, MappingFile: "x.yaml"}, []string{"both set"}},
		{"bad status_map target", Config{Name: "g", Type: "status", Auth: token, StatusMap: map[string]string{"desconnectedMobile": "loggedoff"}},
			[]string{`status_map: desconnectedMobile: "loggedoff" is not a status wabridge knows`}},
		{"status_map on evolution", Config{Name: "e", Type: "evolution", Auth: token, StatusMap: map[string]string{"a": "logout"}}, []string{"status_map: only types status and mapped"}},
		{"empty accept", Config{Name: "e", Type: "evolution", Auth: token, Accept: []string{" "}}, []string{"accept: an empty status"}},
		{"bad mapping", Config{Name: "m", Type: "mapped", Auth: token, Mapping: Mapping{Kind: "session",
			Fields: map[string]string{"status": "a..b", "colour": "c", "attributes.x": "d)"}, Values: map[string]map[string]string{"kind": {"x": "nope"}}}},
			[]string{`mapping.kind: unknown kind "session"`, `mapping.fields.attributes.x: invalid gjson path "d)"`, `mapping.fields.colour: unknown field "colour"`,
				`mapping.fields.status: invalid gjson path "a..b"`, `mapping.values.kind.x: unknown kind "nope"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := Validate(tc.cfg)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors %q, want %d", len(errs), got, len(tc.want))
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("errors %q lack %q", got, w)
				}
			}
			if _, err := New(tc.cfg); (err == nil) != (tc.want == nil) {
				t.Errorf("New error %v disagrees with Validate", err)
			}
		})
	}
}

func TestValidateNeverShowsSecrets(t *testing.T) {
	cfg := Config{Name: "g", Type: "status", Auth: Auth{Type: "hmac", Algorithm: "md5", Secret: secret.Secret("hunter2-secret")}}
	for _, err := range Validate(cfg) {
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the secret: %v", err)
		}
	}
}

func TestTypes(t *testing.T) {
	want := "meta,evolution,zapi,twilio,status,inbound,mapped"
	if got := strings.Join(Types(), ","); got != want {
		t.Errorf("Types() = %s, want %s", got, want)
	}
	token := Auth{Type: "token", Header: "h", Secret: "s"}
	for _, typ := range Types()[1:] {
		cfg := Config{Name: "n", Type: typ, Auth: token}
		if typ == TypeMapped {
			cfg.Mapping = Mapping{Fields: map[string]string{"status": "status"}}
		}
		s, err := New(cfg)
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		if s.Type() != typ || s.Name() != "n" {
			t.Errorf("%s: Type() %s Name() %s", typ, s.Type(), s.Name())
		}
	}
}

func TestMappingFile(t *testing.T) {
	token := Auth{Type: "token", Header: "h", Secret: "s"}
	t.Run("bad path reports FILE:LINE", func(t *testing.T) {
		errs := Validate(Config{Name: "m", Type: "mapped", Auth: token, MappingFile: "testdata/mapping_bad.yaml"})
		if len(errs) != 1 {
			t.Fatalf("errors %v, want one", errs)
		}
		want := `testdata/mapping_bad.yaml:6: fields.status: invalid gjson path "status..name"`
		if !strings.HasPrefix(errs[0].Error(), want) {
			t.Errorf("error %q, want prefix %q", errs[0], want)
		}
	})
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "items: \"\"\nfield:\n  status: status\n", []string{`:2: unknown key "field"`}},
		{"bad kind", "kind: session\nfields: {status: status}\n", []string{`:1: kind: unknown kind "session"`}},
		{"unknown field", "fields:\n  status: status\n  colour: c\n", []string{`:3: fields.colour: unknown field "colour"`}},
		{"bad values target", "fields: {status: s}\nvalues:\n  kind:\n    a: nope\n", []string{`:4: values.kind.a: unknown kind "nope"`}},
		{"unknown modifier", "fields:\n  status: \"@nothing\"\n", []string{`:2: fields.status: invalid gjson path "@nothing": unknown modifier @nothing`}},
		{"unclosed query", "items: \"data.#(type==\\\"x\\\"\"\nfields: {status: s}\n", []string{`:1: items: invalid gjson path`}},
		{"not a map", "- a\n- b\n", []string{`:1: a mapping file is a map`}},
		{"invalid yaml", "fields: {status: [\n", []string{`:1: invalid YAML`}},
		{"empty", "", []string{`:1: empty mapping file`}},
		{"no fields", "kind: connection\n", []string{`:1: fields: no fields`}},
		{"several at once", "kind: bad\nfields:\n  id: \"a..\"\nextra: 1\n", []string{`:1: kind:`, `:3: fields.id:`, `:4: unknown key "extra"`}},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadMapping(path)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), path+w) {
					t.Errorf("error %q lacks %q", err, path+w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		errs := Validate(Config{Name: "m", Type: "mapped", Auth: token, MappingFile: filepath.Join(dir, "nope.yaml")})
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "nope.yaml") {
			t.Errorf("errors %v", errs)
		}
	})
	t.Run("wrapped in mapping:", func(t *testing.T) {
		path := filepath.Join(dir, "wrapped.yaml")
		if err := os.WriteFile(path, []byte("mapping:\n  kind: connection\n  fields: {status: status}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := LoadMapping(path)
		if err != nil || m.Kind != "connection" || m.Fields["status"] != "status" {
			t.Errorf("LoadMapping: %+v, %v", m, err)
		}
	})
}

func TestValidPath(t *testing.T) {
	good := []string{"status", "data.status", "items.#", "items.0.id", "data.#(type==\"x\").id", "friends.#(nets.#(==\"fb\"))#.first",
		`key\.with\.dots`, "@this", "children|@reverse", "data.list.#.id", `a.b\\`, "messages.#(status%\"ERR*\")#.id", "@join:{\"preserve\":true}"}
	bad := []string{"", " ", "a..b", ".a", "a.", "a|", "|a", "a(b", "a)b", "#(x==1", `a\`, "@bogus", "a.@nope", "a\"b", "a\x01b"}
	for _, p := range good {
		if err := validPath(p); err != nil {
			t.Errorf("validPath(%q) = %v, want ok", p, err)
		}
	}
	for _, p := range bad {
		if err := validPath(p); err == nil {
			t.Errorf("validPath(%q) = ok, want an error", p)
		}
	}
}

func TestMappedUnknownAndItems(t *testing.T) {
	token := Auth{Type: "token", Header: "h", Secret: "s"}
	cfg := Config{Name: "m", Type: "mapped", Auth: token, StatusMap: map[string]string{"BOOM": "failed"}, Mapping: Mapping{
		Items: "data.events",
		Fields: map[string]string{"status": "state", "code": "err.code", "recipient_id": "to", "message_id": "mid",
			"timestamp": "at", "attributes.tags": "tags", "kind": "k"},
		Values: map[string]map[string]string{"kind": {"msg": "message"}},
	}}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"data":{"events":[
		{"state":"boom","err":{"code":"131026"},"to":"5521988887777@c.us","mid":"a","at":1763770000,"tags":["x","y"]},
		{"k":"msg","state":"received","mid":"b"},
		{"k":"holiday","state":"read","mid":"c"},
		{"nothing":"here"}
	]}}`
	events, err := src.Parse(delivery.Delivery{ReceivedAt: receivedAt, Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 4 {
		t.Fatalf("%d events, want 4", len(events))
	}
	e := events[0]
	if e.Kind != event.KindStatus || e.Status != "failed" || e.Code != 131026 || e.RecipientID != "5521988887777" || e.Attr("tags") != `["x","y"]` {
		t.Errorf("item 0: %+v", e)
	}
	if events[1].Kind != event.KindMessage {
		t.Errorf("item 1 kind %s, want message through values.kind", events[1].Kind)
	}
	if events[2].Kind != event.KindUnknown || events[2].Attr("unmapped_kind") != "holiday" || len(events[2].Raw) == 0 {
		t.Errorf("item 2 with an unknown kind: %+v", events[2])
	}
	if events[3].Kind != event.KindUnknown || events[3].Attr("unmapped") != "true" || string(events[3].Raw) != `{"nothing":"here"}` {
		t.Errorf("item 3 where no path finds anything: %+v", events[3])
	}
	// The items path finds nothing: the whole body is kept as one unknown.
	events, err = src.Parse(delivery.Delivery{ReceivedAt: receivedAt, Body: []byte(`{"other":1}`)})
	if err != nil || len(events) != 1 || events[0].Kind != event.KindUnknown || events[0].Attr("unmapped") != "true" {
		t.Errorf("no items: %+v, %v", events, err)
	}
	// Still JSON only.
	if _, err := src.Parse(delivery.Delivery{Body: []byte("status=1")}); !errors.Is(err, ErrNotJSON) {
		t.Errorf("form body: %v", err)
	}
}
