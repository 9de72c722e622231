package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/store"
)

// An incident action asked on a replica that does not own the incident's
// partition is forwarded through the store (store.Commands): recorded
// there, taken by the owner's committer, applied by the same code as a
// local request, and its outcome read back here.

// Command kinds and their arguments.
const (
	cmdResolve  = "resolve"
	cmdAck      = "ack"
	cmdOnDemand = "ondemand"
	cmdNote     = "note"
)

type resolveArgs struct {
	Note   string `json:"note"`
	Detail string `json:"detail"`
}

type ackArgs struct {
	By  string    `json:"by"`
	Via string    `json:"via,omitempty"`
	At  time.Time `json:"at"`
}

type noteArgs struct {
	Note string `json:"note"`
}

type commandResult struct {
	Queued int `json:"queued"`
}

// commandWait is how long an incident action forwarded to the replica
// that owns the incident waits for that replica to take it; one not
// taken by then is expired (ErrCommandExpired), and one taken gets as
// long again for its outcome.
var commandWait = 5 * time.Second

// commandAge is how old a forwarded command an owner still takes: older
// ones were expired by their askers, or their askers are gone.
const commandAge = time.Minute

// ErrCommandExpired means a forwarded incident action was not taken by the
// replica owning the incident within commandWait: nothing was done.
var ErrCommandExpired = errors.New("no replica owning the incident took the request in time; nothing was done, try again")

// errKinds are the refusals a forwarded action brings back as themselves,
// so the asker maps them as a local refusal (not found, conflict).
var errKinds = map[string]error{
	"not_found":         store.ErrNotFound,
	"resolved":          ErrAlreadyResolved,
	"acknowledged":      incident.ErrAcknowledged,
	"not_open":          incident.ErrNotOpen,
	"requested":         incident.ErrAlreadyRequested,
	"nothing_on_demand": ErrNothingOnDemand,
	"rule_gone":         ErrRuleGone,
	"no_actor":          incident.ErrNoActor,
	"not_owned":         ErrNotOwned,
	"expired":           ErrCommandExpired,
}

func errKind(err error) string {
	for k, e := range errKinds {
		if errors.Is(err, e) {
			return k
		}
	}
	return ""
}

// remoteError is a refusal the owning replica answered: its text, and the
// sentinel it wrapped there.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// localOrForward runs an incident action here when this process owns the
// incident's partition, and otherwise asks the owner (forward).
func (p *Pipeline) localOrForward(fp, kind string, args any, actor string, local func() (incident.Incident, int, error)) (incident.Incident, int, error) {
	inc, n, err := local()
	if errors.Is(err, ErrNotOwned) {
		return p.forward(fp, kind, args, actor, inc, err)
	}
	return inc, n, err
}

// forward asks the owner of incident fp's partition to apply the action
// and waits for its outcome. stored and notOwned are the local refusal,
// returned as they are when the store cannot forward.
func (p *Pipeline) forward(fp, kind string, args any, actor string, stored incident.Incident, notOwned error) (incident.Incident, int, error) {
	cs, ok := p.st.(store.Commands)
	if !ok {
		return stored, 0, notOwned
	}
	body, err := json.Marshal(args)
	if err != nil {
		return incident.Incident{}, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*commandWait+5*time.Second)
	defer cancel()
	id, err := cs.AskCommand(ctx, store.Command{Fingerprint: fp, Kind: kind, Args: body, Actor: actor})
	if err != nil {
		return incident.Incident{}, 0, fmt.Errorf("forward the %s of incident %s to the replica that owns it: %w", kind, fp, err)
	}
	o, err := p.awaitCommand(ctx, cs, id, fp, kind)
	if err != nil {
		return incident.Incident{}, 0, err
	}
	inc, rerr := p.st.GetIncident(ctx, fp)
	if o.ErrKind != "" || o.Err != "" {
		e := &remoteError{msg: o.Err, kind: errKinds[o.ErrKind]}
		if e.kind == nil {
			e.kind = errors.New(o.Err)
		}
		if rerr != nil {
			return incident.Incident{}, 0, e
		}
		return inc, 0, e
	}
	var res commandResult
	if err := json.Unmarshal(o.Result, &res); err != nil {
		return incident.Incident{}, 0, fmt.Errorf("incident %s: the %s was applied by the replica that owns it, but its result reads wrong: %w", fp, kind, err)
	}
	if rerr != nil {
		return incident.Incident{}, 0, fmt.Errorf("incident %s: the %s was applied by the replica that owns it; reading it back: %w", fp, kind, rerr)
	}
	return inc, res.Queued, nil
}

// awaitCommand polls command id until done: commandWait for an owner to
// take it (then it is expired), as long again once taken.
func (p *Pipeline) awaitCommand(ctx context.Context, cs store.Commands, id int64, fp, kind string) (store.CommandOutcome, error) {
	deadline := time.Now().Add(commandWait)
	expired := false
	wait := time.Millisecond
	for {
		o, err := cs.CommandOutcome(ctx, id)
		if err != nil {
			return o, fmt.Errorf("incident %s: read the outcome of its forwarded %s: %w", fp, kind, err)
		}
		if o.Done {
			return o, nil
		}
		if time.Now().After(deadline) {
			if expired {
				return o, fmt.Errorf("incident %s: the replica that owns it took the %s but gave no outcome within %s; check the incident before asking again",
					fp, kind, 2*commandWait)
			}
			o, err = cs.ExpireCommand(ctx, id, "expired", fmt.Sprintf("incident %s: %s: %v", fp, kind, ErrCommandExpired))
			if err != nil {
				return o, fmt.Errorf("incident %s: expire its forwarded %s: %w", fp, kind, err)
			}
			if o.Done {
				return o, nil
			}
			expired, deadline = true, time.Now().Add(commandWait)
		}
		select {
		case <-ctx.Done():
			return o, fmt.Errorf("incident %s: wait for its forwarded %s: %w", fp, kind, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// runCommands applies the commands forwarded to pt's partition, each as
// the local request would, and records their outcomes. The caller does
// not hold pt.mu.
func (p *Pipeline) runCommands(ctx context.Context, pt *partition) {
	cs, ok := p.st.(store.Commands)
	if !ok {
		return
	}
	cmds, err := cs.TakeCommands(ctx, pt.fence, commandAge, 32)
	if err != nil {
		p.commandFailed(ctx, pt, err)
		return
	}
	for _, c := range cmds {
		o := p.applyCommand(c)
		if err := cs.FinishCommand(ctx, pt.fence, c.ID, o); err != nil {
			p.commandFailed(ctx, pt, err)
			return
		}
	}
}

func (p *Pipeline) commandFailed(ctx context.Context, pt *partition, err error) {
	if ctx.Err() != nil {
		return
	}
	pt.mu.Lock()
	p.refused(pt, err)
	pt.mu.Unlock()
	p.m.processingErrors.WithLabelValues("commands").Inc()
	p.log.Error("pipeline: forwarded incident actions", "partition", pt.fence.Partition, "err", err)
}

// applyCommand applies one forwarded command with the local request's code.
func (p *Pipeline) applyCommand(c store.Command) store.CommandOutcome {
	var n int
	var err error
	switch c.Kind {
	case cmdResolve:
		var a resolveArgs
		if err = json.Unmarshal(c.Args, &a); err == nil {
			_, n, err = p.resolveLocal(c.Fingerprint, a.Note, a.Detail)
		}
	case cmdAck, cmdOnDemand:
		var a ackArgs
		if err = json.Unmarshal(c.Args, &a); err == nil {
			ack := incident.Ack{By: a.By, Via: a.Via, At: a.At}
			if c.Kind == cmdAck {
				_, n, err = p.acknowledgeLocal(c.Fingerprint, ack)
			} else {
				_, n, err = p.openOnDemandLocal(c.Fingerprint, ack)
			}
		}
	case cmdNote:
		var a noteArgs
		if err = json.Unmarshal(c.Args, &a); err == nil {
			_, n, err = p.noteLocal(c.Fingerprint, a.Note)
		}
	default:
		err = fmt.Errorf("unknown forwarded command kind %q (a newer replica asked?)", c.Kind)
	}
	if err != nil {
		return store.CommandOutcome{ErrKind: errKind(err), Err: err.Error()}
	}
	res, _ := json.Marshal(commandResult{Queued: n})
	return store.CommandOutcome{Result: res}
}
