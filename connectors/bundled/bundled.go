// Package bundled registers every connector, converter, transform and
// predicate that ships with Sluice: what the sluice binary offers. A
// program that brings its own connectors starts from Registry and adds
// them:
//
//	reg := bundled.Registry()
//	if err := reg.AddSource(mySource); err != nil { ... }
package bundled

import (
	"fmt"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/datagen"
	fileconn "github.com/sluicehq/sluice/connectors/file"
	httpconn "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/connectors/jdbc"
	"github.com/sluicehq/sluice/connectors/mysqlcdc"
	"github.com/sluicehq/sluice/connectors/postgrescdc"
	"github.com/sluicehq/sluice/connectors/s3"
	"github.com/sluicehq/sluice/internal/converters"
	"github.com/sluicehq/sluice/internal/transforms"
)

// Registry returns a new registry holding the bundled plugins.
func Registry() *connectors.Registry {
	reg := connectors.NewRegistry()
	for _, register := range []func(*connectors.Registry) error{
		converters.Register, transforms.Register,
		fileconn.Register, s3.Register, httpconn.Register, datagen.Register,
		postgrescdc.Register, mysqlcdc.Register, jdbc.Register,
	} {
		if err := register(reg); err != nil {
			// The bundled set is fixed at build time: a clash is a bug.
			panic(fmt.Sprintf("bundled: %v", err))
		}
	}
	return reg
}
