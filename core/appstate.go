package core

import (
	"sync"
	"sync/atomic"
)

// State is an application's lifecycle state, named as Kafka Streams'
// KafkaStreams.State:
//
//	CREATED -> REBALANCING <-> RUNNING -> PENDING_SHUTDOWN -> NOT_RUNNING
//	                                   \-> ERROR (a fatal error stopped it)
//
// REBALANCING covers joining the group and restoring state stores: the
// application is RUNNING once every stream thread has joined the group
// and no assigned task is restoring, which is what a readiness probe asks.
// A rebalance that moves tasks without restoring shows as RUNNING
// throughout (cooperative rebalancing keeps the other tasks processing).
type State string

// The states of an App.
const (
	StateCreated         State = "CREATED"
	StateRebalancing     State = "REBALANCING"
	StateRunning         State = "RUNNING"
	StatePendingShutdown State = "PENDING_SHUTDOWN"
	StateNotRunning      State = "NOT_RUNNING"
	StateError           State = "ERROR"
)

// StateListener is told of every state change (Kafka Streams'
// KafkaStreams.StateListener). It is called from the goroutine that made
// the change, one call at a time, and must not block.
type StateListener func(newState, oldState State)

// WithStateListener sets the listener of the application's state changes.
func WithStateListener(l StateListener) Option { return func(c *config) { c.stateListener = l } }

// Thread states, as reported to the application.
const (
	threadJoining int32 = iota
	threadRestoring
	threadRunning
)

// appState is the application's state, its threads' states and its
// fatal error.
type appState struct {
	mu       sync.Mutex // serializes transitions and listener calls
	current  atomic.Value
	threads  []atomic.Int32
	listener StateListener

	// The first fatal error: the error Run returns, after which the
	// application is in ERROR. Any goroutine records it (fail): stream
	// threads, the global thread, delivery callbacks of async sends;
	// stream threads check it (fatal) before each poll and commit so
	// that nothing past a failed record is committed.
	fatalOnce sync.Once
	fatalErr  error
	fatalCh   chan struct{} // closed once fatalErr is set
}

// fail records the first fatal error; the application stops with it.
func (s *appState) fail(err error) {
	s.fatalOnce.Do(func() {
		s.fatalErr = err
		close(s.fatalCh)
	})
}

// fatal returns the first fatal error, or nil.
func (s *appState) fatal() error {
	select {
	case <-s.fatalCh:
		return s.fatalErr
	default:
		return nil
	}
}

// failed is closed when a fatal error is recorded.
func (s *appState) failed() <-chan struct{} { return s.fatalCh }

func (s *appState) get() State {
	if v, ok := s.current.Load().(State); ok {
		return v
	}
	return StateCreated
}

// set moves to next and tells the listener; it is a no-op when already
// there, and nothing leaves NOT_RUNNING or ERROR.
func (s *appState) set(next State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(next)
}

func (s *appState) setLocked(next State) {
	old := s.get()
	if old == next || old == StateNotRunning || old == StateError {
		return
	}
	s.current.Store(next)
	if s.listener != nil {
		s.listener(next, old)
	}
}

// threadChanged records thread i's state and moves the application
// between REBALANCING and RUNNING accordingly.
func (s *appState) threadChanged(i int, ts int32) {
	if s.threads[i].Swap(ts) == ts {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.get()
	if cur != StateRebalancing && cur != StateRunning {
		return // starting up is set by Run; shutting down is final
	}
	next := StateRunning
	for i := range s.threads {
		if s.threads[i].Load() != threadRunning {
			next = StateRebalancing
			break
		}
	}
	s.setLocked(next)
}

// State returns the application's current state.
func (a *App) State() State { return a.state.get() }

// reportState tells the application whether this thread has joined the
// group and restored its tasks. It runs in the thread's loop with mu held;
// it is cheap when nothing changed.
func (t *thread) reportState() {
	if !t.joined {
		if _, gen := t.cl.GroupMetadata(); gen < 0 {
			t.app.state.threadChanged(t.idx, threadJoining)
			return
		}
		t.joined = true
	}
	ts := threadRunning
	if t.restoring > 0 {
		ts = threadRestoring
	}
	t.app.state.threadChanged(t.idx, ts)
}
