package dynamic_test

import (
	"context"
	"fmt"
	"math/big"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde/dynamic"
	"github.com/sluicehq/sluice/serde/registry"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func readSchema(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startRegistry runs Sluice's schema registry on an in-process broker
// behind a real HTTP server and returns a client for it.
func startRegistry(t testing.TB) (*schemaregistry.Client, string) {
	t.Helper()
	b := testbroker.New(t)
	reg, err := registry.New(context.Background(), registry.WithBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = reg.Close()
	})
	return newClient(t, srv.URL), srv.URL
}

func newClient(t testing.TB, url string) *schemaregistry.Client {
	t.Helper()
	c, err := schemaregistry.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mockRegistry returns a client of franz-go's in-memory registry, closed
// with the test, and the registry for seeding.
func mockRegistry(t testing.TB) (*schemaregistry.Client, *srfake.Registry) {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	return newClient(t, reg.URL()), reg
}

// normalize makes generic values comparable with reflect.DeepEqual:
// instants as UTC RFC 3339 text, decimals as exact fractions, [N]byte
// arrays as byte slices, nested maps and lists recursively.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case time.Time:
		return "time:" + x.UTC().Format(time.RFC3339Nano)
	case *big.Rat:
		if x == nil {
			return nil
		}
		return "rat:" + x.RatString()
	case []byte:
		return "bytes:" + fmt.Sprintf("%x", x)
	case int:
		return int64(x)
	case int32:
		return int64(x)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return "bytes:" + fmt.Sprintf("%x", b)
	}
	return v
}

// diff describes the differences between two normalized generic values.
func diff(want, got any) string {
	var out []string
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if aok && bok {
			keys := map[string]bool{}
			for k := range am {
				keys[k] = true
			}
			for k := range bm {
				keys[k] = true
			}
			sorted := make([]string, 0, len(keys))
			for k := range keys {
				sorted = append(sorted, k)
			}
			sort.Strings(sorted)
			for _, k := range sorted {
				walk(path+"."+k, am[k], bm[k])
			}
			return
		}
		if !reflect.DeepEqual(a, b) {
			out = append(out, fmt.Sprintf("%s: want %#v, got %#v", path, a, b))
		}
	}
	walk("", normalize(want), normalize(got))
	return strings.Join(out, "\n")
}

// allFixture is a value of testdata/all.avsc with every field set.
func allFixture() map[string]any {
	return map[string]any{
		"b": true, "i": int32(-42), "l": int64(1) << 40, "f": float32(1.5), "d": -2.25, "s": "héllo \"quoted\"\n",
		"by": []byte{0, 1, 2, 255}, "fx": [4]byte{9, 8, 7, 6}, "e": "GREEN",
		"rec":      map[string]any{"city": "Paris", "zip": int32(75001)},
		"optRec":   map[string]any{"city": "Lyon", "zip": nil},
		"arr":      []any{int64(1), int64(-2), int64(3)},
		"arrRec":   []any{map[string]any{"city": "a", "zip": int32(1)}, map[string]any{"city": "b", "zip": nil}},
		"m":        map[string]any{"k": "v", "": "empty key"},
		"mRec":     map[string]any{"x": map[string]any{"city": "c", "zip": int32(3)}},
		"optS":     "some",
		"optL":     int64(-7),
		"optArr":   []any{"p", "q"},
		"optMap":   map[string]any{"pi": 3.14},
		"optBytes": []byte("raw"),
		"optEnum":  "BLUE",
		"u":        int64(99),
		"uRec":     map[string]any{"com.x.Addr": map[string]any{"city": "in union", "zip": int32(5)}},
		"dec":      big.NewRat(-12345, 100),
		"optDec":   big.NewRat(1, 4),
		"fdec":     big.NewRat(98765432, 10000),
		"date":     time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"tms":      13*time.Hour + 14*time.Minute + 15*time.Second + 16*time.Millisecond,
		"tus":      23*time.Hour + 59*time.Minute + 59*time.Second + 999999*time.Microsecond,
		"tsms":     time.Date(2025, 11, 21, 4, 40, 0, 123_000_000, time.UTC),
		"tsus":     time.Date(1969, 7, 20, 20, 17, 40, 123_456_000, time.UTC),
		"lts":      time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.Local),
		"ltus":     time.Date(2025, 1, 2, 3, 4, 5, 6_000, time.Local),
		"optTs":    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		"uuid":     "3b241101-e2bb-4255-8caf-4136c566a962",
		"dur":      [12]byte{1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0},
		"n":        nil,
		"Upper":    int32(1),
		"upper":    "lower",
		"_under":   "u",
	}
}

// allNulls is allFixture with every nullable field null, other union
// branches, and empty collections.
func allNulls() map[string]any {
	m := allFixture()
	for _, k := range []string{"optRec", "optS", "optL", "optArr", "optMap", "optBytes", "optEnum", "u", "optDec", "optTs"} {
		m[k] = nil
	}
	m["arr"], m["arrRec"], m["m"], m["mRec"], m["by"], m["s"] = []any{}, []any{}, map[string]any{}, map[string]any{}, []byte{}, ""
	// A union with a record branch holds every value as {"branch": value},
	// as avro.NewGeneric does.
	m["uRec"] = map[string]any{"string": "a string branch"}
	m["dec"] = big.NewRat(0, 1)
	return m
}

func newAll(t testing.TB) *dynamic.Type {
	t.Helper()
	return must[*dynamic.Type](t)(dynamic.FromAvro(readSchema(t, "all.avsc")))
}

func mustRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

func mustMock(t testing.TB) *schemaregistry.Client {
	t.Helper()
	c, _ := mockRegistry(t)
	return c
}
