package registry

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

const (
	clientV1 = `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"int"}]}`
	clientV2 = `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"int"},{"name":"name","type":"string","default":""}]}`
	// clientBad adds a field without a default: not BACKWARD compatible.
	clientBad = `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"int"},{"name":"age","type":"int"}]}`
)

// TestFranzGoSRClient runs franz-go's pkg/sr client through a register /
// look-up / compatibility / delete round trip over a real listener.
func TestFranzGoSRClient(t *testing.T) {
	t.Parallel()
	cl, err := sr.NewClient(sr.URLs(startHTTP(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const subject = "users-value"
	s1, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: clientV1, Type: sr.TypeAvro})
	if err != nil || s1.ID != 1 || s1.Version != 1 {
		t.Fatalf("CreateSchema v1: %+v, %v", s1, err)
	}
	s2, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: clientV2})
	if err != nil || s2.ID != 2 || s2.Version != 2 {
		t.Fatalf("CreateSchema v2: %+v, %v", s2, err)
	}
	got, err := cl.LookupSchema(ctx, subject, sr.Schema{Schema: clientV1})
	if err != nil || got.ID != 1 || got.Version != 1 {
		t.Fatalf("LookupSchema: %+v, %v", got, err)
	}
	byID, err := cl.SchemaByID(ctx, 2)
	if err != nil || byID.Schema != clientV2 {
		t.Fatalf("SchemaByID: %+v, %v", byID, err)
	}
	for _, c := range []struct {
		version int
		schema  string
		want    bool
	}{{-1, clientV2, true}, {-1, clientBad, false}, {1, clientBad, false}, {2, clientV2, true}} {
		res, err := cl.CheckCompatibility(ctx, subject, c.version, sr.Schema{Schema: c.schema})
		if err != nil || res.Is != c.want {
			t.Fatalf("CheckCompatibility(version %d): %+v, %v; want %v", c.version, res, err, c.want)
		}
	}
	if _, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: clientBad}); err == nil || !strings.Contains(err.Error(), "40901") && !strings.Contains(err.Error(), "incompatible") {
		t.Fatalf("CreateSchema incompatible: %v, want a 40901 error", err)
	}
	if err := cl.DeleteSchema(ctx, subject, 2, sr.SoftDelete); err != nil {
		t.Fatalf("DeleteSchema: %v", err)
	}
	versions, err := cl.DeleteSubject(ctx, subject, sr.SoftDelete)
	if err != nil || len(versions) != 1 || versions[0] != 1 {
		t.Fatalf("DeleteSubject soft: %v, %v", versions, err)
	}
	if _, err := cl.DeleteSubject(ctx, subject, sr.HardDelete); err != nil {
		t.Fatalf("DeleteSubject hard: %v", err)
	}
	subjects, err := cl.Subjects(ctx)
	if err != nil || len(subjects) != 0 {
		t.Fatalf("Subjects after delete: %v, %v", subjects, err)
	}
}

// confluentPython is the Debian interpreter that has python3-confluent-kafka
// (ci/setup.sh installs it); SLUICE_PYTHON overrides it.
func confluentPython(t *testing.T) string {
	t.Helper()
	py := os.Getenv("SLUICE_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	out, err := exec.Command(py, "-c", "import confluent_kafka.schema_registry").CombinedOutput()
	if err != nil {
		msg := "Confluent's Python client (python3-confluent-kafka and python3-requests, installed by ci/setup.sh) is not importable by " + py + ": " + strings.TrimSpace(string(out))
		if os.Getenv("SLUICE_REQUIRE_CLIENTS") == "1" || os.Getenv("SLUICE_REQUIRE_DBS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
}

// pythonRoundTrip drives confluent_kafka.schema_registry.SchemaRegistryClient
// through the same round trip; it prints "ok" at the end.
const pythonRoundTrip = `
import sys
from confluent_kafka.schema_registry import SchemaRegistryClient, Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

url, v1, v2, bad = sys.argv[1:5]
c = SchemaRegistryClient({"url": url})
subject = "orders-value"
id1 = c.register_schema(subject, Schema(v1, "AVRO"))
assert id1 == 1, id1
id2 = c.register_schema(subject, Schema(v2, "AVRO"))
assert id2 == 2, id2
assert c.register_schema(subject, Schema(v1, "AVRO")) == 1
reg = c.lookup_schema(subject, Schema(v1, "AVRO"))
assert (reg.schema_id, reg.version, reg.subject) == (1, 1, subject), reg
latest = c.get_latest_version(subject)
assert (latest.schema_id, latest.version) == (2, 2), latest
assert c.get_schema(2).schema_str == v2
assert c.get_version(subject, 1).schema_id == 1
assert c.get_subjects() == [subject]
assert c.get_versions(subject) == [1, 2]
assert c.test_compatibility(subject, Schema(v2, "AVRO")) is True
assert c.test_compatibility(subject, Schema(bad, "AVRO")) is False
try:
    c.register_schema(subject, Schema(bad, "AVRO"))
    raise AssertionError("incompatible schema registered")
except SchemaRegistryError as e:
    assert e.http_status_code == 409 and e.error_code == 40901, (e.http_status_code, e.error_code)
assert c.set_compatibility(subject_name=subject, level="NONE") == {"compatibility": "NONE"}
assert c.get_compatibility(subject) == "NONE"
assert c.delete_version(subject, 2) == 2
# permanent=True: this client soft-deletes, then deletes permanently.
assert c.delete_subject(subject, permanent=True) == [1]
assert c.get_subjects() == []
try:
    c.get_version(subject, 1)
    raise AssertionError("deleted version found")
except SchemaRegistryError as e:
    assert e.http_status_code == 404 and e.error_code == 40401, (e.http_status_code, e.error_code)
print("ok")
`

// TestConfluentPythonClient runs Confluent's Python client
// (confluent_kafka.schema_registry) as a subprocess against a real
// listener. It skips when the module is missing, unless
// SLUICE_REQUIRE_CLIENTS=1 or SLUICE_REQUIRE_DBS=1 (CI).
func TestConfluentPythonClient(t *testing.T) {
	t.Parallel()
	py := confluentPython(t)
	base := startHTTP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", pythonRoundTrip, base, clientV1, clientV2, clientBad).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python round trip: %v\n%s", err, out)
	}
}
