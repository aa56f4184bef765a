// Package enginetest is the conformance suite every state.Engine
// implementation runs: transactions, iteration order and bounds, window and
// session semantics, restore, read-only views.
package enginetest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/state"
)

// Opener opens the engine kept in dir (persistent engines) or a new one.
type Opener func(t *testing.T, dir string) state.Engine

// Run runs the suite. persistent engines are also reopened from dir.
func Run(t *testing.T, open Opener, persistent bool) {
	t.Run("ReadYourWrites", func(t *testing.T) { testReadYourWrites(t, open) })
	t.Run("AbortAndCommit", func(t *testing.T) { testAbortCommit(t, open) })
	t.Run("Order", func(t *testing.T) { testOrder(t, open) })
	t.Run("IteratorInvalidated", func(t *testing.T) { testInvalidated(t, open) })
	t.Run("WindowFetch", func(t *testing.T) { testWindowFetch(t, open) })
	t.Run("WindowRetention", func(t *testing.T) { testWindowRetention(t, open) })
	t.Run("Session", func(t *testing.T) { testSession(t, open) })
	t.Run("RawPut", func(t *testing.T) { testRawPut(t, open) })
	t.Run("ConcurrentReadOnly", func(t *testing.T) { testConcurrent(t, open) })
	t.Run("Kinds", func(t *testing.T) { testKinds(t, open) })
	if persistent {
		t.Run("Reopen", func(t *testing.T) { testReopen(t, open) })
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func openEngine(t *testing.T, open Opener) (state.Engine, string) {
	dir := t.TempDir()
	e := open(t, dir)
	t.Cleanup(func() { e.Close() })
	return e, dir
}

type kv struct{ k, v string }

type h struct{ t *testing.T }

func (x h) kv(it state.Iterator, err error) []kv {
	t := x.t
	t.Helper()
	must(t, err)
	defer it.Close()
	var out []kv
	for it.Next() {
		out = append(out, kv{string(it.Key()), string(it.Value())})
	}
	must(t, it.Err())
	return out
}

type win struct {
	k     string
	start int64
	v     string
}

func (x h) w(it state.WindowIterator, err error) []win {
	t := x.t
	t.Helper()
	must(t, err)
	defer it.Close()
	var out []win
	for it.Next() {
		out = append(out, win{string(it.Key()), it.WindowStart(), string(it.Value())})
	}
	must(t, it.Err())
	return out
}

type sess struct {
	k          string
	start, end int64
	v          string
}

func (x h) s(it state.SessionIterator, err error) []sess {
	t := x.t
	t.Helper()
	must(t, err)
	defer it.Close()
	var out []sess
	for it.Next() {
		out = append(out, sess{string(it.Key()), it.Start(), it.End(), string(it.Value())})
	}
	must(t, it.Err())
	return out
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func testReadYourWrites(t *testing.T, open Opener) {
	e, _ := openEngine(t, open)
	s, err := e.KeyValue("kv")
	must(t, err)
	must(t, s.Put([]byte("a"), []byte("1")))
	must(t, s.Put([]byte("c"), []byte("3")))
	must(t, e.Commit(nil))
	// Pending: overwrite a, delete c, add b.
	must(t, s.Put([]byte("a"), []byte("1'")))
	must(t, s.Delete([]byte("c")))
	must(t, s.Put([]byte("b"), []byte("2")))
	v, err := s.Get([]byte("a"))
	must(t, err)
	eq(t, "owner Get", string(v), "1'")
	if v, _ := s.Get([]byte("c")); v != nil {
		t.Fatalf("deleted key still visible: %q", v)
	}
	eq(t, "owner All", (h{t}).kv(s.All()), []kv{{"a", "1'"}, {"b", "2"}})
	eq(t, "owner ReverseRange", (h{t}).kv(s.ReverseRange(nil, nil)), []kv{{"b", "2"}, {"a", "1'"}})

	ro, err := e.ReadOnly().KeyValue("kv")
	must(t, err)
	eq(t, "read-only All", (h{t}).kv(ro.All()), []kv{{"a", "1"}, {"c", "3"}})
	v, err = ro.Get([]byte("a"))
	must(t, err)
	eq(t, "read-only Get", string(v), "1")
	must(t, e.Commit(nil))
	eq(t, "read-only All after commit", (h{t}).kv(ro.All()), []kv{{"a", "1'"}, {"b", "2"}})
}

func testAbortCommit(t *testing.T, open Opener) {
	e, _ := openEngine(t, open)
	s, err := e.KeyValue("kv")
	must(t, err)
	w, err := e.Window("w", time.Hour, 0)
	must(t, err)
	must(t, s.Put([]byte("x"), []byte("1")))
	must(t, w.Put([]byte("x"), 1000, []byte("w1")))
	must(t, e.Commit(map[string]int64{"app-kv-changelog/0": 10}))
	must(t, s.Put([]byte("x"), []byte("2")))
	must(t, s.Put([]byte("y"), []byte("2")))
	must(t, w.Put([]byte("x"), 5*3600_000, []byte("w2"))) // would expire the first window
	must(t, e.Abort())
	eq(t, "after abort", (h{t}).kv(s.All()), []kv{{"x", "1"}})
	got, err := w.Fetch([]byte("x"), 1000)
	must(t, err)
	eq(t, "window after abort (retention rolled back too)", string(got), "w1")
	must(t, e.Commit(map[string]int64{"app-w-changelog/0": 3}))
	cps, err := e.Checkpoints()
	must(t, err)
	eq(t, "checkpoints merged", cps, map[string]int64{"app-kv-changelog/0": 10, "app-w-changelog/0": 3})
}

func testOrder(t *testing.T, open Opener) {
	e, _ := openEngine(t, open)
	a, err := e.KeyValue("a")
	must(t, err)
	b, err := e.KeyValue("b")
	must(t, err)
	keys := []string{"", "\x00", "\x00\x00", "a", "a\x00", "ab", "b", "\xff", "\xff\xff"}
	for i, k := range keys {
		must(t, a.Put([]byte(k), []byte{byte('0' + i)}))
	}
	must(t, b.Put([]byte("zz"), []byte("other store")))
	for _, commit := range []bool{false, true} {
		if commit {
			must(t, e.Commit(nil))
		}
		var all []string
		for _, p := range (h{t}).kv(a.All()) {
			all = append(all, p.k)
		}
		eq(t, "All", all, keys)
		eq(t, "Range [a, b)", (h{t}).kv(a.Range([]byte("a"), []byte("b"))), []kv{{"a", "3"}, {"a\x00", "4"}, {"ab", "5"}})
		eq(t, "Range [b, nil)", (h{t}).kv(a.Range([]byte("b"), nil)), []kv{{"b", "6"}, {"\xff", "7"}, {"\xff\xff", "8"}})
		eq(t, "ReverseRange [\\x00, a\\x00)", (h{t}).kv(a.ReverseRange([]byte("\x00"), []byte("a\x00"))), []kv{{"a", "3"}, {"\x00\x00", "2"}, {"\x00", "1"}})
		eq(t, "Prefix a", (h{t}).kv(a.Prefix([]byte("a"))), []kv{{"a", "3"}, {"a\x00", "4"}, {"ab", "5"}})
		eq(t, "Prefix \\xff", (h{t}).kv(a.Prefix([]byte("\xff"))), []kv{{"\xff", "7"}, {"\xff\xff", "8"}})
		eq(t, "empty range", (h{t}).kv(a.Range([]byte("b"), []byte("a"))), []kv(nil))
		eq(t, "other store", (h{t}).kv(b.All()), []kv{{"zz", "other store"}})
	}
}

func testInvalidated(t *testing.T, open Opener) {
	e, _ := openEngine(t, open)
	s, err := e.KeyValue("kv")
	must(t, err)
	must(t, s.Put([]byte("a"), []byte("1")))
	must(t, s.Put([]byte("b"), []byte("1")))
	it, err := s.All()
	must(t, err)
	if !it.Next() {
		t.Fatal("empty")
	}
	must(t, e.Commit(nil))
	if it.Next() {
		t.Fatal("iterator survived commit")
	}
	if !errors.Is(it.Err(), state.ErrIteratorInvalidated) {
		t.Fatalf("Err = %v", it.Err())
	}
	must(t, it.Close())
}

func testWindowFetch(t *testing.T, open Opener) {
	e, _ := openEngine(t, open)
	w, err := e.Window("w", 24*time.Hour, time.Minute)
	must(t, err)
	// Keys chosen so that Kafka Streams' raw [key][ts] layout would
	// interleave them: "a" followed by a timestamp starts with "a\x00...".
	k1, k2, k3 := "a", "a\x00\x00\x00\x00\x00\x00\x00", "a\x00"
	for _, p := range []struct {
		k  string
		ts int64
	}{{k1, 180_000}, {k2, 60_000}, {k1, 0}, {k3, 0}, {k1, 60_000}, {k2, 0}, {"b", 0}, {k1, 59_999}} {
		must(t, w.Put([]byte(p.k), p.ts, []byte(fmt.Sprintf("%s@%d", p.k, p.ts))))
	}
	for _, commit := range []bool{false, true} {
		if commit {
			must(t, e.Commit(nil))
		}
		eq(t, "FetchRange a", (h{t}).w(w.FetchRange([]byte(k1), 0, math.MaxInt64)), []win{
			{k1, 0, k1 + "@0"}, {k1, 59_999, k1 + "@59999"}, {k1, 60_000, k1 + "@60000"}, {k1, 180_000, k1 + "@180000"}})
		eq(t, "FetchRange a [59999, 60000]", (h{t}).w(w.FetchRange([]byte(k1), 59_999, 60_000)), []win{
			{k1, 59_999, k1 + "@59999"}, {k1, 60_000, k1 + "@60000"}})
		eq(t, "FetchRange k2", (h{t}).w(w.FetchRange([]byte(k2), 0, 200_000)), []win{{k2, 0, k2 + "@0"}, {k2, 60_000, k2 + "@60000"}})
		eq(t, "FetchRange k3", (h{t}).w(w.FetchRange([]byte(k3), 0, 200_000)), []win{{k3, 0, k3 + "@0"}})
		eq(t, "FetchRange missing", (h{t}).w(w.FetchRange([]byte("c"), 0, 200_000)), []win(nil))
		got := (h{t}).w(w.FetchAll(0, 60_000))
		eq(t, "FetchAll [0, 60000]", got, []win{
			{k1, 0, k1 + "@0"}, {k1, 59_999, k1 + "@59999"}, {k3, 0, k3 + "@0"}, {k2, 0, k2 + "@0"}, {"b", 0, "b@0"},
			{k1, 60_000, k1 + "@60000"}, {k2, 60_000, k2 + "@60000"}})
		v, err := w.Fetch([]byte(k2), 60_000)
		must(t, err)
		eq(t, "Fetch", string(v), k2+"@60000")
		ro, err := e.ReadOnly().Window("w")
		must(t, err)
		n := len((h{t}).w(ro.FetchAll(0, math.MaxInt64)))
		if commit && n != 8 || !commit && n != 0 {
			t.Fatalf("read-only FetchAll saw %d windows (committed=%v)", n, commit)
		}
	}
	must(t, w.Put([]byte(k1), 0, nil))
	eq(t, "deleted window", (h{t}).w(w.FetchRange([]byte(k1), 0, 59_999)), []win{{k1, 59_999, k1 + "@59999"}})
}

func testWindowRetention(t *testing.T, open Opener) {
	e, _ := openEngine(t, open)
	// retention 10 min, segments of 1 min.
	w, err := e.Window("w", 10*time.Minute, time.Minute)
	must(t, err)
	eq(t, "Retention", w.Retention(), 10*time.Minute)
	const m = 60_000
	for i := int64(0); i < 30; i++ {
		must(t, w.Put([]byte("k"), i*m, []byte{byte(i)}))
		if i%7 == 0 {
			must(t, e.Commit(nil))
		}
	}
	must(t, e.Commit(nil))
	// observed = 29m: live windows start after 19m (observed - retention).
	var starts []int64
	for _, x := range (h{t}).w(w.FetchAll(math.MinInt64, math.MaxInt64)) {
		starts = append(starts, x.start/m)
	}
	eq(t, "live windows", starts, []int64{20, 21, 22, 23, 24, 25, 26, 27, 28, 29})
	v, err := w.Fetch([]byte("k"), 19*m)
	must(t, err)
	if v != nil {
		t.Fatal("expired window fetched")
	}
	// A write into an expired segment is dropped.
	must(t, w.Put([]byte("k"), 5*m, []byte("late")))
	eq(t, "late write dropped", len((h{t}).w(w.FetchRange([]byte("k"), 0, 10*m))), 0)
	// Expired segments are physically gone: a store that now lowers nothing
	// would still return them if only filtered at read time, so reopen the
	// store with a longer retention and look.
	w2, err := e.Window("w", 100*time.Hour, time.Minute)
	must(t, err)
	var after []int64
	for _, x := range (h{t}).w(w2.FetchAll(math.MinInt64, math.MaxInt64)) {
		after = append(after, x.start/m)
	}
	// Segments below segment(observed - old retention) = 19 were deleted.
	eq(t, "segments left", after, []int64{19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29})
}

func testSession(t *testing.T, open Opener) {
	e, _ := openEngine(t, open)
	s, err := e.Session("s", time.Hour, 10*time.Second)
	must(t, err)
	put := func(k string, start, end int64) {
		must(t, s.Put([]byte(k), start, end, []byte(fmt.Sprintf("%d-%d", start, end))))
	}
	put("u", 0, 5_000)
	put("u", 20_000, 31_000)
	put("u", 60_000, 60_000)
	put("u\x00", 21_000, 22_000) // a key sharing the prefix
	put("v", 25_000, 26_000)
	must(t, e.Commit(nil))
	// A record of u at t=27s with gap 5s merges sessions overlapping [22s, 32s].
	eq(t, "merge candidates", (h{t}).s(s.FindSessions([]byte("u"), 22_000, 32_000)), []sess{{"u", 20_000, 31_000, "20000-31000"}})
	// Gap 30s: [−3s, 57s] reaches the first two.
	eq(t, "merge candidates wide", (h{t}).s(s.FindSessions([]byte("u"), -3_000, 57_000)), []sess{
		{"u", 0, 5_000, "0-5000"}, {"u", 20_000, 31_000, "20000-31000"}})
	eq(t, "Fetch", (h{t}).s(s.Fetch([]byte("u"))), []sess{
		{"u", 0, 5_000, "0-5000"}, {"u", 20_000, 31_000, "20000-31000"}, {"u", 60_000, 60_000, "60000-60000"}})
	eq(t, "end boundary inclusive", len((h{t}).s(s.FindSessions([]byte("u"), 5_000, 5_000))), 1)
	eq(t, "start boundary inclusive", len((h{t}).s(s.FindSessions([]byte("u"), 60_000, 60_000))), 1)
	// Merge: remove the old sessions, write the merged one.
	must(t, s.Put([]byte("u"), 0, 5_000, nil))
	must(t, s.Put([]byte("u"), 20_000, 31_000, nil))
	put("u", 0, 31_000)
	eq(t, "after merge", (h{t}).s(s.Fetch([]byte("u"))), []sess{{"u", 0, 31_000, "0-31000"}, {"u", 60_000, 60_000, "60000-60000"}})
	ro, err := e.ReadOnly().Session("s")
	must(t, err)
	eq(t, "read-only sees committed", len((h{t}).s(ro.Fetch([]byte("u")))), 3)
	// Retention: an end far in the future expires old sessions.
	put("u", 2*3600_000, 2*3600_000)
	eq(t, "expired", (h{t}).s(s.Fetch([]byte("u"))), []sess{{"u", 7_200_000, 7_200_000, "7200000-7200000"}})
}

func testRawPut(t *testing.T, open Opener) {
	e, _ := openEngine(t, open)
	kvs, err := e.KeyValue("kv")
	must(t, err)
	w, err := e.Window("w", time.Hour, 0)
	must(t, err)
	s, err := e.Session("s", time.Hour, 0)
	must(t, err)
	must(t, e.RawPut("kv", []byte("a"), []byte("1")))
	must(t, e.RawPut("kv", []byte("b"), []byte("2")))
	must(t, e.RawPut("kv", []byte("a"), nil))
	must(t, e.RawPut("w", state.WindowChangelogKey([]byte("k"), 1000, 0), []byte("w0")))
	must(t, e.RawPut("w", state.WindowChangelogKey([]byte("k"), 1000, 1), []byte("w1")))
	must(t, e.RawPut("s", state.SessionChangelogKey([]byte("k"), 10, 20), []byte("s")))
	if err := e.RawPut("nope", []byte("k"), nil); !errors.Is(err, state.ErrUnknownStore) {
		t.Fatalf("unknown store: %v", err)
	}
	if err := e.RawPut("w", []byte("short"), nil); err == nil {
		t.Fatal("short window key accepted")
	}
	check := func(when string) {
		eq(t, when+": kv", (h{t}).kv(kvs.All()), []kv{{"b", "2"}})
		eq(t, when+": window with duplicates", (h{t}).w(w.FetchRange([]byte("k"), 0, 2000)), []win{{"k", 1000, "w0"}, {"k", 1000, "w1"}})
		eq(t, when+": session", (h{t}).s(s.Fetch([]byte("k"))), []sess{{"k", 10, 20, "s"}})
	}
	check("pending")
	// Restore writes followed by owner writes keep their order.
	must(t, e.RawPut("kv", []byte("c"), []byte("3")))
	must(t, kvs.Put([]byte("c"), []byte("3'")))
	must(t, e.RawPut("kv", []byte("d"), []byte("4")))
	must(t, e.Commit(map[string]int64{"kv/0": 4}))
	eq(t, "ordered", (h{t}).kv(kvs.Range([]byte("c"), nil)), []kv{{"c", "3'"}, {"d", "4"}})
	must(t, kvs.Delete([]byte("c")))
	must(t, kvs.Delete([]byte("d")))
	must(t, e.Commit(nil))
	check("committed")
	eq(t, "changelog key round trip", fmt.Sprint(state.ParseSessionChangelogKey(state.SessionChangelogKey([]byte("x"), 3, 9))), "[120] 3 9 <nil>")
}

func testConcurrent(t *testing.T, open Opener) {
	e, _ := openEngine(t, open)
	s, err := e.KeyValue("kv")
	must(t, err)
	w, err := e.Window("w", time.Hour, 0)
	must(t, err)
	ro := e.ReadOnly()
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				kvr, err := ro.KeyValue("kv")
				if err != nil {
					errs <- err
					return
				}
				it, err := kvr.All()
				if err != nil {
					errs <- err
					return
				}
				// Committed batches write keys 0..n-1 with the same value:
				// a reader must never see a mix of two commits.
				var first []byte
				for it.Next() {
					if first == nil {
						first = bytes.Clone(it.Value())
					} else if !bytes.Equal(first, it.Value()) {
						errs <- fmt.Errorf("torn read: %q vs %q", first, it.Value())
					}
				}
				it.Close()
				wr, _ := ro.Window("w")
				wi, err := wr.FetchAll(0, math.MaxInt64)
				if err == nil {
					for wi.Next() {
					}
					wi.Close()
				}
			}
		}()
	}
	for round := 0; round < 200; round++ {
		v := []byte(fmt.Sprint(round))
		for i := 0; i < 20; i++ {
			must(t, s.Put([]byte{byte(i)}, v))
		}
		must(t, w.Put([]byte("k"), int64(round), v))
		if round%3 == 2 {
			must(t, e.Abort())
		} else {
			must(t, e.Commit(nil))
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testKinds(t *testing.T, open Opener) {
	e, _ := openEngine(t, open)
	_, err := e.KeyValue("x")
	must(t, err)
	if _, err := e.Window("x", time.Hour, 0); !errors.Is(err, state.ErrStoreKind) {
		t.Fatalf("kind mismatch: %v", err)
	}
	if _, err := e.ReadOnly().Session("x"); !errors.Is(err, state.ErrStoreKind) {
		t.Fatalf("read-only kind mismatch: %v", err)
	}
	if _, err := e.ReadOnly().KeyValue("nope"); !errors.Is(err, state.ErrUnknownStore) {
		t.Fatalf("unknown: %v", err)
	}
	must(t, e.Close())
	if _, err := e.KeyValue("x"); !errors.Is(err, state.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if _, err := e.ReadOnly().KeyValue("x"); !errors.Is(err, state.ErrClosed) {
		t.Fatalf("read-only after close: %v", err)
	}
}

func testReopen(t *testing.T, open Opener) {
	dir := t.TempDir()
	e := open(t, dir)
	s, err := e.KeyValue("kv")
	must(t, err)
	w, err := e.Window("w", 10*time.Minute, time.Minute)
	must(t, err)
	must(t, s.Put([]byte("a"), []byte("1")))
	must(t, w.Put([]byte("k"), 20*60_000, []byte("w")))
	must(t, e.Commit(map[string]int64{"c/0": 1}))
	must(t, s.Put([]byte("a"), []byte("uncommitted")))
	must(t, w.Put([]byte("k"), 100*60_000, []byte("uncommitted")))
	must(t, e.Close())

	e = open(t, dir)
	s, err = e.KeyValue("kv")
	must(t, err)
	v, err := s.Get([]byte("a"))
	must(t, err)
	eq(t, "value after reopen", string(v), "1")
	cps, err := e.Checkpoints()
	must(t, err)
	eq(t, "checkpoints after reopen", cps, map[string]int64{"c/0": 1})
	ro, err := e.ReadOnly().Window("w") // known from disk before the owner opens it
	must(t, err)
	eq(t, "window after reopen (observed time persisted, uncommitted one lost)", (h{t}).w(ro.FetchAll(0, math.MaxInt64)), []win{{"k", 1_200_000, "w"}})
	must(t, e.Destroy())
	e = open(t, dir)
	cps, err = e.Checkpoints()
	must(t, err)
	eq(t, "checkpoints after destroy", len(cps), 0)
	must(t, e.Close())
}

// Sorted reports whether keys are in order; used by measurement helpers.
func Sorted(keys [][]byte) bool { return slices.IsSortedFunc(keys, bytes.Compare) }
