package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// diskUsage is what a store directory holds on disk: the blocks its files
// occupy (what df sees go), and the bytes they hold.
type diskUsage struct {
	allocated int64
	apparent  int64
}

// measureDisk walks dir. A directory that does not exist yet holds nothing.
func measureDisk(dir string) (diskUsage, error) {
	var u diskUsage
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile (a rotated segment)
			}
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		u.apparent += info.Size()
		u.allocated += allocatedBytes(info)
		return nil
	})
	if err != nil {
		return diskUsage{}, fmt.Errorf("measure store size in %s: %w", dir, err)
	}
	return u, nil
}

// diskResult is the store growth of one phase: every delivery of the
// phase (warm-up included) is still within the audit retention, so all
// it left on disk is counted: inbox log segments (the payloads the audit
// trail refers to), the bbolt file with audit records, dedup keys,
// incidents and outbox results.
type diskResult struct {
	deliveries int64
	grown      diskUsage
	rate       int           // the phase's offered rate, deliveries per second
	retention  time.Duration // storage.retention of the run
}

func (d diskResult) perDelivery() float64 {
	if d.deliveries == 0 {
		return 0
	}
	return float64(d.grown.allocated) / float64(d.deliveries)
}

// perDay is the disk written per day at the phase's rate, in MB.
func (d diskResult) perDay() float64 {
	return d.perDelivery() * float64(d.rate) * 86400 / 1e6
}

// retained is what the store holds once it has run for a whole retention
// window at the rate, in GB: the sweeper frees what is older.
func (d diskResult) retained() float64 {
	return d.perDelivery() * float64(d.rate) * d.retention.Seconds() / 1e9
}

func (d diskResult) String() string {
	return fmt.Sprintf("deliveries=%d store_grown_bytes=%d apparent_bytes=%d bytes_per_delivery=%.0f rate=%d mb_per_day=%.0f retention=%s retained_gb=%.1f",
		d.deliveries, d.grown.allocated, d.grown.apparent, d.perDelivery(), d.rate, d.perDay(), d.retention, d.retained())
}

// fetchCPUProfile asks wabridge's pprof endpoint (behind the admin token)
// for a CPU profile of the next `seconds` and writes it to path.
func fetchCPUProfile(ctx context.Context, addr, token string, seconds time.Duration, path string) error {
	secs := max(1, int(seconds.Round(time.Second)/time.Second))
	url := "http://" + addr + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("profile request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Timeout: seconds + 30*time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("fetch CPU profile: answer %d: %s", resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create profile file: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("write profile %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write profile %s: %w", path, err)
	}
	return nil
}
