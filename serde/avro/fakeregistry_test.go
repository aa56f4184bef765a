package avro_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// fakeRegistry is an httptest server speaking the subset of the Confluent
// Schema Registry REST API that the serdes use, with failure injection and
// a request count, which franz-go's in-memory registry (srfake, see
// memRegistry) does not offer.
type fakeRegistry struct {
	t      testing.TB
	server *httptest.Server

	requests atomic.Int64 // HTTP requests served
	fail     atomic.Int32 // when non-zero, answer every request with this status

	mu       sync.Mutex
	schemas  []fakeSchema                 // index id-1
	subjects map[string][]int             // subject → ids by version-1
	refs     map[int][]sr.SchemaReference // id → references
}

type fakeSchema struct {
	schema     string
	schemaType string
}

func newFakeRegistry(t testing.TB) *fakeRegistry {
	t.Helper()
	r := &fakeRegistry{t: t, subjects: map[string][]int{}, refs: map[int][]sr.SchemaReference{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /subjects/{subject}/versions", r.register)
	mux.HandleFunc("POST /subjects/{subject}", r.lookup)
	mux.HandleFunc("GET /schemas/ids/{id}", r.byID)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", r.byVersion)
	r.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		if status := r.fail.Load(); status != 0 {
			writeError(w, int(status), int(status)*100+1, "injected failure")
			return
		}
		mux.ServeHTTP(w, req)
	}))
	t.Cleanup(r.server.Close)
	return r
}

// client returns a fresh client for the registry, with its own caches.
func (r *fakeRegistry) client() *schemaregistry.Client {
	return newClient(r.t, r.server.URL)
}

func newClient(t testing.TB, url string, opts ...schemaregistry.Option) *schemaregistry.Client {
	t.Helper()
	c, err := schemaregistry.NewClient(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// memRegistry returns franz-go's in-memory registry, seeded with avroSchemas
// (each an id, a subject and a schema: version 1, 2, ... of the subject in
// order), and a client of it.
func memRegistry(t testing.TB, seeds ...seed) *schemaregistry.Client {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	versions := map[string]int{}
	for _, s := range seeds {
		versions[s.subject]++
		reg.SeedSchema(s.subject, versions[s.subject], s.id, sr.Schema{Schema: s.schema})
	}
	return newClient(t, reg.URL())
}

type seed struct {
	id      int
	subject string
	schema  string
}

// add registers schema under subject as the test setup would with a
// schema-registry CLI, and returns its id.
func (r *fakeRegistry) add(subject, schema string, refs ...sr.SchemaReference) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addLocked(subject, schema, "", refs)
}

func (r *fakeRegistry) addTyped(subject, schema, schemaType string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addLocked(subject, schema, schemaType, nil)
}

func (r *fakeRegistry) addLocked(subject, schema, schemaType string, refs []sr.SchemaReference) int {
	norm := normalize(schema)
	id := 0
	for i, s := range r.schemas {
		if normalize(s.schema) == norm && s.schemaType == schemaType {
			id = i + 1
		}
	}
	if id == 0 {
		r.schemas = append(r.schemas, fakeSchema{schema: schema, schemaType: schemaType})
		id = len(r.schemas)
		r.refs[id] = refs
	}
	for _, existing := range r.subjects[subject] {
		if existing == id {
			return id
		}
	}
	r.subjects[subject] = append(r.subjects[subject], id)
	return id
}

func (r *fakeRegistry) subjectNames() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for s, ids := range r.subjects {
		out[s] = len(ids)
	}
	return out
}

func normalize(schema string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(schema)); err != nil {
		return schema
	}
	return b.String()
}

type schemaRequest struct {
	Schema     string               `json:"schema"`
	SchemaType string               `json:"schemaType"`
	References []sr.SchemaReference `json:"references"`
}

func (r *fakeRegistry) register(w http.ResponseWriter, req *http.Request) {
	var body schemaRequest
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeError(w, 422, 42201, "invalid schema")
		return
	}
	if body.SchemaType == "AVRO" {
		body.SchemaType = ""
	}
	r.mu.Lock()
	id := r.addLocked(req.PathValue("subject"), body.Schema, body.SchemaType, body.References)
	r.mu.Unlock()
	writeJSON(w, map[string]any{"id": id})
}

func (r *fakeRegistry) lookup(w http.ResponseWriter, req *http.Request) {
	var body schemaRequest
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeError(w, 422, 42201, "invalid schema")
		return
	}
	subject := req.PathValue("subject")
	r.mu.Lock()
	defer r.mu.Unlock()
	ids, ok := r.subjects[subject]
	if !ok {
		writeError(w, 404, 40401, "Subject '"+subject+"' not found.")
		return
	}
	for v, id := range ids {
		if normalize(r.schemas[id-1].schema) == normalize(body.Schema) {
			writeJSON(w, r.responseLocked(subject, v+1, id))
			return
		}
	}
	writeError(w, 404, 40403, "Schema not found")
}

func (r *fakeRegistry) byID(w http.ResponseWriter, req *http.Request) {
	id, err := strconv.Atoi(req.PathValue("id"))
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || id < 1 || id > len(r.schemas) {
		writeError(w, 404, 40403, "Schema "+req.PathValue("id")+" not found")
		return
	}
	resp := r.responseLocked("", 0, id)
	delete(resp, "subject")
	delete(resp, "version")
	delete(resp, "id")
	writeJSON(w, resp)
}

func (r *fakeRegistry) byVersion(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	r.mu.Lock()
	defer r.mu.Unlock()
	ids, ok := r.subjects[subject]
	if !ok {
		writeError(w, 404, 40401, "Subject '"+subject+"' not found.")
		return
	}
	version := len(ids)
	if v := req.PathValue("version"); v != "latest" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > len(ids) {
			writeError(w, 404, 40402, "Version "+v+" not found.")
			return
		}
		version = n
	}
	writeJSON(w, r.responseLocked(subject, version, ids[version-1]))
}

func (r *fakeRegistry) responseLocked(subject string, version, id int) map[string]any {
	s := r.schemas[id-1]
	resp := map[string]any{"subject": subject, "version": version, "id": id, "schema": s.schema}
	if s.schemaType != "" { // like the real registry, omit schemaType for AVRO
		resp["schemaType"] = s.schemaType
	}
	if refs := r.refs[id]; len(refs) > 0 {
		resp["references"] = refs
	}
	return resp
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error_code": code, "message": msg})
}
