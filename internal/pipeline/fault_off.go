//go:build !faults

package pipeline

// faultHook does nothing outside binaries built with -tags faults.
func faultHook([]byte) {}
