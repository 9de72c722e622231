// Package archtest holds the tests of how wabridge's packages depend on
// each other; it has no code of its own.
package archtest
