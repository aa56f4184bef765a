package s3

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/connectortest"
	"github.com/sluicehq/sluice/internal/converters"
)

// The connector conformance suite (connectors/connectortest) run on the
// s3 sink and source in the real worker, against gofakes3.

func conformanceRegistry(t *testing.T) *connectors.Registry {
	t.Helper()
	reg := connectors.NewRegistry()
	if err := converters.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// jsonID extracts the "id" field of a JSON document.
func jsonID(b []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "undecodable: " + string(b)
	}
	return v.ID
}

// TestConformanceSink runs the sink scenarios on JSON objects, in the two
// ways the sink is exactly-once (see its doc):
//   - recovery: objects cut every 20 records of a partition and every
//     200 ms of wall-clock time, so that the short tails of partitions
//     complete too. Scheduled rotation is not deterministic: records
//     delivered again are cut elsewhere, so exactly-once across crashes
//     rests on recovery (recovery.scan=auto with DefaultPartitioner): a
//     task assigned a partition seeks past the objects already in the
//     bucket.
//   - deterministic: no recovery, objects cut by flush.size alone (one
//     record each, so that every partition's tail completes), so records
//     delivered again make objects of the same keys that overwrite the
//     earlier ones.
func TestConformanceSink(t *testing.T) {
	t.Parallel()
	variants := []struct {
		name     string
		settings map[string]any
	}{
		{"recovery", map[string]any{"flush.size": 20, "rotate.schedule.interval.ms": 200, "timezone": "UTC"}},
		{"deterministic", map[string]any{"flush.size": 1, "recovery.scan": "none"}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			var (
				fs   *fakeS3
				read map[string]objectIDs // by key: the ids of each object read so far
			)
			connectortest.TestSink(t, connectortest.Sink{
				Plugins: conformanceRegistry(t),
				Config: func(t *testing.T) map[string]any {
					fs, read = newFakeS3(t), map[string]objectIDs{}
					return merge(merge(fs.baseConfig(), map[string]any{
						"type": "s3", "format.class": "json",
						"key.converter": "string", "value.converter": "json", "value.converter.schemas.enable": false,
					}), v.settings)
				},
				Written: func(t *testing.T) []string {
					var ids []string
					for o := range fs.client.ListObjects(context.Background(), testBucket, minio.ListObjectsOptions{Prefix: "topics/", Recursive: true}) {
						if o.Err != nil {
							t.Fatal(o.Err)
						}
						// The suite asks often: read only new or replaced objects.
						got, ok := read[o.Key]
						if !ok || got.etag != o.ETag {
							got = objectIDs{etag: o.ETag}
							for _, line := range lines(fs.get(t, o.Key)) {
								got.ids = append(got.ids, jsonID([]byte(line)))
							}
							read[o.Key] = got
						}
						ids = append(ids, got.ids...)
					}
					return ids
				},
				ExactlyOnce: true,
			})
		})
	}
}

type objectIDs struct {
	etag string
	ids  []string
}

// TestConformanceSource runs the source scenarios on objects in the sink's
// layout (RESTORE_BACKUP): Append spreads its items over Kafka partitions
// 0-3 of a topic "src" in objects of at most 10 JSON lines, with start
// offsets growing per partition as the sink writes them; the source
// writes them to the suite's topic (topic overrides the one in the key),
// each to the partition named in its key.
func TestConformanceSource(t *testing.T) {
	t.Parallel()
	const partitions, perObject = 4, 10
	var (
		fs   *fakeS3
		next [partitions]int // the next start offset of each partition
	)
	put := func(t *testing.T, p int, items []string) {
		key := fmt.Sprintf("topics/src/partition=%d/src+%d+%010d.json", p, p, next[p])
		fs.put(t, key, []byte(strings.Join(items, "\n")+"\n"))
		next[p] += len(items)
	}
	connectortest.TestSource(t, connectortest.Source{
		Plugins: conformanceRegistry(t),
		Config: func(t *testing.T, topic string) map[string]any {
			fs, next = newFakeS3(t), [partitions]int{}
			return merge(fs.baseConfig(), map[string]any{
				"type": "s3", "format.class": "json", "topic": topic,
				"s3.poll.interval.ms": 100, "record.batch.max.size": 50,
				"value.converter": "json", "value.converter.schemas.enable": false,
			})
		},
		Append: func(t *testing.T, from, n int) []string {
			ids := make([]string, n)
			var byPart [partitions][]string
			for i := range ids {
				ids[i] = fmt.Sprintf("item-%05d", from+i)
				p := (from + i) % partitions
				byPart[p] = append(byPart[p], fmt.Sprintf(`{"id":%q,"n":%d}`, ids[i], from+i))
				if len(byPart[p]) == perObject {
					put(t, p, byPart[p])
					byPart[p] = nil
				}
			}
			for p, items := range byPart {
				if len(items) > 0 {
					put(t, p, items)
				}
			}
			return ids
		},
		ID: func(r *kgo.Record) string { return jsonID(r.Value) },
		// A malformed line in an object of its own: the JSON reader
		// reports the line (stage TASK_POLL) and reads on.
		Poison:      func(t *testing.T) { put(t, 0, []string{"{not json"}) },
		ExactlyOnce: true,
	})
}
