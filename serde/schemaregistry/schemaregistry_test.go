package schemaregistry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

func TestHeaderRoundTrip(t *testing.T) {
	b := schemaregistry.AppendHeader([]byte("x"), 258)
	id, body, err := schemaregistry.ParseHeader(append(b[1:], 7))
	if err != nil || id != 258 || string(body) != "\x07" {
		t.Fatalf("ParseHeader = %d, %q, %v", id, body, err)
	}
	if _, _, err := schemaregistry.ParseHeader([]byte{1, 0, 0, 0, 1}); err == nil || !strings.Contains(err.Error(), "magic byte is 0x01") {
		t.Fatalf("wrong magic byte: %v", err)
	}
	if _, _, err := schemaregistry.ParseHeader([]byte{0, 0}); err == nil || !strings.Contains(err.Error(), "2 bytes") {
		t.Fatalf("short: %v", err)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 2})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		id, body, err := schemaregistry.ParseHeader(data)
		if err != nil {
			return
		}
		if again := schemaregistry.AppendHeader(nil, id); string(append(again, body...)) != string(data) {
			t.Fatalf("round trip of % x gave % x", data, append(again, body...))
		}
	})
}

// TestClassification: every failure has one kind; unavailable is transient.
func TestClassification(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error_code":40403,"message":"Schema not found"}`))
	}))
	defer srv.Close()
	c, err := schemaregistry.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status int
		kind   error
	}{{404, schemaregistry.ErrNotFound}, {503, schemaregistry.ErrUnavailable}, {429, schemaregistry.ErrUnavailable},
		{409, schemaregistry.ErrRejected}, {401, schemaregistry.ErrRejected}} {
		status = tc.status
		_, err := c.SchemaByID(context.Background(), tc.status)
		if !errors.Is(err, tc.kind) || schemaregistry.Classify(err) != tc.kind {
			t.Errorf("HTTP %d: err = %v, want kind %v", tc.status, err, tc.kind)
		}
		if errors.Is(err, serde.ErrTransient) != (tc.kind == schemaregistry.ErrUnavailable) {
			t.Errorf("HTTP %d: transient = %v", tc.status, errors.Is(err, serde.ErrTransient))
		}
	}
	status = http.StatusOK // 200 with a body that is no schema: rejected
	if _, err := c.Subjects(context.Background()); !errors.Is(err, schemaregistry.ErrRejected) {
		t.Errorf("not a registry: %v", err)
	}
	srv.Close()
	if _, err := c.SchemaByID(context.Background(), 1); !errors.Is(err, schemaregistry.ErrUnavailable) {
		t.Errorf("closed: %v", err)
	}
	if _, err := schemaregistry.NewClient("ftp://u:pw-secret@host"); err == nil || strings.Contains(err.Error(), "pw-secret") {
		t.Errorf("bad URL: %v", err)
	}
}

// TestReferencesAndCache: references come dependencies first, each once;
// schemas by id are fetched once.
func TestReferencesAndCache(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	reg.SeedSchema("a", 1, 1, sr.Schema{Schema: `{"type":"record","name":"A","fields":[]}`})
	reg.SeedSchema("b", 1, 2, sr.Schema{Schema: `{"type":"record","name":"B","fields":[{"name":"a","type":"A"}]}`,
		References: []sr.SchemaReference{{Name: "A", Subject: "a", Version: 1}}})
	top := sr.Schema{Schema: `{"type":"record","name":"C","fields":[{"name":"a","type":"A"},{"name":"b","type":"B"}]}`,
		References: []sr.SchemaReference{{Name: "B", Subject: "b", Version: 1}, {Name: "A", Subject: "a", Version: 1}}}
	c, err := schemaregistry.NewClient(reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	refs, err := c.References(context.Background(), top)
	if err != nil || len(refs) != 2 || refs[0].Subject != "a" || refs[1].Subject != "b" {
		t.Fatalf("References = %+v, %v; want a then b", refs, err)
	}
	bad := sr.Schema{Schema: "{}", References: []sr.SchemaReference{{Name: "X", Subject: "missing", Version: 1}}}
	var refErr *schemaregistry.ReferenceError
	if _, err := c.References(context.Background(), bad); !errors.As(err, &refErr) || !errors.Is(err, schemaregistry.ErrNotFound) {
		t.Fatalf("missing reference: %v", err)
	}
	if _, err := c.SchemaByID(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	reg.Close()
	if s, err := c.SchemaByID(context.Background(), 1); err != nil || s.ID != 1 {
		t.Fatalf("cached schema by id: %+v, %v", s, err)
	}
}
