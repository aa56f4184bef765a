package registry_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde/registry"
)

var (
	v1 = userSchema()
	v2 = userSchema(`{"name":"email","type":"string","default":""}`)
	v3 = userSchema(`{"name":"email","type":"string","default":""}`, `{"name":"age","type":"int"}`) // no default: not BACKWARD
)

func TestSubjectsAndVersions(t *testing.T) {
	_, c := start(t, testbroker.New(t))
	c.expect("GET", "/", "", 200, `{}`)
	c.expect("GET", "/schemas/types", "", 200, `["AVRO"]`)
	c.expect("GET", "/subjects", "", 200, `[]`)

	c.expect("POST", "/subjects/users-value/versions", req(v1), 200, `{"id":1}`)
	// Same schema again, and reformatted: same id, no new version.
	c.expect("POST", "/subjects/users-value/versions", req(v1), 200, `{"id":1}`)
	spaced := strings.ReplaceAll(v1, ",", " ,\n ")
	c.expect("POST", "/subjects/users-value/versions", req(spaced), 200, `{"id":1}`)
	// Same schema under another subject: same global id.
	c.expect("POST", "/subjects/other/versions", req(v1), 200, `{"id":1}`)
	c.expect("POST", "/subjects/users-value/versions", req(v2), 200, `{"id":2}`)

	c.expect("GET", "/subjects", "", 200, `["other","users-value"]`)
	c.expect("GET", "/subjects?subjectPrefix=us", "", 200, `["users-value"]`)
	c.expect("GET", "/subjects/users-value/versions", "", 200, `[1,2]`)
	c.expect("GET", "/subjects/users-value/versions/latest", "", 200,
		`{"subject":"users-value","version":2,"id":2,"schema":`+strconv.Quote(v2)+`}`)
	c.expect("GET", "/subjects/users-value/versions/-1", "", 200,
		`{"subject":"users-value","version":2,"id":2,"schema":`+strconv.Quote(v2)+`}`)
	c.expect("GET", "/subjects/users-value/versions/1", "", 200,
		`{"subject":"users-value","version":1,"id":1,"schema":`+strconv.Quote(v1)+`}`)
	c.expect("GET", "/subjects/users-value/versions/1/schema", "", 200, v1)
	c.expect("GET", "/subjects/users-value/versions/latest/schema", "", 200, v2)
	c.expectError("GET", "/subjects/users-value/versions/3", "", 404, 40402)
	c.expectError("GET", "/subjects/users-value/versions/0", "", 422, 42202)
	c.expectError("GET", "/subjects/users-value/versions/abc", "", 422, 42202)
	c.expectError("GET", "/subjects/nope/versions/1", "", 404, 40401)
	c.expectError("GET", "/subjects/nope/versions", "", 404, 40401)

	// Look-up.
	c.expect("POST", "/subjects/users-value", req(spaced), 200,
		`{"subject":"users-value","version":1,"id":1,"schema":`+strconv.Quote(v1)+`}`)
	c.expectError("POST", "/subjects/users-value", req(v3), 404, 40403)
	c.expectError("POST", "/subjects/nope", req(v1), 404, 40401)

	// By id.
	c.expect("GET", "/schemas/ids/1", "", 200, `{"schema":`+strconv.Quote(v1)+`}`)
	c.expect("GET", "/schemas/ids/2/schema", "", 200, v2)
	c.expect("GET", "/schemas/ids/1/subjects", "", 200, `["other","users-value"]`)
	c.expect("GET", "/schemas/ids/1/versions", "", 200, `[{"subject":"other","version":1},{"subject":"users-value","version":1}]`)
	c.expectError("GET", "/schemas/ids/99", "", 404, 40403)
	c.expectError("GET", "/schemas/ids/x", "", 404, 40403)

	// Errors.
	msg := c.expectError("POST", "/subjects/users-value/versions", req(v3), 409, 40901)
	if !strings.Contains(msg, "READER_FIELD_MISSING_DEFAULT_VALUE") || !strings.Contains(msg, `incompatible with an earlier schema for subject "users-value"`) {
		t.Errorf("incompatible message: %s", msg)
	}
	c.expectError("POST", "/subjects/users-value/versions", req(`{"type":"record","name":"X","fields":[{"name":"a","type":"nope"}]}`), 422, 42201)
	msg = c.expectError("POST", "/subjects/users-value/versions", `{"schemaType":"PROTOBUF","schema":"syntax = \"proto3\";"}`, 422, 42201)
	if !strings.Contains(msg, "only stores AVRO") {
		t.Errorf("schema type message: %s", msg)
	}
	c.expectError("POST", "/subjects/users-value/versions", `{"schema":`, 400, 400)
	c.expectError("GET", "/no/such/path", "", 404, 404)
}

func TestCompatibilityEndpoint(t *testing.T) {
	_, c := start(t, testbroker.New(t))
	// Nothing registered: "latest" is compatible, a numbered version is not
	// found (40402 even though the subject is unknown, as Confluent does).
	c.expect("POST", "/compatibility/subjects/s/versions/latest", req(v1), 200, `{"is_compatible":true}`)
	c.expectError("POST", "/compatibility/subjects/s/versions/1", req(v1), 404, 40402)
	c.expect("POST", "/subjects/s/versions", req(v1), 200, `{"id":1}`)
	c.expect("POST", "/subjects/s/versions", req(v2), 200, `{"id":2}`)

	c.expect("POST", "/compatibility/subjects/s/versions/latest", req(v3), 200, `{"is_compatible":false}`)
	c.expect("POST", "/compatibility/subjects/s/versions", req(v3), 200, `{"is_compatible":false}`)
	c.expect("POST", "/compatibility/subjects/s/versions/1", req(v2), 200, `{"is_compatible":true}`)
	c.expectError("POST", "/compatibility/subjects/s/versions/7", req(v2), 404, 40402)
	c.expectError("POST", "/compatibility/subjects/s/versions/zero", req(v2), 422, 42202)
	c.expectError("POST", "/compatibility/subjects/s/versions", req("{"), 422, 42201)

	r := c.expect("POST", "/compatibility/subjects/s/versions/latest?verbose=true", req(v3), 200, "")
	var res struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}
	if err := json.Unmarshal([]byte(r.body), &res); err != nil {
		t.Fatal(err)
	}
	want := `{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'age' at path '/fields/2' in the new schema has no default value and is missing in the old schema', additionalInfo:'age'}`
	if res.IsCompatible || len(res.Messages) != 4 || res.Messages[0] != want || res.Messages[1] != "{oldSchemaVersion: 2}" ||
		res.Messages[3] != "{validateFields: 'false', compatibility: 'BACKWARD'}" {
		t.Errorf("verbose response: %s", r.body)
	}
	c.expect("POST", "/compatibility/subjects/s/versions?verbose=true", req(v2), 200, `{"is_compatible":true,"messages":[]}`)
	// Verbose turns an invalid schema into a message.
	r = c.expect("POST", "/compatibility/subjects/s/versions?verbose=true", req("{"), 200, "")
	if !strings.Contains(r.body, `"is_compatible":false`) || !strings.Contains(r.body, "Invalid schema") {
		t.Errorf("verbose invalid schema: %s", r.body)
	}
}

// TestCompatibilityLevels registers real evolutions under each level.
func TestCompatibilityLevels(t *testing.T) {
	_, c := start(t, testbroker.New(t))
	a := `{"name":"a","type":"int"}`
	withB := userSchema(a, `{"name":"b","type":"int","default":0}`)
	withBNoDefault := userSchema(a, `{"name":"b","type":"int"}`)
	base := userSchema(a)
	cases := []struct {
		level   string
		history []string
		next    string
		ok      bool
	}{
		{"NONE", []string{base}, userSchema(`{"name":"z","type":"string"}`), true},
		{"BACKWARD", []string{base}, withB, true},
		{"BACKWARD", []string{base}, withBNoDefault, false},
		{"BACKWARD_TRANSITIVE", []string{base, withB}, withBNoDefault, false},
		{"BACKWARD", []string{base, withB}, withBNoDefault, true},
		{"FORWARD", []string{base}, withBNoDefault, true},
		{"FORWARD", []string{withBNoDefault}, base, false},
		{"FORWARD", []string{withBNoDefault, withB}, base, true},
		{"FORWARD_TRANSITIVE", []string{withBNoDefault, withB}, base, false},
		{"FULL", []string{base}, withB, true},
		{"FULL", []string{base}, withBNoDefault, false},
		{"FULL", []string{withBNoDefault, withB}, base, true},
		{"FULL_TRANSITIVE", []string{withBNoDefault, withB}, base, false},
	}
	for i, tc := range cases {
		subject := "level-" + strconv.Itoa(i)
		c.expect("PUT", "/config/"+subject, `{"compatibility":"`+tc.level+`"}`, 200, `{"compatibility":"`+tc.level+`"}`)
		prevLevel := tc.level
		// History is registered under NONE so each case starts where it says.
		c.expect("PUT", "/config/"+subject, `{"compatibility":"NONE"}`, 200, "")
		for _, h := range tc.history {
			c.expect("POST", "/subjects/"+subject+"/versions", req(h), 200, "")
		}
		c.expect("PUT", "/config/"+subject, `{"compatibility":"`+prevLevel+`"}`, 200, "")
		r := c.do("POST", "/subjects/"+subject+"/versions", req(tc.next))
		if got := r.status == 200; got != tc.ok {
			t.Errorf("case %d %s: status %d (%s), want ok=%v", i, tc.level, r.status, r.body, tc.ok)
		}
	}
}

func TestConfigAndMode(t *testing.T) {
	_, c := start(t, testbroker.New(t))
	c.expect("GET", "/config", "", 200, `{"compatibilityLevel":"BACKWARD"}`)
	c.expect("PUT", "/config", `{"compatibility":"full"}`, 200, `{"compatibility":"FULL"}`)
	c.expect("GET", "/config", "", 200, `{"compatibilityLevel":"FULL"}`)
	c.expectError("PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 422, 42203)
	c.expectError("GET", "/config/s", "", 404, 40408)
	c.expect("GET", "/config/s?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"FULL"}`)
	for _, l := range []string{"NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"} {
		c.expect("PUT", "/config/s", `{"compatibility":"`+l+`"}`, 200, `{"compatibility":"`+l+`"}`)
		c.expect("GET", "/config/s", "", 200, `{"compatibilityLevel":"`+l+`"}`)
	}
	c.expect("DELETE", "/config/s", "", 200, `{"compatibilityLevel":"FULL_TRANSITIVE"}`)
	c.expectError("GET", "/config/s", "", 404, 40408)
	c.expectError("DELETE", "/config/s", "", 404, 40401)
	c.expect("DELETE", "/config", "", 200, `{"compatibilityLevel":"FULL"}`)
	c.expect("GET", "/config", "", 200, `{"compatibilityLevel":"BACKWARD"}`)

	c.expect("GET", "/mode", "", 200, `{"mode":"READWRITE"}`)
	c.expectError("GET", "/mode/s", "", 404, 40409)
	c.expect("GET", "/mode/s?defaultToGlobal=true", "", 200, `{"mode":"READWRITE"}`)
	c.expectError("PUT", "/mode", `{"mode":"WRITEONLY"}`, 422, 42204)
	c.expect("POST", "/subjects/s/versions", req(v1), 200, `{"id":1}`)
	c.expect("PUT", "/mode/s", `{"mode":"READONLY"}`, 200, `{"mode":"READONLY"}`)
	c.expectError("POST", "/subjects/s/versions", req(v2), 422, 42205)
	c.expectError("DELETE", "/subjects/s/versions/1", "", 422, 42205)
	c.expectError("DELETE", "/subjects/s", "", 422, 42205)
	c.expect("GET", "/subjects/s/versions/1", "", 200, "") // reads still work
	c.expect("POST", "/subjects/t/versions", req(v1), 200, `{"id":1}`)
	c.expect("DELETE", "/mode/s", "", 200, `{"mode":"READONLY"}`)
	c.expectError("DELETE", "/mode/s", "", 404, 40401)
	c.expect("POST", "/subjects/s/versions", req(v2), 200, `{"id":2}`)
	// IMPORT needs an empty registry unless forced, then takes ids as given.
	c.expectError("PUT", "/mode", `{"mode":"IMPORT"}`, 422, 42205)
	c.expect("PUT", "/mode?force=true", `{"mode":"IMPORT"}`, 200, `{"mode":"IMPORT"}`)
	c.expect("POST", "/subjects/imported/versions", `{"schema":`+strconv.Quote(v3)+`,"id":100,"version":5}`, 200, `{"id":100}`)
	c.expect("GET", "/subjects/imported/versions", "", 200, `[5]`)
	c.expectError("POST", "/subjects/imported2/versions", `{"schema":`+strconv.Quote(userSchema(`{"name":"q","type":"int"}`))+`,"id":100}`, 422, 42205)
	c.expect("PUT", "/mode", `{"mode":"READWRITE"}`, 200, `{"mode":"READWRITE"}`)
	c.expectError("POST", "/subjects/x/versions", `{"schema":`+strconv.Quote(v1)+`,"id":7}`, 422, 42205)
	// New ids continue above imported ones.
	c.expect("POST", "/subjects/after-import/versions", req(userSchema(`{"name":"r","type":"int"}`)), 200, `{"id":101}`)
}

func TestDeletes(t *testing.T) {
	_, c := start(t, testbroker.New(t))
	c.expect("POST", "/subjects/s/versions", req(v1), 200, `{"id":1}`)
	c.expect("POST", "/subjects/s/versions", req(v2), 200, `{"id":2}`)
	c.expect("POST", "/subjects/other/versions", req(v1), 200, `{"id":1}`)
	c.expect("PUT", "/config/s", `{"compatibility":"NONE"}`, 200, "")
	c.expect("POST", "/subjects/s/versions", req(v3), 200, `{"id":3}`)

	// Versions: soft first, then permanent.
	c.expectError("DELETE", "/subjects/s/versions/1?permanent=true", "", 404, 40407)
	c.expect("DELETE", "/subjects/s/versions/1", "", 200, `1`)
	c.expectError("DELETE", "/subjects/s/versions/1", "", 404, 40406)
	c.expectError("DELETE", "/subjects/s/versions/9", "", 404, 40402)
	c.expectError("DELETE", "/subjects/nope/versions/1", "", 404, 40401)
	c.expect("GET", "/subjects/s/versions", "", 200, `[2,3]`)
	c.expect("GET", "/subjects/s/versions?deleted=true", "", 200, `[1,2,3]`)
	c.expectError("GET", "/subjects/s/versions/1", "", 404, 40402)
	c.expect("GET", "/subjects/s/versions/1?deleted=true", "", 200, "")
	c.expect("GET", "/schemas/ids/1/subjects", "", 200, `["other"]`)
	c.expect("GET", "/schemas/ids/1/subjects?deleted=true", "", 200, `["other","s"]`)
	c.expect("DELETE", "/subjects/s/versions/1?permanent=true", "", 200, `1`)
	c.expect("GET", "/subjects/s/versions?deleted=true", "", 200, `[2,3]`)
	c.expect("GET", "/schemas/ids/1", "", 200, "") // still used by "other"

	// Subjects.
	c.expectError("DELETE", "/subjects/s?permanent=true", "", 404, 40405)
	c.expect("DELETE", "/subjects/s", "", 200, `[2,3]`)
	c.expectError("DELETE", "/subjects/s", "", 404, 40404)
	c.expect("GET", "/subjects", "", 200, `["other"]`)
	c.expect("GET", "/subjects?deleted=true", "", 200, `["other","s"]`)
	c.expectError("GET", "/subjects/s/versions", "", 404, 40401)
	c.expect("GET", "/schemas/ids/3", "", 200, "") // soft-deleted schemas stay readable by id
	c.expect("DELETE", "/subjects/s?permanent=true", "", 200, `[2,3]`)
	c.expect("GET", "/subjects?deleted=true", "", 200, `["other"]`)
	c.expectError("GET", "/schemas/ids/3", "", 404, 40403)
	c.expectError("GET", "/config/s", "", 404, 40408) // subject config went with it
	c.expectError("DELETE", "/subjects/s", "", 404, 40401)

	// Re-registering a permanently deleted schema reuses its id; the
	// subject's version numbers are not reused.
	c.expect("POST", "/subjects/s/versions", req(v3), 200, `{"id":3}`)
	c.expect("GET", "/subjects/s/versions", "", 200, `[4]`)
	// A new schema never gets a deleted schema's id.
	c.expect("POST", "/subjects/fresh/versions", req(userSchema(`{"name":"n","type":"long"}`)), 200, `{"id":4}`)
}

func TestReferences(t *testing.T) {
	_, c := start(t, testbroker.New(t))
	address := `{"type":"record","name":"Address","namespace":"com.example","fields":[{"name":"city","type":"string"}]}`
	user := `{"type":"record","name":"Customer","namespace":"com.example","fields":[{"name":"home","type":"com.example.Address"}]}`
	ref := `{"name":"com.example.Address","subject":"address","version":1}`
	c.expectError("POST", "/subjects/customer/versions", req(user, ref), 422, 42201) // dangling
	c.expect("POST", "/subjects/address/versions", req(address), 200, `{"id":1}`)
	c.expect("POST", "/subjects/customer/versions", req(user, ref), 200, `{"id":2}`)
	c.expect("POST", "/subjects/customer/versions", req(user, ref), 200, `{"id":2}`)
	c.expect("GET", "/subjects/customer/versions/1", "", 200,
		`{"subject":"customer","version":1,"id":2,"references":[`+ref+`],"schema":`+strconv.Quote(user)+`}`)
	c.expect("GET", "/schemas/ids/2", "", 200, `{"references":[`+ref+`],"schema":`+strconv.Quote(user)+`}`)
	c.expect("POST", "/subjects/customer", req(user, ref), 200, "")
	c.expect("GET", "/subjects/address/versions/1/referencedby", "", 200, `[2]`)
	c.expectError("DELETE", "/subjects/address", "", 422, 42206)
	c.expectError("DELETE", "/subjects/address/versions/1", "", 422, 42206)

	// The same text without the reference is another schema (it does not parse alone).
	c.expectError("POST", "/subjects/customer/versions", req(user), 422, 42201)

	// Evolving the referenced type is checked through the reference.
	address2 := `{"type":"record","name":"Address","namespace":"com.example","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string","default":""}]}`
	c.expect("POST", "/subjects/address/versions", req(address2), 200, `{"id":3}`)
	ref2 := `{"name":"com.example.Address","subject":"address","version":2}`
	c.expect("POST", "/subjects/customer/versions", req(user, ref2), 200, `{"id":4}`)
	// "latest" (-1) in a reference resolves at registration time.
	refLatest := `{"name":"com.example.Address","subject":"address","version":-1}`
	c.expect("POST", "/subjects/customer/versions", req(user, refLatest), 200, `{"id":4}`)
	address3 := `{"type":"record","name":"Address","namespace":"com.example","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string"}]}`
	c.expect("PUT", "/config/address", `{"compatibility":"NONE"}`, 200, "")
	c.expect("POST", "/subjects/address/versions", req(address3), 200, `{"id":5}`)
	ref3 := `{"name":"com.example.Address","subject":"address","version":3}`
	// Read through the reference, zip has no default: customer v1 data
	// (Address without zip) is unreadable, which BACKWARD_TRANSITIVE catches.
	c.expect("PUT", "/config/customer", `{"compatibility":"BACKWARD_TRANSITIVE"}`, 200, "")
	c.expectError("POST", "/subjects/customer/versions", req(user, ref3), 409, 40901)
}

func TestContentTypesAndAuth(t *testing.T) {
	_, c := start(t, testbroker.New(t), registry.WithBasicAuth("alice", "s3cret"))
	r := c.do("GET", "/subjects", "")
	if r.status != 401 || normJSON(t, r.body) != `{"error_code":401,"message":"Unauthorized"}` || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no auth: %d %s", r.status, r.body)
	}
	c.user, c.pwd = "alice", "wrong"
	c.expectError("GET", "/subjects", "", 401, 401)
	c.pwd = "s3cret"
	r = c.expect("GET", "/subjects", "", 200, `[]`)
	if ct := r.header.Get("Content-Type"); ct != "application/vnd.schemaregistry.v1+json" {
		t.Errorf("content type %q", ct)
	}
	r = c.do("GET", "/subjects", "", "Accept", "application/json")
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type for Accept: application/json: %q", ct)
	}
	for _, ct := range []string{"application/json", "application/vnd.schemaregistry+json", "application/vnd.schemaregistry.v1+json; charset=utf-8"} {
		r = c.do("POST", "/subjects/s/versions", req(v1), "Content-Type", ct)
		if r.status != 200 {
			t.Errorf("Content-Type %s: %d %s", ct, r.status, r.body)
		}
	}
	r = c.do("POST", "/subjects/s/versions", req(v1), "Content-Type", "text/plain")
	if r.status != 415 {
		t.Errorf("text/plain: %d %s", r.status, r.body)
	}
}
