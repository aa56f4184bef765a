package schematool_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/schematool"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde/registry"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// startRegistry runs the embedded registry on a fresh in-process broker
// behind an httptest server and returns a client for it.
func startRegistry(t *testing.T, opts ...registry.Option) (*schemaregistry.Client, string) {
	t.Helper()
	b := testbroker.New(t)
	reg, err := registry.New(context.Background(), append([]registry.Option{registry.WithBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() {
		srv.Close()
		reg.Close()
	})
	c, err := schemaregistry.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv.URL
}

func repoSchema(t *testing.T, name string) string {
	t.Helper()
	s, err := schematool.ReadSchemaFile(filepath.Join("..", "..", "schemas", name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const (
	userV1        = `{"type":"record","name":"User","namespace":"t","fields":[{"name":"id","type":"int"}]}`
	userNoDefault = `{"type":"record","name":"User","namespace":"t","fields":[{"name":"id","type":"int"},{"name":"email","type":"string"}]}`
	userDefault   = `{"type":"record","name":"User","namespace":"t","fields":[{"name":"id","type":"int"},{"name":"email","type":"string","default":""}]}`
	userLongID    = `{"type":"record","name":"User","namespace":"t","fields":[{"name":"id","type":"long"}]}`
	userStringID  = `{"type":"record","name":"User","namespace":"t","fields":[{"name":"id","type":"string"}]}`
)

func TestRegisterCheckGetList(t *testing.T) {
	ctx := context.Background()
	c, _ := startRegistry(t)

	// A new subject: anything is compatible.
	res, err := schematool.Check(ctx, c, schematool.CheckRequest{Subject: "orders-value", Schema: repoSchema(t, "order-v1.avsc")})
	if err != nil || !res.Compatible || res.Versions != 0 {
		t.Fatalf("check new subject: %+v, %v", res, err)
	}

	r1, err := schematool.Register(ctx, c, "orders-value", repoSchema(t, "order-v1.avsc"))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Version != 1 || r1.ID <= 0 {
		t.Fatalf("register v1: %+v", r1)
	}

	// order-v2 adds a field with a default: BACKWARD compatible.
	res, err = schematool.Check(ctx, c, schematool.CheckRequest{Subject: "orders-value", Schema: repoSchema(t, "order-v2.avsc")})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Compatible || res.Level != "BACKWARD" || len(res.Problems) != 0 {
		t.Fatalf("check v2: %+v", res)
	}
	var out bytes.Buffer
	schematool.WriteCheck(&out, "order-v2.avsc", res)
	if !strings.Contains(out.String(), `compatible with subject "orders-value" at BACKWARD`) {
		t.Errorf("check output: %s", out.String())
	}

	r2, err := schematool.Register(ctx, c, "orders-value", repoSchema(t, "order-v2.avsc"))
	if err != nil || r2.Version != 2 || r2.ID == r1.ID {
		t.Fatalf("register v2: %+v, %v", r2, err)
	}
	if _, err := schematool.Register(ctx, c, "totals-value", repoSchema(t, "customer-total.avsc")); err != nil {
		t.Fatal(err)
	}

	s, err := schematool.Get(ctx, c, "orders-value", "latest", -1)
	if err != nil || s.Version != 2 || s.ID != r2.ID || !strings.Contains(s.Schema.Schema, `"currency"`) {
		t.Fatalf("get latest: %+v, %v", s, err)
	}
	s, err = schematool.Get(ctx, c, "orders-value", "1", -1)
	if err != nil || s.ID != r1.ID {
		t.Fatalf("get version 1: %+v, %v", s, err)
	}
	s, err = schematool.Get(ctx, c, "", "", r1.ID)
	if err != nil || strings.Contains(s.Schema.Schema, `"currency"`) {
		t.Fatalf("get by id: %+v, %v", s, err)
	}
	out.Reset()
	if err := schematool.WriteSchema(&out, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\n  \"name\": \"Order\"") {
		t.Errorf("schema not indented:\n%s", out.String())
	}
	_, err = schematool.Get(ctx, c, "nope", "latest", -1)
	var re *schemaregistry.Error
	if !errors.As(err, &re) || !re.NotFound() || re.Code != 40401 {
		t.Errorf("get unknown subject: %v", err)
	}

	out.Reset()
	if err := schematool.List(ctx, c, &out, false); err != nil {
		t.Fatal(err)
	}
	if out.String() != "orders-value\ntotals-value\n" {
		t.Errorf("list:\n%s", out.String())
	}
	out.Reset()
	if err := schematool.List(ctx, c, &out, true); err != nil {
		t.Fatal(err)
	}
	if out.String() != "orders-value\t1,2\ntotals-value\t1\n" {
		t.Errorf("list --versions:\n%s", out.String())
	}
}

func TestCheckBreakingChange(t *testing.T) {
	ctx := context.Background()
	c, _ := startRegistry(t)
	if _, err := schematool.Register(ctx, c, "users-value", userV1); err != nil {
		t.Fatal(err)
	}
	res, err := schematool.Check(ctx, c, schematool.CheckRequest{Subject: "users-value", Schema: userNoDefault})
	if err != nil {
		t.Fatal(err)
	}
	if res.Compatible {
		t.Fatalf("want incompatible: %+v", res)
	}
	want := `field "email" added without a default: BACKWARD requires one, so that the new schema can read records written with version 1 (at /fields/1, checked against version 1)`
	if len(res.Problems) != 1 || res.Problems[0] != want {
		t.Fatalf("problems:\n%s\nwant\n%s", strings.Join(res.Problems, "\n"), want)
	}
	var out bytes.Buffer
	schematool.WriteCheck(&out, "user.avsc", res)
	if !strings.HasPrefix(out.String(), `user.avsc: NOT compatible with subject "users-value" at BACKWARD: 1 problem(s):`) {
		t.Errorf("output:\n%s", out.String())
	}

	// Registering it fails with the same readable problems.
	if _, err := schematool.Register(ctx, c, "users-value", userNoDefault); err == nil || !strings.Contains(err.Error(), "at BACKWARD:\n  - "+want) {
		t.Errorf("register incompatible: %v", err)
	}

	// The same with a default passes.
	res, err = schematool.Check(ctx, c, schematool.CheckRequest{Subject: "users-value", Schema: userDefault})
	if err != nil || !res.Compatible {
		t.Fatalf("with a default: %+v, %v", res, err)
	}

	// At a given level the check runs locally against every version.
	res, err = schematool.Check(ctx, c, schematool.CheckRequest{Subject: "users-value", Schema: userLongID, Level: "forward"})
	if err != nil {
		t.Fatal(err)
	}
	want = "type changed from INT to LONG: FORWARD requires readers using version 1 to read the new LONG data (allowed promotions: int→long→float→double, string↔bytes) (at /fields/0/type, checked against version 1)"
	if res.Compatible || res.Level != "FORWARD" || len(res.Problems) != 1 || res.Problems[0] != want {
		t.Fatalf("forward: %+v\nwant %s", res, want)
	}
	if _, err := schematool.Check(ctx, c, schematool.CheckRequest{Subject: "users-value", Schema: userV1, Level: "sideways"}); err == nil || !strings.Contains(err.Error(), "FULL_TRANSITIVE") {
		t.Errorf("bad level: %v", err)
	}
}

func TestCheckTransitive(t *testing.T) {
	ctx := context.Background()
	c, url := startRegistry(t)
	for _, s := range []string{userV1, userDefault} {
		if _, err := schematool.Register(ctx, c, "u-value", s); err != nil {
			t.Fatal(err)
		}
	}
	// Removing the default is fine against version 2 (it has the field)
	// but not against version 1; only a transitive level sees that.
	res, err := schematool.Check(ctx, c, schematool.CheckRequest{Subject: "u-value", Schema: userNoDefault})
	if err != nil || !res.Compatible {
		t.Fatalf("BACKWARD: %+v, %v", res, err)
	}
	setLevel(t, url, "u-value", "BACKWARD_TRANSITIVE")
	res, err = schematool.Check(ctx, c, schematool.CheckRequest{Subject: "u-value", Schema: userNoDefault})
	if err != nil {
		t.Fatal(err)
	}
	if res.Compatible || res.Level != "BACKWARD_TRANSITIVE" || len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "checked against version 1") {
		t.Fatalf("BACKWARD_TRANSITIVE: %+v", res)
	}
}

func setLevel(t *testing.T, url, subject, level string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url+"/config/"+subject, strings.NewReader(`{"compatibility":"`+level+`"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("set level: HTTP %d", resp.StatusCode)
	}
}

func TestBasicAuth(t *testing.T) {
	ctx := context.Background()
	_, url := startRegistry(t, registry.WithBasicAuth("ci", "secret"))
	anon, _ := schemaregistry.NewClient(url)
	if err := schematool.List(ctx, anon, io.Discard, false); err == nil || !strings.Contains(err.Error(), "--basic-auth") {
		t.Errorf("without credentials: %v", err)
	}
	user, pass, err := schematool.ParseBasicAuth("ci:secret")
	if err != nil {
		t.Fatal(err)
	}
	authed, _ := schemaregistry.NewClient(url, schemaregistry.WithBasicAuth(user, pass))
	if _, err := authed.Subjects(ctx); err != nil {
		t.Errorf("with credentials: %v", err)
	}
	if _, _, err := schematool.ParseBasicAuth("nocolon"); err == nil {
		t.Error("ParseBasicAuth accepted a value without a colon")
	}
	// Credentials in the URL are basic auth, and never in errors.
	inURL, err := schemaregistry.NewClient(strings.Replace(url, "http://", "http://ci:secret@", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inURL.Subjects(ctx); err != nil || strings.Contains(inURL.URL(), "secret") {
		t.Errorf("credentials in the URL: %v (URL %s)", err, inURL.URL())
	}
	wrong, _ := schemaregistry.NewClient(strings.Replace(url, "http://", "http://ci:pw-wrong@", 1))
	if _, err := wrong.Subjects(ctx); err == nil || strings.Contains(err.Error(), "pw-wrong") {
		t.Errorf("wrong password in the URL: %v", err)
	}
	if _, err := schemaregistry.NewClient("ftp://ci:pw-wrong@host"); err == nil || strings.Contains(err.Error(), "pw-wrong") {
		t.Errorf("bad URL: %v", err)
	}
}

func TestReadSchemaFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.avsc")
	os.WriteFile(bad, []byte("{\n  \"type\": \"record\",\n  \"name\": \"X\",\n  \"fields\": [,]\n}"), 0o644)
	if _, err := schematool.ReadSchemaFile(bad); err == nil || !strings.Contains(err.Error(), "bad.avsc:4: not valid JSON") {
		t.Errorf("syntax error: %v", err)
	}
	notAvro := filepath.Join(dir, "notavro.avsc")
	os.WriteFile(notAvro, []byte(`{"type":"record","name":"X","fields":[{"name":"a","type":"strin"}]}`), 0o644)
	if _, err := schematool.ReadSchemaFile(notAvro); err == nil || !strings.Contains(err.Error(), "not a valid Avro schema") {
		t.Errorf("bad type: %v", err)
	}
}
