// Package testwait waits in tests for a condition that another goroutine,
// a child process or a server makes true: it polls the condition and,
// when the time is up, fails the test with what was awaited. It is the one
// wait-for loop of the repository's tests; prefer a channel, or
// testing/synctest, where the code under test can signal directly.
//
//	testwait.Until(t, "every record consumed", 30*time.Second, func() bool {
//		return app.Stats().Consumed >= n
//	})
package testwait

import (
	"testing"
	"time"
)

// Polling starts at firstInterval and doubles up to maxInterval: a
// condition that holds soon is seen soon, and one that takes seconds (a
// rebalance, a database round trip) is not checked in a busy loop.
const (
	firstInterval = 10 * time.Millisecond
	maxInterval   = 100 * time.Millisecond
)

// An Option changes how Until polls or reports a timeout.
type Option func(*waiter)

type waiter struct {
	detail func() string
	every  time.Duration
}

// Every polls every d instead of backing off from 10 ms to 100 ms, for a
// condition that is costly to check (one that starts a process).
func Every(d time.Duration) Option {
	return func(w *waiter) { w.every = d }
}

// Detail appends detail() to the failure message, on a line of its own:
// the state last seen (a count, a status) or a child process's output.
// It is called once, when the wait has timed out.
func Detail(detail func() string) Option {
	return func(w *waiter) { w.detail = detail }
}

// Until calls cond until it returns true. When timeout passes first, it
// fails the test with "timed out after <timeout> waiting for <what>" (and
// the Detail, if any). cond runs on the caller's goroutine, so it may fail
// the test itself, for example when a process it watches has exited.
func Until(t testing.TB, what string, timeout time.Duration, cond func() bool, opts ...Option) {
	t.Helper()
	var w waiter
	for _, o := range opts {
		o(&w)
	}
	deadline := time.Now().Add(timeout)
	interval := firstInterval
	if w.every > 0 {
		interval = w.every
	}
	for !cond() {
		if time.Now().After(deadline) {
			if w.detail != nil {
				t.Fatalf("testwait: timed out after %v waiting for %s:\n%s", timeout, what, w.detail())
			}
			t.Fatalf("testwait: timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(interval)
		if w.every == 0 {
			interval = min(2*interval, maxInterval)
		}
	}
}
