package whatsapp

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// fastStatusCases are statuses[] items where a fast reader that guessed
// instead of giving up would make events the decoding path does not.
var fastStatusCases = []string{
	`{}`, `null`, `7`, `"x"`, `[]`,
	`{"id":"wamid.1","status":"delivered","timestamp":"1751142888","recipient_id":"16505551234"}`,
	`{"id":" wamid.1 ","status":" Delivered ","timestamp":" 1751142888 ","recipient_id":" 1650 "}`,
	`{"id":"wamid.1","status":"READ","timestamp":1751142888}`,
	`{"id":"wamid.1","status":"sent","timestamp":"1751142888000"}`,
	`{"id":"wamid.1","status":"sent","timestamp":"2026-01-02T03:04:05Z"}`,
	`{"id":"wamid.1","status":"sent","timestamp":"+1751142888"}`,
	`{"id":"wamid.1","status":"sent","timestamp":"1.751142888e9"}`,
	`{"id":"wamid.1","status":"sent","timestamp":"0"}`, `{"id":"wamid.1","status":"sent","timestamp":"-5"}`,
	`{"id":"wamid.1","status":"sent","timestamp":"soon"}`, `{"id":"wamid.1","status":"sent","timestamp":null}`,
	`{"id":"wamid.1","status":"sent","timestamp":"99999999999999999999999"}`,
	`{"id":"wamid.1","status":"ſent"}`, `{"id":"wamid.1","status":"SENT\u00e9"}`, "{\"id\":\"wamid.1\",\"status\":\"S\u00c9NT\"}",
	`{"id":"wamid.1","status":"sent","recipient_id":16505551234}`, `{"id":12345,"status":true}`,
	`{"id":"wam\"id","status":"sent"}`, `{"id":"wamid.\u0031","status":"sent"}`,
	`{"id":"","status":"sent"}`, `{"id":"  ","status":"failed","errors":[{"code":1}]}`, `{"status":"sent"}`,
	`{"id":"wamid.1","Status":"sent"}`, `{"id":"wamid.1","status":"sent","status":"read"}`, `{"ID":"wamid.1"}`,
	`{"id":"wamid.1","status":{}}`, `{"id":"wamid.1","status":[]}`, `{"id":"wamid.1","recipient_type":{}}`,
	`{"id":"wamid.1","status":"read","recipient_type":"group","recipient_participant_id":" 1650 ","biz_opaque_callback_data":"x"}`,
	`{"id":"wamid.1","status":"read","recipient_user_id":"US.1","recipient_parent_user_id":"US.2"}`,
	`{"id":"wamid.1","status":"sent","conversation":{"id":"c","expiration_timestamp":"1751229288","origin":{"type":"utility"}}}`,
	`{"id":"wamid.1","status":"sent","conversation":{"id":"c","expiration_timestamp":1751229288,"origin":null}}`,
	`{"id":"wamid.1","status":"sent","conversation":{"expiration_timestamp":"x"}}`,
	`{"id":"wamid.1","status":"sent","conversation":{"expiration_timestamp":"253402300800"}}`,
	`{"id":"wamid.1","status":"sent","conversation":{}}`, `{"id":"wamid.1","status":"sent","conversation":null}`,
	`{"id":"wamid.1","status":"sent","conversation":"x"}`, `{"id":"wamid.1","status":"sent","conversation":{"origin":"x"}}`,
	`{"id":"wamid.1","status":"sent","conversation":{"origin":{"Type":"x"}}}`,
	`{"id":"wamid.1","status":"sent","conversation":{"id":"a"},"conversation":{"id":"b"}}`,
	`{"id":"wamid.1","status":"sent","pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}}`,
	`{"id":"wamid.1","status":"sent","pricing":{"billable":false,"category":null}}`, `{"id":"wamid.1","pricing":[]}`,
	`{"id":"wamid.1","status":"sent","pricing":{}}`, `{"id":"wamid.1","status":"sent","pricing":null}`,
	`{"id":"wamid.1","status":"failed","errors":[{"code":131026,"title":"Message undeliverable","message":" m ","error_data":{"details":"d"},"href":"h"}]}`,
	`{"id":"wamid.1","status":"failed","errors":[{"code":"131026"},{"code":" 131047 "},{"code":""}]}`,
	`{"id":"wamid.1","status":"failed","errors":[{"code":1},{"code":2},{"code":3},{"code":4}]}`,
	`{"id":"wamid.1","status":"failed","errors":[{"code":1},{"code":2},{"code":3},{"code":4},{"code":5}]}`,
	`{"id":"wamid.1","status":"failed","errors":[null,{}]}`, `{"id":"wamid.1","errors":null}`, `{"id":"wamid.1","errors":[]}`,
	`{"id":"wamid.1","errors":{}}`, `{"id":"wamid.1","errors":"x"}`, `{"id":"wamid.1","errors":[1]}`,
	`{"id":"wamid.1","errors":[{"code":1.5}]}`, `{"id":"wamid.1","errors":[{"code":-1}]}`, `{"id":"wamid.1","errors":[{"code":1e3}]}`,
	`{"id":"wamid.1","errors":[{"code":9999999999999999999}]}`, `{"id":"wamid.1","errors":[{"code":true}]}`,
	`{"id":"wamid.1","errors":[{"code":1,"code":2}]}`, `{"id":"wamid.1","errors":[{"Code":1}]}`,
	`{"id":"wamid.1","errors":[{"error_data":null}]}`, `{"id":"wamid.1","errors":[{"error_data":"x"}]}`,
	`{"id":"wamid.1","errors":[{"error_data":{"details":7}}]}`, `{"id":"wamid.1","errors":[{"title":"a\nb"}]}`,
	`{"id":"wamid.1","status":"failed","recipient_participant_id":"p","errors":[{"code":1,"href":"x"},{"code":2}]}`,
	`{"id":"wamid.1","status":"sent","messaging_product":"whatsapp","extra":{"id":"no"}}`,
	"{ \"id\" : \"wamid.1\" ,\n\t\"status\" : \"sent\" }",
}

// statusBody wraps a statuses[] item in a delivery.
func statusBody(item []byte) []byte {
	b := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[`)
	b = append(b, item...)
	return append(b, `]},"field":"messages"}]}]}`...)
}

// checkFast holds Parse to the path without the fast readers on one body.
func checkFast(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := parse("meta", body, received, false)
	want, wantErr := parse("meta", body, received, true)
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("%s: err %v, the decoding path says %v", body, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("%s:\nfast:     %s\ndecoding: %s", body, g, w)
	}
}

func TestFastMatchesDecoding(t *testing.T) {
	for _, path := range fixtures(t) {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		checkFast(t, body)
	}
	for _, c := range fastStatusCases {
		checkFast(t, statusBody([]byte(c)))
	}
	for _, c := range splitCases {
		checkFast(t, []byte(c))
		checkFast(t, statusBody([]byte(c)))
	}
	checkFast(t, deliveredBody(50))
	checkFast(t, batchBody(20))
}

// TestStatusFastTakesFixtures: the fast reader serves Meta's own statuses;
// one that always gave up would pass every other test, only slower.
func TestStatusFastTakesFixtures(t *testing.T) {
	for _, c := range []string{
		`{"id":"wamid.1","status":"delivered","timestamp":"1751142888","recipient_id":"16505551234","conversation":{"id":"c","origin":{"type":"utility"}},"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}}`,
		`{"id":"wamid.1","status":"failed","timestamp":"1751142888","recipient_id":"16505551234","errors":[{"code":131026,"title":"Message undeliverable","message":"Message undeliverable","error_data":{"details":"d"},"href":"h"}]}`,
	} {
		p := &parser{source: "meta", receivedAt: received}
		if !p.statusFast(&change{field: "messages"}, []byte(c)) {
			t.Fatalf("fast reader gave up on %s", c)
		}
	}
}

// FuzzStatusFast: for any statuses[] item, and any body, the fast readers
// make exactly the events the decoding path makes.
func FuzzStatusFast(f *testing.F) {
	for _, c := range fastStatusCases {
		f.Add([]byte(c), true)
	}
	for _, c := range splitCases {
		f.Add([]byte(c), false)
	}
	for _, path := range fixtures(f) {
		body, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, item bool) {
		if item {
			data = statusBody(data)
		}
		checkFast(t, data)
	})
}
