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
	ctx := context.Background()
	parts, err := p.owned(ctx)
	if err != nil {
		return err
	}
	for _, pt := range parts {
		for {
			entries, err := p.st.PendingInbox(ctx, pt.fence, p.cfg.BatchSize)
			if err != nil {
				return fmt.Errorf("read inbox: %w", err)
			}
			if len(entries) == 0 {
				break
			}
			if err := p.commitBatch(ctx, pt, entries); err != nil {
				return err
			}
		}
	}
	return nil
}
