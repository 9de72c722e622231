package console

import (
	"strings"
	"testing"
)

// TestMaskNumbers: customers' numbers are masked; the business's own
// identifiers, times and codes, and longer digit runs, are kept.
func TestMaskNumbers(t *testing.T) {
	payload := `{"entry":[{"id":"102290129340398","changes":[{"value":{"metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},` +
		`"contacts":[{"wa_id":"5511999990000"}],"messages":[{"from":"+5511999990000","timestamp":"1751142888","text":{"body":"call me at 5511988887777"}}],` +
		`"statuses":[{"recipient_id":"5551991344790","errors":[{"code":131031}]}],"token":"12345678901234567890"}}]}]}`
	got := MaskNumbers(payload)
	for _, gone := range []string{"5511999990000", "5551991344790", "5511988887777"} {
		if strings.Contains(got, gone) {
			t.Errorf("%s not masked: %s", gone, got)
		}
	}
	for _, kept := range []string{"102290129340398", "15550783881", "106540352242922", "1751142888", "131031", "12345678901234567890", "*********0000", "*********4790"} {
		if !strings.Contains(got, kept) {
			t.Errorf("%s missing after masking: %s", kept, got)
		}
	}
	if form := MaskNumbers("From=whatsapp:+14155238886\nBody=hi\n"); strings.Contains(form, "14155238886") {
		t.Errorf("form number not masked: %s", form)
	}
}

// TestMrkdwn: Slack's markup becomes HTML, and text never does.
func TestMrkdwn(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"*bold* and _it_ and ~s~", "<b>bold</b> and <i>it</i> and <s>s</s>"},
		{"code `131031`", "code <code>131031</code>"},
		{"<https://example.com/x?a=1&amp;b=2|docs>", `<a href="https://example.com/x?a=1&amp;amp;b=2" rel="noreferrer noopener" target="_blank">docs</a>`},
		{"<!date^1751142888^{date_short}|2025-06-28>", "2025-06-28"},
		{"&gt; quoted\nnext", "<blockquote>quoted</blockquote>next"},
		{"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"&lt;img src=x onerror=alert(1)&gt;", "&lt;img src=x onerror=alert(1)&gt;"},
		{"<javascript:alert(1)|click>", "&lt;javascript:alert(1)|click&gt;"},
		{":rotating_light: x", "🚨 x"},
	} {
		if got := string(mrkdwn(tc.in)); got != tc.want {
			t.Errorf("mrkdwn(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
