// Package schematool is the library behind `sluice schemas`: it registers
// .avsc files, checks them against a subject's registered versions (for CI
// gates), and reads subjects, versions and schemas, all over the Confluent
// Schema Registry REST API (through serde/schemaregistry's client) so it
// works against any compatible registry.
//
// Start with a client:
//
//	c, err := registryconf.Config{URL: "http://localhost:8081"}.NewClient()
//	res, err := schematool.Check(ctx, c, schematool.CheckRequest{Subject: "orders-value", Schema: text})
//	for _, p := range res.Problems { fmt.Println(p) }
package schematool

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/registryconf"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// ParseBasicAuth splits a --basic-auth "user:password" flag value.
func ParseBasicAuth(s string) (user, password string, err error) {
	user, password, ok := strings.Cut(s, ":")
	if !ok || user == "" {
		// Not quoted back: it is a password.
		return "", "", errors.New("--basic-auth: want user:password")
	}
	return user, password, nil
}

// Hint adds to a registry error what a person at the command line should
// change: the credentials flags for a 401, the TLS property for a
// certificate or scheme mismatch (registryconf.Explain). Other errors are
// returned as they are.
func Hint(err error) error {
	if err == nil {
		return nil
	}
	var re *schemaregistry.Error
	if errors.As(err, &re) && re.Status == 401 {
		return fmt.Errorf("%w (check the credentials: --basic-auth, or basic.auth.user.info or bearer.auth.token in --registry-config)", err)
	}
	if cause := registryconf.Explain(err); cause != "" {
		return fmt.Errorf("%s: %w", cause, err)
	}
	return err
}
