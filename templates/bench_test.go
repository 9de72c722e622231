package templates

import "testing"

func BenchmarkLoadDefaults(b *testing.B) {
	for b.Loop() {
		if _, err := Default(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExecuteJiraDescription(b *testing.B) {
	tm, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	d := sampleData()[3]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tm.Execute("jira.description", d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExecuteTextCached(b *testing.B) {
	tm, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	d := sampleData()[3]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tm.ExecuteText("WA-{{ .Event.PhoneNumberID }}-{{ .Event.Code }}", d); err != nil {
			b.Fatal(err)
		}
	}
}
