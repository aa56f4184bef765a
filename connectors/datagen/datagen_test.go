package datagen

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func ordersConfig(extra map[string]any) map[string]any {
	raw := map[string]any{
		"kafka.topic":     "orders",
		"quickstart":      "orders",
		"random.seed":     42,
		"max.interval":    0,
		"batch.size":      100,
		"timestamp.start": "2025-01-01T00:00:00Z",
	}
	for k, v := range extra {
		raw[k] = v
		if v == nil {
			delete(raw, k)
		}
	}
	if _, ok := raw["records.per.second"]; ok {
		if _, set := extra["max.interval"]; !set {
			delete(raw, "max.interval")
		}
	}
	return raw
}

func TestSameSeedSameRecords(t *testing.T) {
	t.Parallel()
	for _, qs := range quickstartNames {
		t.Run(qs, func(t *testing.T) {
			t.Parallel()
			run := func(seed int) []string {
				src := newTestSource(t, ordersConfig(map[string]any{"quickstart": qs, "random.seed": seed, "schema.keyfield": ""}), newFakeClock())
				tk := openTasks(t, src, 1, newOffsetStore())[0]
				recs, _ := pollN(t, tk, 500)
				for _, r := range recs {
					if err := connectors.Validate(r.ValueSchema, r.Value); err != nil {
						t.Fatalf("record does not fit its schema: %v", err)
					}
					if err := connectors.Validate(r.KeySchema, r.Key); err != nil {
						t.Fatalf("key does not fit its schema: %v", err)
					}
				}
				return renderAll(recs)
			}
			a, b, other := run(7), run(7), run(8)
			if !slices.Equal(a, b) {
				t.Fatalf("same seed, different records:\n%s\n%s", a[0], b[0])
			}
			if slices.Equal(a, other) {
				t.Fatal("seeds 7 and 8 gave the same records")
			}
		})
	}
}

// A restart from a committed offset regenerates exactly the records that
// would have followed, with and without a configured seed and start time
// (those are then remembered in the offsets).
func TestRestartContinuesIdentically(t *testing.T) {
	t.Parallel()
	cases := map[string]map[string]any{
		"configured":       ordersConfig(nil),
		"first-start seed": ordersConfig(map[string]any{"random.seed": nil, "timestamp.start": nil}),
		"three tasks":      ordersConfig(map[string]any{"tasks": 3}),
		"avro-free clicks": ordersConfig(map[string]any{"quickstart": "clicks", "random.seed": nil}),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tasks := 1
			if n, ok := raw["tasks"].(int); ok {
				tasks = n
			}
			cfg := map[string]any{}
			for k, v := range raw {
				if v != nil && k != "tasks" {
					cfg[k] = v
				}
			}
			clk := newFakeClock()
			// A run that commits after 300 records per task and crashes
			// after 1000 (uncommitted); it restarts later, on a clock that
			// has moved, and must produce its records 300 to 999 again.
			store := newOffsetStore()
			want := make([][]string, tasks)
			for i, tk := range openTasks(t, newTestSource(t, cfg, clk), tasks, store) {
				recs, _ := pollN(t, tk, 300)
				store.commit(t, recs)
				more, _ := pollN(t, tk, 700)
				want[i] = renderAll(append(recs, more...))
			}
			clk.Sleep(context.Background(), 90*time.Minute)
			second := openTasks(t, newTestSource(t, cfg, clk), tasks, store)
			for i, tk := range second {
				recs, _ := pollN(t, tk, 700)
				got := renderAll(recs)
				if !slices.Equal(got, want[i][300:]) {
					for j := range got {
						if got[j] != want[i][300+j] {
							t.Fatalf("task %d: record %d after the restart differs:\n got %s\nwant %s", i, 300+j, got[j], want[i][300+j])
						}
					}
				}
			}
		})
	}
}

func TestIterationsSplitAcrossTasksWithoutOverlapOrGap(t *testing.T) {
	t.Parallel()
	for _, tasks := range []int{1, 3, 4, 7} {
		src := newTestSource(t, ordersConfig(map[string]any{"iterations": 1000, "batch.size": 64}), nil)
		seen := map[int64]int{}
		total := 0
		for i, tk := range openTasks(t, src, tasks, newOffsetStore()) {
			recs, eof := pollN(t, tk, 2000)
			if !eof {
				t.Fatalf("tasks.max=%d: task %d did not end", tasks, i)
			}
			if want := (1000 - i + tasks - 1) / tasks; len(recs) != want {
				t.Errorf("tasks.max=%d: task %d produced %d records, want %d", tasks, i, len(recs), want)
			}
			for _, r := range recs {
				seen[r.Value.(*connectors.Struct).Get("orderid").(int64)]++
			}
			total += len(recs)
			// A finished task stays finished.
			if recs, err := tk.Poll(context.Background()); len(recs) != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("poll after the end: %d records, %v; want none and io.EOF", len(recs), err)
			}
		}
		if total != 1000 || len(seen) != 1000 {
			t.Fatalf("tasks.max=%d: %d records, %d distinct order ids; want 1000 of each", tasks, total, len(seen))
		}
		for id := range int64(1000) {
			if seen[id] != 1 {
				t.Fatalf("tasks.max=%d: order id %d seen %d times", tasks, id, seen[id])
			}
		}
	}
}

func TestEOFEndsBoundedTask(t *testing.T) {
	t.Parallel()
	src := newTestSource(t, ordersConfig(map[string]any{"iterations": 10, "batch.size": 4}), nil)
	tk := openTasks(t, src, 1, newOffsetStore())[0]
	for i, want := range []int{4, 4, 2} {
		recs, err := tk.Poll(context.Background())
		if len(recs) != want {
			t.Fatalf("poll %d: %d records, want %d", i, len(recs), want)
		}
		if last := i == 2; last != errors.Is(err, io.EOF) || (!last && err != nil) {
			t.Fatalf("poll %d: error %v", i, err)
		}
		if got := recs[len(recs)-1].SourceOffset[keyCount]; got != int64(4*i+want) {
			t.Fatalf("poll %d: offset count %v, want %d", i, got, 4*i+want)
		}
		for _, r := range recs[:len(recs)-1] {
			if r.SourceOffset != nil || r.SourcePartition == nil {
				t.Fatal("only the last record of a batch carries the offset; every record its partition")
			}
		}
	}
	// A restart after the end finishes at once.
	store := newOffsetStore()
	first := openTasks(t, newTestSource(t, ordersConfig(map[string]any{"iterations": 10}), nil), 1, store)[0]
	recs, _ := pollN(t, first, 10)
	store.commit(t, recs)
	again := openTasks(t, newTestSource(t, ordersConfig(map[string]any{"iterations": 10}), nil), 1, store)[0]
	if recs, err := again.Poll(context.Background()); len(recs) != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("restart after the end: %d records, %v", len(recs), err)
	}
}

func TestOrdersReferenceCustomers(t *testing.T) {
	t.Parallel()
	const count = 50
	custSrc := newTestSource(t, ordersConfig(map[string]any{"quickstart": "customers", "customers.count": count, "iterations": 3 * count}), nil)
	customers := map[int32]*connectors.Struct{}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tk := range openTasks(t, custSrc, 2, newOffsetStore()) {
		recs, _ := pollN(t, tk, 10*count)
		for _, r := range recs {
			v := r.Value.(*connectors.Struct)
			id := v.Get("id").(int32)
			if r.Key != strFromInt(int64(id)) {
				t.Fatalf("customer %d has key %v", id, r.Key)
			}
			if prev, ok := customers[id]; ok {
				for _, f := range []string{"name", "email", "city", "state", "region"} {
					if prev.Get(f) != v.Get(f) {
						t.Fatalf("customer %d: %s changed from %v to %v between passes", id, f, prev.Get(f), v.Get(f))
					}
				}
			} else {
				if !r.Timestamp.Equal(start) {
					t.Fatalf("customer %d of the first pass has event time %v, want timestamp.start", id, r.Timestamp)
				}
				customers[id] = v
			}
		}
	}
	if len(customers) != count {
		t.Fatalf("%d customers, want %d", len(customers), count)
	}
	ordSrc := newTestSource(t, ordersConfig(map[string]any{"customers.count": count, "iterations": 5000, "schema.keyfield": "customerid"}), nil)
	prices := map[string]float64{}
	recs, _ := pollN(t, openTasks(t, ordSrc, 1, newOffsetStore())[0], 5000)
	byCustomer := map[int32]int{}
	for _, r := range recs {
		o := r.Value.(*connectors.Struct)
		cid := o.Get("customerid").(int32)
		c, ok := customers[cid]
		if !ok {
			t.Fatalf("order %v references customer %d, who does not exist", o.Get("orderid"), cid)
		}
		byCustomer[cid]++
		if r.Key != strFromInt(int64(cid)) {
			t.Fatalf("order keyed %v, want its customerid %d", r.Key, cid)
		}
		addr := o.Get("address").(*connectors.Struct)
		if addr.Get("city") != c.Get("city") || addr.Get("state") != c.Get("state") {
			t.Fatalf("order ships to %v, %v but customer %d lives in %v, %v", addr.Get("city"), addr.Get("state"), cid, c.Get("city"), c.Get("state"))
		}
		if o.Get("ordertime").(int64) != r.Timestamp.UnixMilli() {
			t.Fatal("ordertime is not the record's timestamp")
		}
		item, price, units := o.Get("itemid").(string), o.Get("price").(float64), o.Get("orderunits").(float64)
		if p, ok := prices[item]; ok && p != price {
			t.Fatalf("%s costs %v and %v", item, p, price)
		}
		prices[item] = price
		if units < 0.1 || units >= 10 || price < 1 || price > 100 {
			t.Fatalf("units %v or price %v out of bounds", units, price)
		}
		if amount := o.Get("amount").(float64); math.Abs(amount-round2(units*price)) > 1e-9 {
			t.Fatalf("amount %v, want %v * %v", amount, units, price)
		}
	}
	if len(byCustomer) < count*9/10 {
		t.Fatalf("5000 orders reach only %d of %d customers", len(byCustomer), count)
	}
}

func strFromInt(i int64) string { return keyText(i).(string) }

func TestEventTimestamps(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		extra map[string]any
		tasks int
		step  time.Duration
	}{
		{"explicit step", map[string]any{"timestamp.step.ms": "250ms"}, 1, 250 * time.Millisecond},
		{"from records.per.second", map[string]any{"records.per.second": 20}, 2, 50 * time.Millisecond},
		{"from max.interval", map[string]any{"max.interval": 300}, 3, 100 * time.Millisecond},
		{"unthrottled", nil, 1, time.Millisecond},
	}
	for _, c := range cases {
		extra := map[string]any{"timestamp.start": "2025-03-01", "batch.size": 5}
		for k, v := range c.extra {
			extra[k] = v
		}
		src := newTestSource(t, ordersConfig(extra), newFakeClock())
		for _, tk := range openTasks(t, src, c.tasks, newOffsetStore()) {
			recs, _ := pollN(t, tk, 20)
			for _, r := range recs {
				pos := r.Value.(*connectors.Struct).Get("orderid").(int64)
				if want := start.Add(time.Duration(pos) * c.step); !r.Timestamp.Equal(want) {
					t.Fatalf("%s: record %d at %v, want %v", c.name, pos, r.Timestamp, want)
				}
			}
		}
	}
	// Wall clock mode takes the clock's time.
	clk := newFakeClock()
	src := newTestSource(t, ordersConfig(map[string]any{"timestamp.mode": "wallclock"}), clk)
	recs, _ := pollN(t, openTasks(t, src, 1, newOffsetStore())[0], 10)
	if !recs[0].Timestamp.Equal(clk.Now()) {
		t.Fatalf("wall clock record at %v, want %v", recs[0].Timestamp, clk.Now())
	}
}

// The rate is honoured on a fake clock: the time the task sleeps is the
// time the records take at the configured rate, and polls return batches.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		extra   map[string]any
		tasks   int
		records int
		want    time.Duration // fake time for records per task
	}{
		{"records.per.second", map[string]any{"records.per.second": 2000, "batch.size": 100}, 2, 5000, 5 * time.Second},
		{"max.interval", map[string]any{"max.interval": "100ms"}, 1, 50, 5 * time.Second},
		{"slow", map[string]any{"records.per.second": 10}, 1, 30, 3 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			src := newTestSource(t, ordersConfig(c.extra), clk)
			for _, tk := range openTasks(t, src, c.tasks, newOffsetStore()) {
				begin := clk.Now()
				polls, got := 0, 0
				for got < c.records {
					recs, err := tk.Poll(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					got += len(recs)
					polls++
					if len(recs) > src.s.batch {
						t.Fatalf("a poll returned %d records, more than batch.size", len(recs))
					}
				}
				elapsed := clk.elapsed(begin)
				if lo, hi := c.want*95/100, c.want*105/100; elapsed < lo || elapsed > hi {
					t.Fatalf("%d records took %v of fake time, want about %v", got, elapsed, c.want)
				}
				if polls > got/5+10 && got > 1000 {
					t.Fatalf("%d polls for %d records: a throttled task should return batches", polls, got)
				}
			}
		})
	}
	// A poll with nothing due returns nothing after about a second, so the
	// worker can commit and stop.
	clk := newFakeClock()
	src := newTestSource(t, ordersConfig(map[string]any{"max.interval": "1m"}), clk)
	tk := openTasks(t, src, 1, newOffsetStore())[0]
	if recs, _ := tk.Poll(context.Background()); len(recs) != 1 {
		t.Fatalf("first poll: %d records, want 1", len(recs))
	}
	begin := clk.Now()
	if recs, err := tk.Poll(context.Background()); len(recs) != 0 || err != nil {
		t.Fatalf("second poll: %d records, %v; want nothing yet", len(recs), err)
	}
	if e := clk.elapsed(begin); e != maxPollWait {
		t.Fatalf("empty poll waited %v, want %v", e, maxPollWait)
	}
	// A cancelled poll returns at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if recs, err := tk.Poll(ctx); len(recs) != 0 || err != nil {
		t.Fatalf("cancelled poll: %d records, %v", len(recs), err)
	}
}

func TestTasksMaxChangeRefused(t *testing.T) {
	t.Parallel()
	store := newOffsetStore()
	for _, tk := range openTasks(t, newTestSource(t, ordersConfig(nil), nil), 2, store) {
		recs, _ := pollN(t, tk, 10)
		store.commit(t, recs)
	}
	tasks, err := newTestSource(t, ordersConfig(nil), nil).Tasks(3)
	if err != nil {
		t.Fatal(err)
	}
	err = tasks[0].Open(context.Background(), &fakeContext{store: store})
	if err == nil || !strings.Contains(err.Error(), "tasks.max=2") {
		t.Fatalf("open with tasks.max changed from 2 to 3: %v, want a refusal naming tasks.max=2", err)
	}
	// A task that never committed refuses too: it would repeat positions.
	err = tasks[2].Open(context.Background(), &fakeContext{store: store, id: 2})
	if err == nil {
		t.Fatal("a new task of a resized connector opened")
	}
}

func TestSensorsWalkSmoothly(t *testing.T) {
	t.Parallel()
	src := newTestSource(t, ordersConfig(map[string]any{"quickstart": "sensors", "sensors.count": 5}), nil)
	recs, _ := pollN(t, openTasks(t, src, 1, newOffsetStore())[0], 5000)
	last := map[string][2]float64{}
	lo, hi := map[string]float64{}, map[string]float64{}
	for _, r := range recs {
		v := r.Value.(*connectors.Struct)
		id, temp, hum := v.Get("sensorid").(string), v.Get("temperature").(float64), v.Get("humidity").(float64)
		if r.Key != id {
			t.Fatalf("reading keyed %v, want %s", r.Key, id)
		}
		if temp < 11 || temp > 33 || hum < 0 || hum > 100 {
			t.Fatalf("%s: implausible reading %v °C, %v%%", id, temp, hum)
		}
		if p, ok := last[id]; ok && (math.Abs(p[0]-temp) > 1 || math.Abs(p[1]-hum) > 3) {
			t.Fatalf("%s jumps from %v °C, %v%% to %v °C, %v%%", id, p[0], p[1], temp, hum)
		}
		last[id] = [2]float64{temp, hum}
		if _, ok := lo[id]; !ok {
			lo[id], hi[id] = temp, temp
		}
		lo[id], hi[id] = math.Min(lo[id], temp), math.Max(hi[id], temp)
	}
	if len(last) != 5 {
		t.Fatalf("%d sensors, want 5", len(last))
	}
	for id := range lo {
		if hi[id]-lo[id] < 1 {
			t.Fatalf("%s barely moves: %v to %v °C over 1000 readings", id, lo[id], hi[id])
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		raw  map[string]any
		key  string
		text string
	}{
		{"no schema", map[string]any{"kafka.topic": "t"}, "quickstart", "required"},
		{"two schemas", map[string]any{"kafka.topic": "t", "quickstart": "orders", "schema.string": `{"type":"record","name":"r","fields":[]}`}, "schema.string", "exactly one"},
		{"bad json", map[string]any{"kafka.topic": "t", "schema.string": `{"type":"record",`}, "schema.string", "not valid JSON"},
		{"not a record", map[string]any{"kafka.topic": "t", "schema.string": `"string"`}, "schema.string", "must be a record"},
		{"unknown type", map[string]any{"kafka.topic": "t", "schema.string": `{"type":"record","name":"r","fields":[{"name":"a","type":"strin"}]}`}, "schema.string", `unknown type "strin"`},
		{"missing file", map[string]any{"kafka.topic": "t", "schema.filename": "/nonexistent/x.avsc"}, "schema.filename", "cannot read"},
		{"unknown key field", map[string]any{"kafka.topic": "t", "quickstart": "orders", "schema.keyfield": "custmerid"}, "schema.keyfield", `did you mean "customerid"`},
		{"struct key field", map[string]any{"kafka.topic": "t", "quickstart": "orders", "schema.keyfield": "address"}, "schema.keyfield", "key field must be"},
		{"rate twice", map[string]any{"kafka.topic": "t", "quickstart": "orders", "max.interval": 10, "records.per.second": 5}, "records.per.second", "not both"},
		{"bad start", map[string]any{"kafka.topic": "t", "quickstart": "orders", "timestamp.start": "yesterday"}, "timestamp.start", "not a time"},
		{"unknown quickstart", map[string]any{"kafka.topic": "t", "quickstart": "users"}, "quickstart", "not allowed"},
		{"no topic", map[string]any{"quickstart": "orders"}, "kafka.topic", "required"},
	}
	for _, c := range cases {
		_, err := buildSource(c.raw)
		var fe *connectors.FieldError
		if !errors.As(err, &fe) || fe.Key != c.key || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: error %v; want a FieldError for %s containing %q", c.name, err, c.key, c.text)
		}
	}
}

func TestRegisterAndSpec(t *testing.T) {
	t.Parallel()
	reg := connectors.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	p, err := reg.Source("io.confluent.kafka.connect.datagen.DatagenConnector")
	if err != nil || p.Name != "datagen" || !p.ExactlyOnce {
		t.Fatalf("Confluent's class name: %v, %v", p, err)
	}
	for _, f := range p.Spec.Fields {
		if f.Doc == "" {
			t.Errorf("field %s has no doc", f.Name)
		}
	}
	// The example's own keys parse (the common ones belong to the worker).
	raw := map[string]any{}
	for _, line := range strings.Split(p.Example, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("example line %q", line)
		}
		if _, own := p.Spec.Field(k); own {
			raw[k] = strings.Trim(v, `"`)
		}
	}
	if _, err := p.Spec.Parse("", raw); err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
}

// A task that never committed joins the sequence its siblings started: with
// no configured seed or start, it takes theirs from the offsets.
func TestUncommittedTaskAdoptsSiblingsSeed(t *testing.T) {
	t.Parallel()
	cfg := ordersConfig(map[string]any{"random.seed": nil, "timestamp.start": nil})
	clk := newFakeClock()
	store := newOffsetStore()
	first := openTasks(t, newTestSource(t, cfg, clk), 2, store)
	recs, _ := pollN(t, first[0], 100)
	store.commit(t, recs) // task 1 never commits
	want, _ := pollN(t, first[1], 50)
	clk.Sleep(context.Background(), time.Hour)
	second := openTasks(t, newTestSource(t, cfg, clk), 2, store)
	got, _ := pollN(t, second[1], 50)
	if !slices.Equal(renderAll(got), renderAll(want)) {
		t.Fatalf("task 1 after the restart starts with\n%s\nwant\n%s", render(got[0]), render(want[0]))
	}
}
