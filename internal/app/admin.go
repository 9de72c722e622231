package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/server"
	"github.com/wabridge/wabridge/internal/store"
)

// admin serves the operator API over the pipeline.
type admin struct {
	p *pipeline.Pipeline
}

var _ server.AdminAPI = (*admin)(nil)

func (a *admin) ListDead(ctx context.Context) (any, error) {
	dl, err := a.p.ListDead()
	if err != nil {
		return nil, err
	}
	if dl == nil {
		dl = []pipeline.DeadLetter{}
	}
	return dl, nil
}

func (a *admin) GetDead(ctx context.Context, id string) (any, error) {
	d, err := a.p.GetDead(id)
	return d, notFound(id, err)
}

func (a *admin) ReplayDead(ctx context.Context, id string) error {
	err := a.p.ReplayDead(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: replay of %s failed again: %v", server.ErrConflict, id, err)
	}
	return notFound(id, err)
}

func (a *admin) DropDead(ctx context.Context, id string) error {
	return notFound(id, a.p.DropDead(id))
}

func notFound(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no dead letter %q", server.ErrNotFound, id)
	}
	return err
}
