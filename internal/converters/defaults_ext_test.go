package converters_test

import (
	"testing"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/bundled"
	"github.com/sluicehq/sluice/internal/testregistry"
)

// A job's registry settings are every converter's defaults, but only as a
// whole: a converter naming its own schema.registry.url takes none of
// them, so the job's credentials never go to another registry (here the
// job's basic auth would clash with the other registry's bearer token).
func TestConverterDefaultsStayWithTheirRegistry(t *testing.T) {
	t.Parallel()
	jobs := testregistry.Start(t, testregistry.Options{User: "app", Password: "s3cret"})
	other := testregistry.Start(t, testregistry.Options{BearerToken: "tok-other"})
	defaults := map[string]any{"schema.registry.url": jobs.URL, "basic.auth.credentials.source": "USER_INFO",
		"basic.auth.user.info": "app:s3cret", "schema.registry.ssl.ca.location": jobs.Certs.CA}
	cc, err := connectors.ParseConnector(bundled.Registry(), connectors.KindSink, map[string]any{
		"name": "s", "type": "file", "topics": "t", "file.dir": t.TempDir(), "format": "json",
		"key.converter": "string", "value.converter": "avro",
		"value.converter.schema.registry.url":             other.URL,
		"value.converter.bearer.auth.token":               "tok-other",
		"value.converter.schema.registry.ssl.ca.location": other.Certs.CA,
	}, connectors.ParseOptions{ConverterDefaults: defaults})
	if err != nil {
		t.Fatalf("a converter with its own registry took the job's settings: %v", err)
	}
	s := connectors.NewStruct("N").Field("n", connectors.Int64Schema()).MustBuild()
	v := connectors.NewStructValue(s)
	if _, err := cc.ValueConverter.FromConnect("t", s, v.Put("n", int64(1))); err != nil {
		t.Fatalf("write through the other registry: %v", err)
	}
}
