package admin

import (
	"errors"
	"testing"
)

// A POST /api/v1/silences body is one JSON value: a second value, a stray
// bracket or junk after it is refused, not ignored.
func TestDecodeSilencesRefusesTrailingData(t *testing.T) {
	one := `{"matchers":["code=131048"],"for":"2h","comment":"c","author":"a"}`
	for _, body := range []string{one, " " + one + "\n", "[" + one + "]"} {
		if _, err := DecodeSilences([]byte(body)); err != nil {
			t.Errorf("DecodeSilences(%s): %v", body, err)
		}
	}
	for _, body := range []string{one + "]", one + "}", one + one, one + " junk", "[" + one + "]]", `{"matchers":[],"fro":"2h"}`} {
		_, err := DecodeSilences([]byte(body))
		if err == nil {
			t.Errorf("DecodeSilences(%s) accepted trailing data or an unknown field", body)
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeSilences(%s): %v is not a bad request", body, err)
		}
	}
}
