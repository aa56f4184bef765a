package registry_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde/registry"
)

// start runs a registry on b behind a real HTTP server, closed at test end.
func start(t *testing.T, b *testbroker.Broker, opts ...registry.Option) (*registry.Registry, *client) {
	t.Helper()
	reg, err := registry.New(context.Background(), append([]registry.Option{registry.WithBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := reg.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return reg, &client{t: t, url: srv.URL}
}

type client struct {
	t         testing.TB
	url       string
	user, pwd string
}

type response struct {
	status int
	body   string
	header http.Header
}

// do sends body (a JSON string, or "" for none) and returns the response.
func (c *client) do(method, path, body string, headers ...string) response {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pwd)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b), resp.Header}
}

// expect checks status and, if want is not empty, the exact JSON body
// (compared after normalization).
func (c *client) expect(method, path, body string, status int, want string) response {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != status {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.body)
	}
	if want != "" && normJSON(c.t, r.body) != normJSON(c.t, want) && !sameRegistration(r.body, want) {
		c.t.Fatalf("%s %s: body\n %s\nwant\n %s", method, path, r.body, want)
	}
	return r
}

// expectError checks a Confluent error body's code.
func (c *client) expectError(method, path, body string, status, code int) string {
	c.t.Helper()
	r := c.do(method, path, body)
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.status != status || e.Code != code {
		c.t.Fatalf("%s %s: got %d %s, want status %d error_code %d", method, path, r.status, r.body, status, code)
	}
	return e.Message
}

func normJSON(t testing.TB, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %s", s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// req builds a register/look-up/compatibility body for an Avro schema.
func req(schema string, refs ...string) string {
	b, _ := json.Marshal(schema)
	out := `{"schema":` + string(b)
	if len(refs) > 0 {
		out += `,"references":[` + strings.Join(refs, ",") + `]`
	}
	return out + "}"
}

func userSchema(extraFields ...string) string {
	fields := append([]string{`{"name":"id","type":"int"}`}, extraFields...)
	return `{"type":"record","name":"User","namespace":"com.example","fields":[` + strings.Join(fields, ",") + `]}`
}

func idOf(t testing.TB, body string) int {
	t.Helper()
	var v struct {
		ID int `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.ID == 0 {
		t.Fatalf("no id in %s", body)
	}
	return v.ID
}

// sameRegistration accepts a register response (id, version, schema, as
// Confluent 8 answers) against a want that names only the id.
func sameRegistration(body, want string) bool {
	var got, exp map[string]any
	if json.Unmarshal([]byte(body), &got) != nil || json.Unmarshal([]byte(want), &exp) != nil {
		return false
	}
	if len(exp) != 1 || exp["id"] == nil {
		return false
	}
	_, hasVersion := got["version"]
	return got["id"] == exp["id"] && hasVersion
}
