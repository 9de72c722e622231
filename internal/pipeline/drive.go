package pipeline

import (
	"context"
	"fmt"
)

// ProcessInbox commits every inbox entry waiting now, in batches, through
// the committer's own path, without Run and so without sending anything.
// A dry run and rules tests drive the pipeline with it on a store of their
// own, with their own clock.
func (p *Pipeline) ProcessInbox() error {
	for {
		entries, err := p.pending(context.Background(), p.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("read inbox: %w", err)
		}
		if len(entries) == 0 {
			return nil
		}
		if err := p.commitBatch(entries); err != nil {
			return err
		}
	}
}
