package testwait

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	Until(t, "the third call", 5*time.Second, func() bool { return calls.Add(1) >= 3 })
	if n := calls.Load(); n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
}

// recorder is a testing.TB that keeps the failure instead of failing.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r) // stands in for runtime.Goexit
}

func TestUntilNamesWhatWasAwaited(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts []Option
		want string
	}{
		{nil, "testwait: timed out after 50ms waiting for the impossible"},
		{[]Option{Detail(func() string { return "consumed 3 of 5" })},
			"testwait: timed out after 50ms waiting for the impossible:\nconsumed 3 of 5"},
	} {
		r := &recorder{TB: t}
		func() {
			defer func() {
				if p := recover(); p != r {
					t.Fatalf("Until did not fail the test (recovered %v)", p)
				}
			}()
			Until(r, "the impossible", 50*time.Millisecond, func() bool { return false }, tc.opts...)
		}()
		if r.msg != tc.want {
			t.Errorf("failure %q, want %q", r.msg, tc.want)
		}
	}
}
