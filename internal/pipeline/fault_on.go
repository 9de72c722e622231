//go:build faults

package pipeline

import (
	"bytes"
	"os"
)

// faultMarker, in binaries built with -tags faults only, makes processing a
// delivery whose body contains it panic: the end-to-end tests' stand-in
// for a bug that crashes the process on one delivery. Read once at start.
var faultMarker = []byte(os.Getenv("WABRIDGE_FAULT_PANIC_ON"))

func faultHook(body []byte) {
	if len(faultMarker) > 0 && bytes.Contains(body, faultMarker) {
		panic("fault injected for a test: this delivery crashes processing")
	}
}
