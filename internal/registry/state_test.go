package registry

import (
	"fmt"
	"reflect"
	"testing"
)

type rec struct{ key, value []byte }

func claimRec(subject string, ver, id int, identity, claim string, refs ...Reference) rec {
	key := recordKey{KeyType: keySchema, Subject: &subject, Version: ver, Claim: claim, Magic: 1}.encode()
	value, _ := jsonMarshal(schemaValue{Subject: subject, Version: ver, ID: id, Schema: "s-" + identity, Identity: identity, References: refs})
	return rec{key, value}
}

func tombstone(r rec) rec { return rec{r.key, nil} }

func stateRec(subject string, ver int, claim string, deleted, permanent bool) rec {
	key := recordKey{KeyType: keyVersionState, Subject: &subject, Version: ver, Claim: claim, Magic: 1}.encode()
	value, _ := jsonMarshal(versionStateValue{Deleted: deleted, Permanent: permanent})
	return rec{key, value}
}

func fold(recs []rec) (*state, []bool) {
	st := newState()
	var accepted []bool
	for _, r := range recs {
		_, ok := st.apply(r.key, r.value)
		accepted = append(accepted, ok)
	}
	return st, accepted
}

// compact keeps the last record of every key, in log order, and drops
// tombstones (as after delete.retention.ms), like Kafka's log cleaner.
func compact(recs []rec) []rec {
	last := map[string]int{}
	for i, r := range recs {
		last[string(r.key)] = i
	}
	var out []rec
	for i, r := range recs {
		if last[string(r.key)] == i && r.value != nil {
			out = append(out, r)
		}
	}
	return out
}

// summary is the observable state: what the REST API would show.
func summary(st *state) string {
	out := ""
	for _, subject := range sortedKeys(st.subjects) {
		for _, v := range st.versionsOf(subject, true) {
			out += fmt.Sprintf("%s/%d=id%d(%s) deleted=%v; ", subject, v.value.Version, v.value.ID, v.value.Identity, v.deleted)
		}
	}
	return out + fmt.Sprintf("maxID=%d", st.maxID)
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestClaimRules(t *testing.T) {
	a1 := claimRec("a", 1, 1, "X", "c1")
	tests := []struct {
		name string
		recs []rec
		want []bool
	}{
		{"same schema, same subject version, raced", []rec{a1, claimRec("a", 1, 1, "X", "c2")}, []bool{true, false}},
		{"same schema, other subject, same id", []rec{a1, claimRec("b", 1, 1, "X", "c2")}, []bool{true, true}},
		{"same schema, other subject, new id", []rec{a1, claimRec("b", 1, 2, "X", "c2")}, []bool{true, false}},
		{"other schema, same id", []rec{a1, claimRec("b", 1, 1, "Y", "c2")}, []bool{true, false}},
		{"other schema, same subject version", []rec{a1, claimRec("a", 1, 2, "Y", "c2")}, []bool{true, false}},
		{"other schema, next version and id", []rec{a1, claimRec("a", 2, 2, "Y", "c2")}, []bool{true, true}},
		{"dangling reference", []rec{claimRec("a", 1, 1, "Y", "c2", Reference{Name: "R", Subject: "r", Version: 1})}, []bool{false}},
		{"reference present", []rec{a1, claimRec("b", 1, 2, "Y", "c2", Reference{Name: "R", Subject: "a", Version: 1})}, []bool{true, true}},
		{"duplicate delivery", []rec{a1, a1}, []bool{true, true}},
		{"permanently deleted version keeps its slot and id", []rec{a1, stateRec("a", 1, "c1", true, false), stateRec("a", 1, "c1", true, true),
			claimRec("a", 1, 2, "Y", "c2"), claimRec("z", 1, 1, "Y", "c3"), claimRec("z", 1, 1, "X", "c4")}, []bool{true, false, false, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := fold(tt.recs)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("accepted %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCompactionKeepsDecisions replays a log with races, soft and permanent
// deletes and cleaned-up rejected claims, then the compacted log, and
// expects the same observable state.
func TestCompactionKeepsDecisions(t *testing.T) {
	a1 := claimRec("a", 1, 1, "X", "c1")
	lost := claimRec("a", 1, 1, "Y", "c2") // raced a1 for a/1
	a2 := claimRec("a", 2, 2, "Y", "c3")
	b1 := claimRec("b", 1, 1, "X", "c4")
	lost2 := claimRec("b", 2, 2, "Z", "c5") // raced for id 2 with another schema
	b2 := claimRec("b", 2, 3, "Z", "c6")
	leftover := claimRec("c", 1, 3, "W", "c7") // rejected, writer crashed before tombstoning
	log := []rec{
		a1, lost, tombstone(lost), a2, b1, lost2, stateRec("a", 1, "c1", true, false), tombstone(lost2), b2,
		leftover, stateRec("a", 2, "c3", true, false), stateRec("a", 2, "c3", true, true),
		stateRec("b", 1, "c4", true, false), stateRec("b", 1, "c4", false, false),
	}
	full, _ := fold(log)
	compacted, _ := fold(compact(log))
	if summary(full) != summary(compacted) {
		t.Errorf("state differs after compaction:\nfull      %s\ncompacted %s", summary(full), summary(compacted))
	}
	want := "a/1=id1(X) deleted=true; b/1=id1(X) deleted=false; b/2=id3(Z) deleted=false; maxID=3"
	if got := summary(full); got != want {
		t.Errorf("state %s\nwant      %s", got, want)
	}
	if len(full.rejected) != 1 {
		t.Errorf("rejected leftovers: %v, want the crashed writer's claim", full.rejected)
	}
}

// TestReviveAfterPermanent: only a revive record undoes a permanent
// deletion, and the log and its compacted form agree.
func TestReviveAfterPermanent(t *testing.T) {
	c := claimRec("s", 1, 1, "a", "c1")
	revive := func() rec {
		subject := "s"
		key := recordKey{KeyType: keyVersionState, Subject: &subject, Version: 1, Claim: "c1", Magic: 1}.encode()
		value, _ := jsonMarshal(versionStateValue{Revive: true})
		return rec{key, value}
	}
	log := []rec{c, stateRec("s", 1, "c1", true, true), stateRec("s", 1, "c1", true, false)}
	st, _ := fold(log)
	if got := st.versionsOf("s", true); len(got) != 0 {
		t.Fatalf("a soft delete after a permanent one revived the version: %s", summary(st))
	}
	log = append(log, revive())
	st, _ = fold(log)
	compacted, _ := fold(compact(log))
	if summary(st) != summary(compacted) || len(st.versionsOf("s", false)) != 1 {
		t.Fatalf("after revive: %s; compacted: %s", summary(st), summary(compacted))
	}
}
