package whatsapp

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// splitCases are containers where a splitter that guessed instead of giving
// up would read something encoding/json does not.
var splitCases = []string{
	`{}`, ` { } `, `null`, `[]`, `"x"`, `7`, `true`,
	`{"object":"whatsapp_business_account","entry":[]}`,
	`{"entry":null}`, `{"entry":[null, 1 ,"x",{}]}`, `{"entry":"x"}`, `{"entry":{}}`,
	`{"entry":[{"a":"]}\"[{"}], "object" : 12}`,
	`{"Entry":[{}]}`, `{"ENTRY":[{}],"entry":[]}`, `{"entry":[{}],"entry":[]}`,
	`{"\u0065ntry":[{}]}`, `{"entr\u0079":[{}]}`, "{\"\u212aey\":1}", "{\"\u017ftatuses\":[{}]}",
	`{"object":{}}`, `{"object":[1]}`, `{"object":null}`, `{"object":1e3}`,
	`{"id":"1","time":1700000000,"changes":[{"field":"messages","value":{}}]}`,
	`{"id":1,"time":"1700000000","changes":[]}`, `{"time":"soon"}`, `{"time":1.5}`, `{"time":[]}`,
	`{"ID":"1"}`, `{"id":"1","id":"2"}`, `{"changes":[1,[2,[3]],{"a":{"b":[]}}]}`,
	`{"field":"messages","value":null}`, `{"field":"messages"}`, `{"value":{"a":[1,{"b":"\\"}"}]},"field":7}`,
	`{"field":{},"value":{}}`, `{"Field":"messages","value":{}}`, `{"field":"a","value":1,"value":2}`,
	`{"metadata":{"phone_number_id":"1"},"statuses":[{"id":"a"},{"id":"b"}],"errors":[],"messages":null}`,
	`{"metadata":{"phone_number_id":"1"},"metadata":{"display_phone_number":"2"}}`,
	`{"contacts":[{"wa_id":"1"}],"contacts":[{"profile":{"name":"A"}}]}`,
	`{"metadata":"x"}`, `{"metadata":null}`, `{"contacts":[{"wa_id":"1","profile":{"name":"A"}}]}`,
	`{"contacts":{}}`, `{"contacts":[{"wa_id":{}}]}`, `{"statuses":{"id":"x"}}`, `{"Statuses":[{}]}`,
	`{"user_preferences":[{"wa_id":"1"}],"messaging_product":"whatsapp"}`,
	`{"statuses":[{"id":"a\\\\"},{"id":"\"]"}]}`, "{\n\t\"statuses\" :\r\n[ {} ,\n{} ]\n}\n",
	`{"id":"w","status":"failed","errors":[{"code":131026,"title":"x","error_data":{"details":"d"}}]}`,
	`{"id":"w","errors":null}`, `{"id":"w","errors":[]}`, `{"id":"w","errors":[null,{}]}`, `{"errors":[{"code":"131026"}]}`,
	`{"errors":[{"code":1.5}]}`, `{"errors":[{"error_data":null}]}`, `{"errors":[{"error_data":"x"}]}`, `{"errors":{}}`,
	`{"conversation":null,"pricing":null}`, `{"conversation":{"origin":null}}`, `{"conversation":{"origin":{"type":"utility"},"id":7}}`,
	`{"conversation":"x"}`, `{"conversation":{"origin":"x"}}`, `{"pricing":{"billable":true,"category":null}}`, `{"pricing":[]}`,
	`{"Status":"sent"}`, `{"status":"sent","status":"read"}`, `{"timestamp":1700000000,"recipient_id":16505551234}`,
	`{"conversation":{"id":"a"},"conversation":{"origin":{"type":"b"}}}`, `{"errors":[{"code":1,"code":2}]}`,
	`{"id":"w","recipient_user_id":"US.1","recipient_parent_user_id":"US.2","status":"read"}`,
	`{"metadata":{"phone_number_id":1,"display_phone_number":null,"x":{}}}`, `{"metadata":{"Phone_Number_ID":"1"}}`,
	`{"metadata":{"phone_number_id":{}}}`, `{"metadata":[]}`, `{"metadata":{"phone_number_id":"1","phone_number_id":"2"}}`,
	`{"contacts":null}`, `{"contacts":[]}`, `{"contacts":[null,{"wa_id":"1"}]}`, `{"contacts":[{"profile":null}]}`,
	`{"contacts":[{"profile":{"name":"A","username":"@a"},"user_id":"US.1","parent_user_id":"US.2","username":"@b"}]}`,
	`{"contacts":[{"profile":{"Name":"A"}}]}`, `{"contacts":[{"profile":"x"}]}`, `{"contacts":[{"profile":{"name":[]}}]}`,
	`{"contacts":[1]}`, `{"contacts":[{"WA_ID":"1"}]}`, `{"contacts":"x"}`,
	`{"from":"1","id":"wamid.1","timestamp":"1","type":"text","text":{"body":"hi \u00e9"}}`, `{"text":null,"image":null}`,
	`{"text":{}}`, `{"text":"x"}`, `{"text":{"body":{}}}`, `{"text":{"Body":"x"}}`, `{"text":{"body":"a"},"text":{"body":"b"}}`,
	`{"type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"1","title":"Yes"},"list_reply":null}}`,
	`{"interactive":{"button_reply":"x"}}`, `{"interactive":{"list_reply":{"id":1,"title":true}}}`,
	`{"context":{"from":"1","id":"w","forwarded":true,"from_user_id":"US.1"},"referral":{"source_type":"ad","source_id":7}}`,
	`{"reaction":{"message_id":"w","emoji":"\ud83d\udc4d"}}`, `{"button":{"text":"t","payload":"p"}}`,
	`{"image":{"mime_type":"image/jpeg","caption":"c"},"video":{},"audio":{"Caption":"x"},"document":[],"sticker":{"mime_type":null}}`,
	`{"system":{"body":"b","wa_id":"1","user_id":"US.1","new_wa_id":"2","type":"user_changed_number","customer":"c"}}`,
	`{"unsupported":{"type":"edit"},"errors":[{"code":131051,"title":"Message type unknown"}]}`, `{"from":[]}`,
	`{"errors":[{"code":131051},null],"errors":[]}`, `{"From":"1"}`, `{"system":{"wa_id":"1","WA_ID":"2"}}`,
}

// checkSplit holds each splitter to json.Unmarshal on one value.
func checkSplit(t *testing.T, data []byte) {
	t.Helper()
	checkSplitOf(t, data, splitEnvelope)
	checkSplitOf(t, data, splitEntry)
	checkSplitOf(t, data, splitChange)
	checkSplitOf(t, data, splitMessagesValue)
	checkSplitOf(t, data, splitStatus)
	checkSplitOf(t, data, splitMessage)
}

func checkSplitOf[T any](t *testing.T, data []byte, split func([]byte) (T, bool)) {
	t.Helper()
	got, ok := split(data)
	if !ok {
		return // json.Unmarshal decides, so nothing can differ
	}
	var want T
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("%T: split read %s, json.Unmarshal fails: %v", want, data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%T of %s:\nsplit:          %#v\njson.Unmarshal: %#v", want, data, got, want)
	}
}

func TestSplitMatchesUnmarshal(t *testing.T) {
	for _, c := range splitCases {
		checkSplit(t, []byte(c))
	}
	for _, c := range splitSeeds(t) {
		checkSplit(t, c)
	}
}

// TestSplitTakesFixtures: the fast path serves Meta's own shapes; a
// splitter that always gave up would pass every other test, only slower.
func TestSplitTakesFixtures(t *testing.T) {
	for _, path := range fixtures(t) {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		env, ok := splitEnvelope(body)
		if !ok {
			t.Fatalf("%s: envelope not split", path)
		}
		for _, re := range env.Entry {
			en, ok := splitEntry(re)
			if !ok {
				t.Fatalf("%s: entry not split", path)
			}
			for _, rc := range en.Changes {
				ch, ok := splitChange(rc)
				if !ok {
					t.Fatalf("%s: change not split", path)
				}
				if f := ch.Field.String(); f == "messages" || f == "user_preferences" {
					if _, ok := splitMessagesValue(ch.Value); !ok {
						t.Fatalf("%s: %s value not split", path, f)
					}
				}
			}
		}
	}
}

// splitSeeds returns the fixtures and every container inside them.
func splitSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, path := range fixtures(t) {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, body)
		var env Envelope
		if json.Unmarshal(body, &env) != nil {
			continue
		}
		for _, re := range env.Entry {
			out = append(out, re)
			var en Entry
			if json.Unmarshal(re, &en) != nil {
				continue
			}
			for _, rc := range en.Changes {
				out = append(out, rc)
				var ch Change
				if json.Unmarshal(rc, &ch) == nil && len(ch.Value) > 0 {
					out = append(out, ch.Value)
					var v messagesValue
					if json.Unmarshal(ch.Value, &v) == nil {
						for _, item := range append(v.Messages, v.Statuses...) {
							out = append(out, item)
						}
					}
				}
			}
		}
	}
	return out
}

func FuzzSplit(f *testing.F) {
	for _, c := range splitCases {
		f.Add([]byte(c))
	}
	for _, c := range splitSeeds(f) {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // Parse never hands the splitter invalid JSON
		}
		checkSplit(t, data)
	})
}
