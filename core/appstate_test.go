package core

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A send that fails after the record left its task is fatal for the App
// (its state, not its configuration, holds the error) when the production
// handler says Fail or under exactly-once; the first error stays.
func TestAsyncProductionFailureIsFatal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  []Option
		fatal bool
	}{
		{"continue", []Option{WithProductionHandler(ProductionLogAndContinue(nil))}, false},
		{"fail", []Option{WithProductionHandler(ProductionLogAndFail(nil))}, true},
		{"exactly-once ignores continue", []Option{WithProductionHandler(ProductionLogAndContinue(nil)), WithProcessingGuarantee(ExactlyOnceV2)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := newConfig(append([]Option{WithApplicationID("fatal")}, tc.opts...))
			if err != nil {
				t.Fatal(err)
			}
			var s appState
			s.fatalCh = make(chan struct{})
			env := &taskEnv{appID: cfg.appID, cfg: cfg, fail: s.fail}
			env.asyncProductionFailed(TaskID{Partition: 2}, &kgo.Record{Topic: "out", Partition: 2}, errors.New("boom"))
			err = s.fatal()
			if !tc.fatal {
				if err != nil {
					t.Fatalf("fatal error %v after a handler that continues", err)
				}
				return
			}
			var pe *ProcessingError
			if !errors.As(err, &pe) || pe.Kind != "production" || !strings.Contains(err.Error(), `produce to "out" (partition 2): boom`) {
				t.Fatalf("fatal error %v, want the production error", err)
			}
			select {
			case <-s.failed():
			default:
				t.Fatal("failed() not closed after the fatal error")
			}
			s.fail(errors.New("later"))
			if s.fatal() != err {
				t.Errorf("a later error replaced the first: %v", s.fatal())
			}
		})
	}
}
