package s3

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// allIDs reads every record id in the bucket under prefix, sorted.
func allIDs(t *testing.T, fs *fakeS3, prefix string) []int64 {
	t.Helper()
	var out []int64
	for _, k := range fs.keys(t, prefix) {
		out = append(out, ids(t, fs, k)...)
	}
	slices.Sort(out)
	return out
}

// duplicates returns the ids that occur more than once.
func duplicates(all []int64) []int64 {
	var out []int64
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] && (len(out) == 0 || out[len(out)-1] != all[i]) {
			out = append(out, all[i])
		}
	}
	return out
}

// redeliveryStart is where the worker's consumer resumes a partition: the
// task's Seek if it made one, else the committed offset.
func redeliveryStart(tc *fakeSinkCtx, p connectors.TopicPartition, committed int64) int64 {
	if off, ok := tc.seeks[p]; ok {
		return off
	}
	return committed
}

// A crash after objects were uploaded but before their offsets were
// committed: the records come again from the committed offset (none
// here), and every record is in the bucket once: with recovery the task
// seeks past the complete objects; without it, the same records make
// the same keys and overwrite them.
func TestSinkExactlyOnceAfterCrash(t *testing.T) {
	t.Parallel()
	for _, recovery := range []string{"auto", "none"} {
		t.Run(recovery, func(t *testing.T) {
			t.Parallel()
			fs := newFakeS3(t)
			cfg := map[string]any{"flush.size": 3, "recovery.scan": recovery}
			p := tp("pay", 0)

			a, _ := newTestSink(t, fs, cfg)
			if err := a.Assign(ctx, []connectors.TopicPartition{p}); err != nil {
				t.Fatal(err)
			}
			mustPut(t, a, recs("pay", 0, 0, 10, nil)) // objects 0, 3, 6 complete; 9 open
			// Crash: no PreCommit, nothing committed.

			b, tcB := newTestSink(t, fs, cfg)
			if err := b.Assign(ctx, []connectors.TopicPartition{p}); err != nil {
				t.Fatal(err)
			}
			from := redeliveryStart(tcB, p, 0)
			if want := map[string]int64{"auto": 9, "none": 0}[recovery]; from != want {
				t.Fatalf("redelivery starts at %d, want %d", from, want)
			}
			mustPut(t, b, recs("pay", 0, from, int(15-from), nil))
			if got := preCommit(t, b, map[connectors.TopicPartition]int64{p: 15}); got[p] != 15 {
				t.Fatalf("precommit %v, want 15", got)
			}
			if got := allIDs(t, fs, ""); !slices.Equal(got, seq(0, 15)) {
				t.Fatalf("bucket holds %v, want 0..14 once each", got)
			}
			want := []string{"0000000000", "0000000003", "0000000006", "0000000009", "0000000012"}
			keys := fs.keys(t, "")
			if len(keys) != len(want) {
				t.Fatalf("keys %q", keys)
			}
			for i, k := range keys {
				if !strings.Contains(k, want[i]) {
					t.Fatalf("keys %q", keys)
				}
			}
		})
	}
}

// rotate.schedule.interval.ms cuts objects by wall-clock time, so records
// delivered again are cut elsewhere. Recovery (DefaultPartitioner) still
// leaves every record once; without it, records are duplicated, which is
// why Confluent's sink is not exactly-once with this setting.
func TestSinkScheduledRotationCrash(t *testing.T) {
	t.Parallel()
	for _, recovery := range []string{"auto", "none"} {
		t.Run(recovery, func(t *testing.T) {
			t.Parallel()
			fs := newFakeS3(t)
			cfg := map[string]any{"flush.size": 1000, "rotate.schedule.interval.ms": 60000, "timezone": "UTC", "recovery.scan": recovery}
			p := tp("sched", 0)
			clock := time.Date(2024, 3, 1, 10, 0, 30, 0, time.UTC)

			a, _ := newTestSink(t, fs, cfg)
			a.now = func() time.Time { return clock }
			if err := a.Assign(ctx, []connectors.TopicPartition{p}); err != nil {
				t.Fatal(err)
			}
			mustPut(t, a, recs("sched", 0, 0, 5, nil))
			clock = clock.Add(35 * time.Second) // 10:01:05: the 10:01 rotation is due
			mustPut(t, a, recs("sched", 0, 5, 3, nil))
			clock = clock.Add(65 * time.Second) // 10:02:10
			mustPut(t, a, recs("sched", 0, 8, 1, nil))
			if got := fs.keys(t, ""); len(got) != 2 {
				t.Fatalf("keys after the scheduled rotations: %q", got)
			}
			// Crash before any offset commit.

			b, tcB := newTestSink(t, fs, cfg)
			bClock := time.Date(2024, 3, 1, 10, 5, 0, 0, time.UTC)
			b.now = func() time.Time { return bClock }
			if err := b.Assign(ctx, []connectors.TopicPartition{p}); err != nil {
				t.Fatal(err)
			}
			from := redeliveryStart(tcB, p, 0)
			mustPut(t, b, recs("sched", 0, from, int(11-from), nil))
			bClock = bClock.Add(time.Minute)
			preCommit(t, b, nil) // the scheduled rotation of an idle partition
			all := allIDs(t, fs, "")
			dups := duplicates(all)
			switch recovery {
			case "auto":
				if from != 8 {
					t.Fatalf("recovery seeks to %d, want 8 (after the complete objects)", from)
				}
				if !slices.Equal(all, seq(0, 11)) {
					t.Fatalf("bucket holds %v, want 0..10 once each", all)
				}
			case "none":
				if len(dups) == 0 {
					t.Fatalf("without recovery, a non-deterministic rotation left no duplicate (%v): the test no longer shows why recovery matters", all)
				}
			}
		})
	}
}

// A crash in the middle of completing a group of several objects
// (FieldPartitioner): recovery.scan=full finds the incomplete group and
// rewrites it from its start; every record ends up once.
func TestSinkRecoveryOfAPartialGroup(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	cfg := map[string]any{
		"partitioner.class": "FieldPartitioner", "partition.field.name": "region",
		"flush.size": 4, "recovery.scan": "full",
	}
	regions := []string{"eu", "us"}
	mk := func(from int64, n int) []*connectors.Record {
		return recs("geo", 0, from, n, func(r *connectors.Record) { r.Value.(map[string]any)["region"] = regions[r.Offset%2] })
	}
	p := tp("geo", 0)
	a, _ := newTestSink(t, fs, cfg)
	if err := a.Assign(ctx, []connectors.TopicPartition{p}); err != nil {
		t.Fatal(err)
	}
	// The second group's us object fails to upload; the task then dies.
	fs.inject(fault{match: isPutOf("region=us/geo+0+0000000005"), status: 500, code: "InternalError", count: -1})
	if err := a.Put(ctx, mk(0, 8)); !connectors.IsRetriable(err) {
		t.Fatalf("put: %v, want a retriable failure", err)
	}
	fs.mu.Lock()
	fs.faults = nil
	fs.mu.Unlock()
	if got := fs.keys(t, ""); len(got) != 3 {
		t.Fatalf("keys after the partial group: %q", got)
	}

	b, tcB := newTestSink(t, fs, cfg)
	if err := b.Assign(ctx, []connectors.TopicPartition{p}); err != nil {
		t.Fatal(err)
	}
	from := redeliveryStart(tcB, p, 0)
	if from != 4 {
		t.Fatalf("recovery seeks to %d, want 4 (the start of the incomplete group)", from)
	}
	mustPut(t, b, mk(from, int(8-from)))
	if got := allIDs(t, fs, ""); !slices.Equal(got, seq(0, 8)) {
		t.Fatalf("bucket holds %v, want 0..7 once each", got)
	}

	// With the group complete, a new task resumes after it.
	c, tcC := newTestSink(t, fs, cfg)
	if err := c.Assign(ctx, []connectors.TopicPartition{p}); err != nil {
		t.Fatal(err)
	}
	if got := tcC.seeks[p]; got != 8 {
		t.Fatalf("recovery after a complete group seeks to %d, want 8", got)
	}
	// recovery.scan=auto does not list directories for FieldPartitioner.
	d, tcD := newTestSink(t, fs, merge(cfg, map[string]any{"recovery.scan": "auto"}))
	if err := d.Assign(ctx, []connectors.TopicPartition{p}); err != nil {
		t.Fatal(err)
	}
	if len(tcD.seeks) != 0 {
		t.Fatalf("auto recovery with FieldPartitioner seeked: %v", tcD.seeks)
	}
}

// The search for a partition's last object with more objects than one
// listing page, and with offsets wider than the zero padding.
func TestSinkRecoverySearch(t *testing.T) {
	t.Parallel()
	fs := newFakeS3(t)
	prefix := "topics/s/partition=0/s+0+"
	var offs []int64
	for i := range 57 {
		off := int64(i*i*37 + 5)
		offs = append(offs, off)
		fs.put(t, fmt.Sprintf("%s%010d.json", prefix, off), []byte("{}\n"))
	}
	fs.put(t, prefix+"notes.txt", []byte("x"))
	fs.put(t, "topics/s/partition=0/s+1+9999999999.json", []byte("{}\n"))
	task, tc := newTestSink(t, fs, nil)
	task.listPage = 10
	if err := task.Assign(ctx, []connectors.TopicPartition{tp("s", 0)}); err != nil {
		t.Fatal(err)
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	if got, want := tc.seeks[tp("s", 0)], offs[len(offs)-1]; got != want {
		t.Fatalf("seek %d, want %d (the last object's start: it has no group metadata)", got, want)
	}
	// An offset beyond the padding sorts among the others; the search
	// notices and lists everything.
	fs.put(t, prefix+"12345678901.json", []byte("{}\n"))
	task2, tc2 := newTestSink(t, fs, nil)
	task2.listPage = 10
	if err := task2.Assign(ctx, []connectors.TopicPartition{tp("s", 0)}); err != nil {
		t.Fatal(err)
	}
	if got := tc2.seeks[tp("s", 0)]; got != 12345678901 {
		t.Fatalf("seek %d, want 12345678901", got)
	}
}
