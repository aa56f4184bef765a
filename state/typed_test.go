package state_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/memstate"
	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/state"
)

func TestTypedViews(t *testing.T) {
	e := memstate.New()
	defer e.Close()
	kvStore, err := e.KeyValue("counts")
	if err != nil {
		t.Fatal(err)
	}
	counts := state.NewKV(kvStore, serde.String(), serde.Int64())
	for k, v := range map[string]int64{"a": 1, "b": 2, "c": 3} {
		if err := counts.Put(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok, err := counts.Get("b"); err != nil || !ok || v != 2 {
		t.Fatalf("Get b = %d %v %v", v, ok, err)
	}
	if _, ok, _ := counts.Get("z"); ok {
		t.Fatal("found missing key")
	}
	counts.Delete("a")
	it, err := counts.Range("a", "c")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for it.Next() {
		got = append(got, it.Key())
	}
	it.Close()
	if len(got) != 1 || got[0] != "b" || it.Err() != nil {
		t.Fatalf("Range = %v %v", got, it.Err())
	}

	ws, _ := e.Window("w", time.Hour, 0)
	w := state.NewWindow(ws, serde.String(), serde.Int64())
	w.Put("k", 0, 10)
	w.Put("k", 1000, 11)
	wi, _ := w.FetchRange("k", 0, 1000)
	var sum int64
	for wi.Next() {
		sum += wi.Value() + wi.WindowStart()
	}
	wi.Close()
	if sum != 1021 {
		t.Fatalf("window sum %d", sum)
	}

	ss, _ := e.Session("s", time.Hour, 0)
	s := state.NewSession(ss, serde.String(), serde.Int64())
	s.Put("k", 0, 100, 5)
	si, _ := s.FindSessions("k", 50, 200)
	if !si.Next() || si.Value() != 5 || si.End() != 100 {
		t.Fatal("session not found")
	}
	si.Close()

	// A decoding error ends iteration and is reported.
	kvStore.Put([]byte("bad"), []byte{1})
	it, _ = counts.All()
	for it.Next() {
	}
	if it.Err() == nil {
		t.Fatal("bad value decoded")
	}
	it.Close()
}

func TestChangelogKeys(t *testing.T) {
	k := state.WindowChangelogKey([]byte("ab"), 0x0102030405060708, 9)
	if string(k) != "ab\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x09" {
		t.Fatalf("window key %x", k)
	}
	key, start, seq, err := state.ParseWindowChangelogKey(k)
	if string(key) != "ab" || start != 0x0102030405060708 || seq != 9 || err != nil {
		t.Fatal("window parse")
	}
	k = state.SessionChangelogKey([]byte("x"), 1, 2)
	if string(k) != "x\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01" {
		t.Fatalf("session key %x (Kafka Streams puts the end first)", k)
	}
	if _, _, _, err := state.ParseSessionChangelogKey(k[:15]); err == nil {
		t.Fatal("short key parsed")
	}
}
