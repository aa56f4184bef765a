package pebblestate_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/pebblestate"
	"github.com/sluicehq/sluice/internal/stateengine/enginetest"
	"github.com/sluicehq/sluice/state"
)

func openT(t *testing.T, dir string) state.Engine {
	e, err := pebblestate.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestConformance(t *testing.T) {
	enginetest.Run(t, openT, true)
}
