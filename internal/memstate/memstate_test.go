package memstate_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/memstate"
	"github.com/sluicehq/sluice/internal/stateengine/enginetest"
	"github.com/sluicehq/sluice/state"
)

func TestConformance(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, _ string) state.Engine { return memstate.New() }, false)
}
