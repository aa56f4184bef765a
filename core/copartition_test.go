package core

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/serde"
)

// copartitionTopology: sources "a" and "b" (or the repartition topics
// given) each feed a processor; both processors share store "s".
func copartitionTopology(t *testing.T, repartitions map[string]int32, left, right string) *Topology {
	t.Helper()
	topo := NewTopology()
	for name, n := range repartitions {
		if _, err := topo.AddRepartitionTopic(name, n); err != nil {
			t.Fatal(err)
		}
	}
	pass := ProcessorFunc[string, string, string, string](func(ctx ProcessorContext[string, string], r Record[string, string]) error {
		return ctx.Forward(r)
	}).Supplier()
	for i, topic := range []string{left, right} {
		src, proc := "src-"+topic, "proc-"+topic
		if err := AddSource(topo, src, serde.String(), serde.String(), []string{topic}); err != nil {
			t.Fatal(err)
		}
		if err := AddProcessor(topo, proc, pass, src); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := topo.AddStateStore(StoreSpec{Name: "s", Kind: KeyValueStoreKind}, proc); err != nil {
				t.Fatal(err)
			}
		} else if err := topo.ConnectProcessorAndStores([]string{proc}, "s"); err != nil {
			t.Fatal(err)
		}
	}
	return topo
}

func TestEnforceCopartitioning(t *testing.T) {
	for _, tc := range []struct {
		name         string
		repartitions map[string]int32 // declared, with explicit counts
		left, right  string
		counts       map[string]int32 // user topics
		want         map[string]int32 // derived repartition counts before
		wantAfter    map[string]int32
		wantErr      []string
	}{
		{name: "equal user topics", left: "a", right: "b", counts: map[string]int32{"a": 3, "b": 3}, want: map[string]int32{}, wantAfter: map[string]int32{}},
		{name: "different user topics", left: "a", right: "b", counts: map[string]int32{"a": 4, "b": 2}, want: map[string]int32{},
			wantErr: []string{"topics not co-partitioned", "a (4 partitions), b (2 partitions)", `store(s) s`}},
		{name: "repartition takes the user count", repartitions: map[string]int32{"r": 0}, left: "r-repartition", right: "b",
			counts: map[string]int32{"b": 2}, want: map[string]int32{"r-repartition": 8}, wantAfter: map[string]int32{"r-repartition": 2}},
		{name: "explicit repartition count differs", repartitions: map[string]int32{"r": 8}, left: "r-repartition", right: "b",
			counts: map[string]int32{"b": 2}, want: map[string]int32{"r-repartition": 8},
			wantErr: []string{"repartition topic app-r-repartition has 8 partitions (set explicitly)", "b (2 partitions)", "set 2 partitions or none"}},
		{name: "repartition topics only: the largest", repartitions: map[string]int32{"r": 0, "q": 0}, left: "r-repartition", right: "q-repartition",
			counts: map[string]int32{}, want: map[string]int32{"r-repartition": 3, "q-repartition": 5}, wantAfter: map[string]int32{"r-repartition": 5, "q-repartition": 5}},
		{name: "repartition topics only: the explicit one", repartitions: map[string]int32{"r": 0, "q": 2}, left: "r-repartition", right: "q-repartition",
			counts: map[string]int32{}, want: map[string]int32{"r-repartition": 6, "q-repartition": 2}, wantAfter: map[string]int32{"r-repartition": 2, "q-repartition": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo := copartitionTopology(t, tc.repartitions, tc.left, tc.right)
			a := &App{topo: topo, cfg: &config{appID: "app"}}
			err := a.enforceCopartitioning(tc.counts, tc.want)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, want one containing %q", tc.wantErr)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Fatalf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tc.want, tc.wantAfter) {
				t.Fatalf("repartition counts = %v, want %v", tc.want, tc.wantAfter)
			}
		})
	}
}

func TestCopartitionGroupsMerged(t *testing.T) {
	// x and y share store s1; y and z share s2: one group x, y, z.
	topo := NewTopology()
	pass := ProcessorFunc[string, string, string, string](func(ctx ProcessorContext[string, string], r Record[string, string]) error {
		return ctx.Forward(r)
	}).Supplier()
	for _, topic := range []string{"x", "y", "z", "lonely"} {
		if err := AddSource(topo, "src-"+topic, serde.String(), serde.String(), []string{topic}); err != nil {
			t.Fatal(err)
		}
		if err := AddProcessor(topo, "p-"+topic, pass, "src-"+topic); err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range []error{
		topo.AddStateStore(StoreSpec{Name: "s1", Kind: KeyValueStoreKind}, "p-x", "p-y"),
		topo.AddStateStore(StoreSpec{Name: "s2", Kind: KeyValueStoreKind}, "p-z", "p-y"),
		topo.AddStateStore(StoreSpec{Name: "s3", Kind: KeyValueStoreKind}, "p-lonely"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []CopartitionGroup{{Topics: []string{"x", "y", "z"}, Stores: []string{"s1", "s2"}}}
	if got := topo.CopartitionGroups(); !reflect.DeepEqual(got, want) {
		t.Fatalf("groups = %+v, want %+v", got, want)
	}
}
