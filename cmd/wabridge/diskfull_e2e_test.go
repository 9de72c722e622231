package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bigFailedStatus is a failed status padded to about size bytes, so a few
// of them need the store file to grow.
func bigFailedStatus(n, size int) []byte {
	pad := strings.Repeat("x", size)
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.FULL-%d","status":"failed","timestamp":"1751142888","recipient_id":"1650555%04d","biz_opaque_callback_data":%q,"errors":[{"code":131031,"title":"Business Account locked","message":"Business Account locked"}]}]},"field":"messages"}]}]}`, n, 7000+n, pad))
}

func readyz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDiskFullAnswers503AndLosesNothing runs the binary with a file size
// limit (RLIMIT_FSIZE), which makes the store's writes fail the way a full
// disk does. Deliveries that cannot be stored get a 503, so the provider
// retries; nothing is acknowledged that was not stored; once there is room
// again, every acknowledged delivery and every retried one is alerted.
func TestDiskFullAnswers503AndLosesNothing(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux) is needed to simulate a full disk: %v", err)
	}
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})

	// A first run creates the store, so the limit below leaves little room.
	inst := start(t, cfg, addr)
	inst.stop()
	fi, err := os.Stat(filepath.Join(dir, "data", "wabridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	limit := fi.Size() + 1<<20
	inst = startUnder(t, cfg, addr, prlimit, "--fsize="+strconv.FormatInt(limit, 10)+":unlimited", "--")

	const n = 30
	var acked, refused []int
	for i := 0; i < n; i++ {
		switch code := post(t, addr, bigFailedStatus(i, 100<<10)); code {
		case http.StatusOK:
			acked = append(acked, i)
		case http.StatusServiceUnavailable:
			refused = append(refused, i)
		default:
			t.Fatalf("delivery %d: status %d\n%s", i, code, inst.logs.String())
		}
	}
	if len(refused) == 0 || len(acked) == 0 {
		t.Fatalf("%d acknowledged and %d refused with a %d-byte file limit: the test should fill the disk mid-run", len(acked), len(refused), limit)
	}
	select {
	case <-inst.done:
		t.Fatalf("wabridge exited when the disk filled:\n%s", inst.logs.String())
	default:
	}
	// Readiness says what the webhooks see: a heartbeat still commits on
	// a full disk, a delivery does not.
	code, reason := readyz(t, addr)
	if code != http.StatusServiceUnavailable || !strings.Contains(reason, "last write failed") {
		t.Fatalf("/readyz while deliveries get 503: %d %s", code, reason)
	}

	// Room again: lift the limit on the running process, and the provider
	// retries what was refused.
	if out, err := exec.Command(prlimit, "--pid", strconv.Itoa(inst.cmd.Process.Pid), "--fsize=unlimited:unlimited").CombinedOutput(); err != nil {
		t.Fatalf("lift the limit: %v %s", err, out)
	}
	// Ready again once the store can write, before any delivery succeeds:
	// a load balancer sends nothing to an instance that is not ready.
	waitFor(t, "/readyz 200 once the disk has room", 15*time.Second, func() bool {
		code, _ := readyz(t, addr)
		return code == http.StatusOK
	}, inst.logs.String)
	for _, i := range refused {
		deadline := time.Now().Add(10 * time.Second)
		for post(t, addr, bigFailedStatus(i, 100<<10)) != http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatalf("delivery %d still refused after the disk has room:\n%s", i, inst.logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(t, "an alert for every delivery", 30*time.Second, func() bool {
		got := 0
		for i := 0; i < n; i++ {
			for _, c := range slack.posted() {
				if strings.Contains(c.Form["blocks"], fmt.Sprintf("%04d", 7000+i)) {
					got++
					break
				}
			}
		}
		return got == n
	}, inst.logs.String)
	t.Logf("%d acknowledged before the disk filled, %d refused with 503 and alerted after the provider retried", len(acked), len(refused))
	inst.stop()
}
