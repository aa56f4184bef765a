package broker

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// kcatPath returns the kcat binary, skipping the test when it is missing
// outside CI; CI installs it with ci/setup.sh, so there it must exist.
func kcatPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kcat not found in CI (ci/setup.sh installs it): %v", err)
		}
		t.Skip("kcat not installed; run ci/setup.sh to test librdkafka interoperability")
	}
	return path
}

// runKcat runs kcat against b with args and stdin, returning its stdout.
func runKcat(t *testing.T, b *Broker, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcatPath(t), append([]string{"-b", b.Addrs()[0], "-q"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// TestKcatInterop checks that librdkafka, the client library behind most
// non-Java Kafka clients, works against the broker: metadata, produce with
// auto-creation, a transactional produce, and a balanced consumer group.
func TestKcatInterop(t *testing.T) {
	kcatPath(t)
	b := startBroker(t, Config{})
	const topic = "kcat-topic"

	runKcat(t, b, "k1:v1\nk2:v2\nk3:v3\n", "-P", "-t", topic, "-K:")
	runKcat(t, b, "t1:x1\nt2:x2\n", "-P", "-t", topic, "-K:", "-X", "transactional.id=kcat-txn")

	var meta struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32 `json:"partition"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	out := runKcat(t, b, "", "-L", "-J", "-t", topic)
	if err := json.Unmarshal([]byte(out), &meta); err != nil {
		t.Fatalf("kcat -L -J output %q: %v", out, err)
	}
	if len(meta.Brokers) != 1 || meta.Brokers[0].Name != b.Addrs()[0] {
		t.Errorf("kcat sees brokers %+v, want one at %s", meta.Brokers, b.Addrs()[0])
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Topic != topic || len(meta.Topics[0].Partitions) != int(DefaultPartitions) {
		t.Errorf("kcat sees topics %+v, want %s with %d partitions", meta.Topics, topic, DefaultPartitions)
	}

	// -G joins a balanced (classic protocol) consumer group; -e exits once
	// every assigned partition is at its end, committing on close.
	out = runKcat(t, b, "", "-G", "kcat-group", "-X", "auto.offset.reset=earliest", "-e", "-f", "%k=%s\n", topic)
	got := strings.Fields(out)
	slices.Sort(got)
	want := []string{"k1=v1", "k2=v2", "k3=v3", "t1=x1", "t2=x2"}
	if !slices.Equal(got, want) {
		t.Fatalf("kcat group consumer read %q, want %q", got, want)
	}

	lag, err := kadm.NewClient(newClient(t, b)).Lag(testContext(t, 5*time.Second), "kcat-group")
	if err != nil {
		t.Fatal(err)
	}
	gl := lag["kcat-group"]
	if gl.Error() != nil || gl.Lag.Total() != 0 || len(gl.Lag[topic]) != int(DefaultPartitions) {
		t.Fatalf("kcat group lag %+v, want committed offsets with zero lag", gl)
	}
}
