package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/silence"
)

// The ports below are what the pipeline and the operator commands need
// from durable state, each as small as its consumer allows. Every call
// takes a context and every read returns an error, so a backend that is a
// shared database (several replicas, network round trips, transactions
// that can fail at any statement) implements them as well as the embedded
// bbolt file. Store is all of them: what a backend provides and what the
// conformance suite in storetest checks.

// Store is every port a backend provides.
type Store interface {
	Leases
	Inbox
	Committer
	Outbox
	DeadLetters
	Silences
	Incidents
	Audit
	Stats
	Maintenance
	io.Closer
}

// Fence is the committer's proof that it owns a partition of the work:
// the partition and the epoch of its lease. Every commit takes one, and a
// backend refuses a commit whose fence is no longer current (the lease
// passed to another owner, or to a later open of the same store), so a
// paused or partitioned former owner cannot write over its successor.
// The zero Fence is never current.
type Fence struct {
	// Partition is the slice of deliveries (and of their incidents) the
	// lease covers; a backend with one partition uses 0.
	Partition int `json:"partition"`
	// Epoch grows each time the partition changes owner.
	Epoch uint64 `json:"epoch"`
}

func (f Fence) String() string { return fmt.Sprintf("partition %d epoch %d", f.Partition, f.Epoch) }

// ErrFenced means a commit's fence is not current: another owner holds the
// partition now. Nothing of the commit was written.
var ErrFenced = errors.New("the lease of this partition is held by another owner")

// FencedError is a commit refused for its stale fence; it wraps ErrFenced.
type FencedError struct {
	Fence   Fence  // the fence the caller gave
	Current uint64 // the partition's current epoch, 0 when unknown
}

func (e *FencedError) Error() string {
	if e.Current != 0 {
		return fmt.Sprintf("store: %s: %v (now epoch %d): nothing was written", e.Fence, ErrFenced, e.Current)
	}
	return fmt.Sprintf("store: %s: %v: nothing was written", e.Fence, ErrFenced)
}

func (e *FencedError) Unwrap() error { return ErrFenced }

// Leases hands the committer its fences.
type Leases interface {
	// Fences returns a fence for each partition this process owns now.
	// The embedded store has one partition, owned for as long as its file
	// is open (the file lock is the lease); each open is a new epoch, so a
	// fence taken before a close is stale after the reopen.
	Fences(ctx context.Context) ([]Fence, error)
}

// RulesGate keeps replicas that run different rules from sharing the
// work: the same event would open an incident on one and be ignored on
// another. A backend shared by replicas records each replica's rules hash
// with its heartbeat, and its Fences takes no partition while a live
// replica holding partitions runs other rules (it keeps the ones it
// holds, and the fair share counts only replicas that agree). The
// embedded store has one process: nothing can disagree.
type RulesGate interface {
	// SetRulesHash records the hash of the rules this process runs, from
	// its next Fences on.
	SetRulesHash(hash string)
	// RulesConflicts returns the live replicas holding partitions whose
	// rules hash differs from the recorded one, replica → hash; empty when
	// all agree.
	RulesConflicts(ctx context.Context) (map[string]string, error)
}

// Inbox is where accepted deliveries wait to be processed. The store
// tracks what was processed: the committer asks for what is pending and
// its commit removes what it processed (CommitTx.TakeInbox), so no caller
// keeps a cursor that a backend committing out of order could skip past.
type Inbox interface {
	// AddInbox durably stores a delivery before the webhook answers; it
	// returns only once the delivery is safe. Concurrent calls may share
	// one write.
	AddInbox(ctx context.Context, d delivery.Delivery) (InboxEntry, error)
	// PendingInbox returns up to limit (0: all) entries of the fence's
	// partition that no commit has taken yet, oldest first. An entry is
	// returned again by every call until a commit takes it: at least once.
	// An entry that cannot be decoded stops the read with a
	// *DamagedEntryError naming it, for QuarantineDamaged.
	PendingInbox(ctx context.Context, f Fence, limit int) ([]InboxEntry, error)
	// QuarantineDamaged moves an entry that cannot be decoded out of the
	// inbox into the quarantine, as it is stored, so the entries after it
	// can be processed and its bytes stay for an operator. An entry that
	// decodes is left where it is, with an error.
	QuarantineDamaged(ctx context.Context, f Fence, seq uint64) error
	// BeginBatch records that the pending entries lo..hi are about to be
	// processed, before anything that could crash the process runs, so
	// that the record outlives the process (a crash of the machine may
	// lose it: it is evidence against a delivery only when processing
	// killed the process).
	BeginBatch(ctx context.Context, f Fence, lo, hi uint64) error
	// Crashes counts a batch left recorded by a process that died as one
	// crash of each of its entries still pending, and returns every
	// pending entry's crash count.
	Crashes(ctx context.Context, f Fence) (map[uint64]int, error)
	// QuarantineCrashed moves a pending entry whose processing crashed the
	// process too often to the quarantine, with the reason.
	QuarantineCrashed(ctx context.Context, f Fence, e InboxEntry, reason string) error
}

// Committer runs the pipeline's commit: the deliveries of a batch, their
// dedup records, incident changes, outbox entries and audit records, all
// or nothing.
type Committer interface {
	// Commit runs fn in one transaction fenced by f: when f is not current
	// it returns a *FencedError and writes nothing; when fn or the commit
	// fails, nothing fn did is kept.
	Commit(ctx context.Context, f Fence, fn func(tx CommitTx) error) error
	// LiveIncidents returns the incidents of the fence's partition that
	// the committer keeps in memory: pending and open ones, and resolved
	// ones with a Deferred story still to tell.
	LiveIncidents(ctx context.Context, f Fence) ([]incident.Incident, error)
}

// CommitTx is one commit's transaction. Reads see what the transaction
// wrote before them.
type CommitTx interface {
	// TakeInbox removes a pending entry from the inbox and reports whether
	// it was pending: false means a commit took it already (a retry after
	// an unclear failure) and it must not be processed again. Entries are
	// taken in the order PendingInbox returned them.
	TakeInbox(seq uint64) (bool, error)
	// SeeEvent is the dedup test-and-set: when eventID has a record live
	// at now it reports true (a duplicate) and changes nothing; otherwise
	// it records eventID until until and reports false. Of concurrent
	// commits seeing one id, exactly one gets false.
	SeeEvent(eventID string, now, until time.Time) (bool, error)
	// AddOutbox stores a notification and returns it with its id; ids
	// grow, so entries of one ordering key are sent in the order added.
	AddOutbox(e outbox.Entry) (outbox.Entry, error)
	// OutboxWaiting reports whether an outbox entry is still waiting to be
	// sent (no claim removed it).
	OutboxWaiting(id string) (bool, error)
	// Incident reads a stored incident with its event and locks it until
	// the transaction ends; ok is false when there is none.
	Incident(fingerprint string) (inc incident.Incident, ok bool, err error)
	// PutIncident writes an incident's counters and times (not its Event);
	// a resolved one expires at until, with the refs recorded for it.
	PutIncident(inc *incident.Incident, until time.Time) error
	// PutIncidentEvent writes the event an incident started with.
	PutIncidentEvent(fingerprint string, ev *event.Event) error
	// DeleteIncident removes an incident record.
	DeleteIncident(fingerprint string) error
	// PutAudit writes a processed delivery's audit record with its
	// payload, expiring at until, and links the outbox entries the
	// delivery produced (added in this transaction) to it.
	PutAudit(rec *audit.Record, body Payload, until time.Time, outbox []outbox.Entry) error
}

// Outbox hands out the notifications waiting to be sent as claims: the
// entries of one ordering key are sent one at a time, in the order they
// were added, by whichever sender claims the key's head. A claim is held
// for a lease; one whose lease ran out may be claimed again (its sender
// died or hung), and then the first claim's outcome is refused with
// ErrClaimLost. Sent, Retry, Release and Bury end a claim.
type Outbox interface {
	// ClaimOutbox claims up to q.Limit entries that are due at q.Now, each
	// the head of its ordering key, whose key has no live claim, and that
	// q.Accept accepts, for q.Lease. next is the earliest time an
	// unclaimed head not yet due becomes due (zero when none waits).
	ClaimOutbox(ctx context.Context, q ClaimQuery) (claims []Claim, next time.Time, err error)
	// MarkInFlight records durably that the send of the claimed entry
	// starts at at: a later claim of the entry carries it as InFlight
	// until Sent or Bury, or a Retry without it, clears it.
	MarkInFlight(ctx context.Context, c Claim, at time.Time) error
	// Sent removes the claimed entry, records the ref the notifier
	// returned (under its key, when not nil) with the audit result
	// (audit.NoteSent, audit.NoteLogged), and adds the follow-up entries, in one
	// transaction.
	Sent(ctx context.Context, c Claim, s Sent) error
	// Retry writes back c.Entry after a failed attempt (attempts, error,
	// next attempt) and c.InFlight (zero clears the mark), and ends the
	// claim: the entry is due again at c.Entry.NextAttempt.
	Retry(ctx context.Context, c Claim) error
	// Release ends a claim leaving the stored entry as it is; it is not
	// offered again before notBefore.
	Release(ctx context.Context, c Claim, notBefore time.Time) error
	// Bury moves the claimed entry, as c.Entry says, to the dead letters.
	Bury(ctx context.Context, c Claim, reason string, died time.Time) error
	// GetRef returns the reference stored under key, ErrNotFound when none.
	GetRef(ctx context.Context, key string) (Ref, error)
}

// ClaimQuery says which outbox entries a sender can take now. Leases are
// judged by the Now of the queries, not by the store's own clock: a claim
// made with Now t and Lease d is live for every query with a Now before
// t+d, so the senders' clock is the one that counts.
type ClaimQuery struct {
	Now   time.Time
	Lease time.Duration
	// Limit bounds the claims returned; 0 means no bound.
	Limit int
	// Accept, when set, is asked about each due head, in no set order,
	// before it is claimed; a head it refuses stays unclaimed, and a head
	// it accepts is claimed (a backend asks only about heads it holds). The
	// sender's own limits (sends in flight per target, a notifier's rate
	// limit) decide here.
	Accept func(e *outbox.Entry) bool
}

// Claim is a sender's hold on one outbox entry.
type Claim struct {
	Entry outbox.Entry
	// Token identifies this claim among the entry's claims.
	Token uint64
	// Until is when the lease ends and another sender may claim the entry.
	Until time.Time
	// InFlight is when an earlier send of the entry started (MarkInFlight)
	// with no outcome recorded: it may have gone out. Zero when none.
	InFlight time.Time
}

// Sent is the outcome of a send that succeeded.
type Sent struct {
	Ref    *Ref   // what the notifier returned, nil when nothing
	Result string // audit.NoteSent, or audit.NoteLogged when the log stood in
	// Then are entries to add in the same transaction (the links a new
	// message or ticket gives the incident's others).
	Then []outbox.Entry
}

// ErrClaimLost means a claim ended: its lease ran out and another claim
// took the entry, or the entry left the outbox. The outcome was not
// recorded.
var ErrClaimLost = errors.New("the claim on this outbox entry was lost")

// ErrReplaying means another replay of the dead letter holds its claim.
var ErrReplaying = errors.New("is already being replayed")

// ReplayingError is a replay claim refused because another holds it.
type ReplayingError struct {
	ID    string
	Since time.Time
}

func (e *ReplayingError) Error() string {
	return fmt.Sprintf("dead letter %s %v (since %s)", e.ID, ErrReplaying, e.Since.UTC().Format(time.RFC3339))
}

func (e *ReplayingError) Unwrap() error { return ErrReplaying }

// DeadLetters is the operator's view of notifications that failed for
// good, with the replay claim that makes a replay send once whoever starts
// it and from where.
type DeadLetters interface {
	// DeadLetters returns every dead letter, oldest first.
	DeadLetters(ctx context.Context) ([]outbox.DeadLetter, error)
	// GetDead returns one dead letter; a missing id is ErrNotFound.
	GetDead(ctx context.Context, id string) (outbox.DeadLetter, error)
	// DropDead removes a dead letter for good.
	DropDead(ctx context.Context, id string) error
	// ClaimReplay claims a dead letter for one replay, for lease, and
	// returns it as stored: ErrNotFound when it is gone, a
	// *ReplayingError when another live claim holds it.
	ClaimReplay(ctx context.Context, id string, now time.Time, lease time.Duration) (ReplayClaim, error)
	// Replayed removes the claimed dead letter after its replay succeeded,
	// recording ref (when not nil) in the same transaction.
	Replayed(ctx context.Context, c ReplayClaim, ref *Ref) error
	// ReplayFailed rewrites the claimed dead letter as d (its new error)
	// and ends the claim.
	ReplayFailed(ctx context.Context, c ReplayClaim, d outbox.DeadLetter) error
	// ReleaseReplay ends a claim and leaves the dead letter as it is.
	ReleaseReplay(ctx context.Context, c ReplayClaim) error
}

// ReplayClaim is one replay's hold on a dead letter.
type ReplayClaim struct {
	Dead  outbox.DeadLetter
	Token uint64
	Since time.Time
	Until time.Time
}

// Silences keeps the operators' silences.
type Silences interface {
	// AddSilence stores a silence and returns it with its id.
	AddSilence(ctx context.Context, s silence.Silence) (silence.Silence, error)
	// PutSilence replaces a stored silence; a missing id is ErrNotFound.
	PutSilence(ctx context.Context, s silence.Silence) error
	// Silences lists every silence, oldest first, expired ones included.
	Silences(ctx context.Context) ([]silence.Silence, error)
	// ExpireSilence ends a silence at at (one already over keeps its end).
	ExpireSilence(ctx context.Context, id string, at time.Time) (silence.Silence, error)
}

// Incidents is the read side of incidents, for operators and for the
// senders, which show current counts.
type Incidents interface {
	// Incidents lists every stored incident.
	Incidents(ctx context.Context) ([]incident.Incident, error)
	// GetIncident returns one incident; a missing one is ErrNotFound.
	GetIncident(ctx context.Context, fingerprint string) (incident.Incident, error)
}

// Audit keeps the audit trail.
type Audit interface {
	// AddAudit stores records of deliveries that never reached the inbox
	// (rejected ones), with their payloads as kept, until until.
	AddAudit(ctx context.Context, recs []audit.Record, bodies [][]byte, until time.Time) error
	// Audit returns the records a query selects, newest first.
	Audit(ctx context.Context, q audit.Query) ([]audit.Record, error)
}

// Stats reports the sizes of the lists.
type Stats interface {
	// Depths reports the inbox, outbox and dead letters cheaply enough for
	// every metrics scrape.
	Depths(ctx context.Context) (Counts, error)
	// Counts reports every list, walking what it must: for tests and
	// diagnostics.
	Counts(ctx context.Context) (Counts, error)
}

// Maintenance is what keeps the store healthy.
type Maintenance interface {
	// Sweep removes records that expired before now, at most limit of
	// them (0: all), and reports how many.
	Sweep(ctx context.Context, now time.Time, limit int) (int, error)
	// Check proves the store can still write.
	Check(ctx context.Context) error
	// Probe proves the store has room for a write of n bytes.
	Probe(ctx context.Context, n int) error
}

// Command is an operator action on an incident (resolve, acknowledge,
// on-demand ticket, note) asked on a replica that does not own the
// incident's partition, recorded for the owner's committer to apply.
type Command struct {
	ID          int64
	Partition   int
	Fingerprint string
	Kind        string
	Args        []byte // JSON, the kind's arguments
	Actor       string
	Created     time.Time
}

// CommandOutcome is what became of a command: Done once the owner applied
// it (ErrKind and Err empty on success) or the asker ended it; Taken once
// an owner took it to apply.
type CommandOutcome struct {
	Done, Taken bool
	Result      []byte // JSON, the kind's result
	ErrKind     string
	Err         string
}

// Commands forwards incident actions to the partition's owner. A store
// whose partitions pass between processes implements it (the shared
// database); the embedded store owns its only partition and does not.
type Commands interface {
	// AskCommand records c for the owner of the partition holding the
	// incident c.Fingerprint and wakes the committers; ErrNotFound when
	// the store holds no such incident.
	AskCommand(ctx context.Context, c Command) (int64, error)
	// CommandOutcome reads what became of command id.
	CommandOutcome(ctx context.Context, id int64) (CommandOutcome, error)
	// ExpireCommand ends command id with errKind and reason unless an
	// owner took it already, and returns what became of it.
	ExpireCommand(ctx context.Context, id int64, errKind, reason string) (CommandOutcome, error)
	// TakeCommands returns, up to limit, the commands of f's partition
	// asked within maxAge and not done, in the order asked, marking them
	// taken; refused (a *FencedError) once f is stale.
	TakeCommands(ctx context.Context, f Fence, maxAge time.Duration, limit int) ([]Command, error)
	// FinishCommand records command id's outcome.
	FinishCommand(ctx context.Context, f Fence, id int64, o CommandOutcome) error
}
