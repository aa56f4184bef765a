package converters

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectavro"
	"github.com/sluicehq/sluice/internal/connectjson"
	"github.com/sluicehq/sluice/internal/testbroker"
	"github.com/sluicehq/sluice/serde"
	avroserde "github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/registry"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// startRegistry runs Sluice's schema registry on an in-process broker
// behind a real HTTP server, optionally with basic auth.
func startRegistry(t *testing.T, auth ...string) string {
	t.Helper()
	b := testbroker.New(t)
	opts := []registry.Option{registry.WithBrokers(b.Addr())}
	if len(auth) == 2 {
		opts = append(opts, registry.WithBasicAuth(auth[0], auth[1]))
	}
	reg, err := registry.New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = reg.Close()
	})
	return srv.URL
}

func avroConv(t *testing.T, url string, isKey bool, extra map[string]any) connectors.Converter {
	t.Helper()
	raw := map[string]any{"schema.registry.url": url}
	for k, v := range extra {
		raw[k] = v
	}
	return build(t, "io.confluent.connect.avro.AvroConverter", raw, isKey)
}

// rich has every Connect type: logical types, nesting, optional fields,
// arrays, maps (string- and int-keyed) and defaults.
func rich() (*connectors.Schema, *connectors.Struct) {
	line := connectors.NewStruct("com.acme.Line").
		Field("sku", connectors.StringSchema()).
		Field("qty", connectors.Int16Schema()).
		Field("discount", connectors.OptionalOf(connectors.DecimalSchema(3))).
		MustBuild()
	withDefault := &connectors.Schema{Type: connectors.TypeString, Default: "web"}
	s := connectors.NewStruct("com.acme.Order").Version(0).
		Field("id", connectors.Int64Schema()).
		Field("i8", connectors.Int8Schema()).
		Field("i32", connectors.Int32Schema()).
		Field("f32", connectors.Float32Schema()).
		Field("f64", connectors.Float64Schema()).
		Field("paid", connectors.BooleanSchema()).
		Field("raw", connectors.BytesSchema()).
		Field("amount", connectors.DecimalSchema(2)).
		Field("day", connectors.DateSchema()).
		Field("at", connectors.TimeSchema()).
		Field("created", connectors.TimestampSchema()).
		Field("lines", connectors.ArraySchema(line)).
		Field("attrs", connectors.MapSchema(connectors.StringSchema())).
		Field("counts", &connectors.Schema{Type: connectors.TypeMap, KeySchema: connectors.Int32Schema(), ValueSchema: connectors.Int64Schema()}).
		Field("note", connectors.OptionalOf(connectors.StringSchema())).
		Field("channel", withDefault).
		Field("gift", connectors.OptionalOf(line)).
		MustBuild()
	l := func(sku string, qty int16) *connectors.Struct {
		return connectors.NewStructValue(line).Put("sku", sku).Put("qty", qty).Put("discount", big.NewRat(5, 1000))
	}
	gift, _ := s.Field("gift") // a struct value carries its field's exact schema, as in Kafka Connect
	giftValue := connectors.NewStructValue(gift.Schema).Put("sku", "G").Put("qty", int16(1))
	v := connectors.NewStructValue(s).
		Put("id", int64(99)).Put("i8", int8(-3)).Put("i32", int32(123456)).Put("f32", float32(0.5)).Put("f64", 2.25).
		Put("paid", true).Put("raw", []byte{0, 0xFF}).Put("amount", big.NewRat(-1999, 100)).
		Put("day", time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)).Put("at", time.UnixMilli(3723004).UTC()).
		Put("created", time.UnixMilli(1750000000123).UTC()).
		Put("lines", []any{l("A-1", 2), l("B-2", 1)}).
		Put("attrs", map[string]any{"source": "test", "lang": "go"}).
		Put("counts", map[string]any{"1": int64(10), "-5": int64(2)}).
		Put("gift", giftValue)
	return s, v
}

func TestAvroConverterWithRegistry(t *testing.T) {
	url := startRegistry(t)
	client := newRegistryClient(t, url)

	t.Run("round trip every type", func(t *testing.T) {
		c := avroConv(t, url, false, nil)
		s, v := rich()
		data, err := c.FromConnect("orders", s, v)
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != 0 {
			t.Fatalf("magic byte %d", data[0])
		}
		id := int(binary.BigEndian.Uint32(data[1:5]))
		got, err := client.SchemaByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := connectavro.FromConnect(s)
		if got.Schema.Schema != want {
			t.Fatalf("registered schema\n%s\nwant\n%s", got.Schema.Schema, want)
		}
		// A fresh converter (no caches) reads it back.
		rs, rv, err := avroConv(t, url, false, nil).ToConnect("orders", data)
		if err != nil {
			t.Fatal(err)
		}
		if rs.Version != 1 {
			t.Fatalf("schema version %d, want the registry version 1", rs.Version)
		}
		rs.Version = 0
		if !connectors.SameSchema(rs, s) {
			t.Fatalf("schema\n%v\nwant\n%v", rs, s)
		}
		st := rv.(*connectors.Struct)
		if st.Get("channel") != "web" || st.Get("note") != nil || st.Get("amount").(*big.Rat).Cmp(big.NewRat(-1999, 100)) != 0 ||
			!reflect.DeepEqual(st.Get("counts"), v.Get("counts")) || !st.Get("at").(time.Time).Equal(v.Get("at").(time.Time)) ||
			st.Get("lines").([]any)[1].(*connectors.Struct).Get("sku") != "B-2" {
			t.Fatalf("value %v", st)
		}
		// The same value writes the same bytes (ids cached, maps sorted).
		again, err := c.FromConnect("orders", s, v)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("second write differs: %v", err)
		}
	})

	t.Run("subject name strategies", func(t *testing.T) {
		s, v := rich()
		for _, tc := range []struct {
			isKey    bool
			strategy string
			topic    string
			subject  string
		}{
			{false, "TopicNameStrategy", "s1", "s1-value"},
			{true, "TopicNameStrategy", "s2", "s2-key"},
			{false, "RecordNameStrategy", "s3", "com.acme.Order"},
			{false, "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy", "s4", "s4-com.acme.Order"},
			{true, "io.confluent.kafka.serializers.subject.RecordNameStrategy", "s5", "com.acme.Order"},
		} {
			key := "value.subject.name.strategy"
			if tc.isKey {
				key = "key.subject.name.strategy"
			}
			c := avroConv(t, url, tc.isKey, map[string]any{key: tc.strategy})
			if _, err := c.FromConnect(tc.topic, s, v); err != nil {
				t.Fatal(err)
			}
			subjects, err := client.Subjects(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(subjects, tc.subject) {
				t.Fatalf("%s (key %v): subjects %v, want %s", tc.strategy, tc.isKey, subjects, tc.subject)
			}
			if tc.strategy == "TopicNameStrategy" {
				for _, other := range subjects {
					if strings.HasPrefix(other, tc.topic+"-") && other != tc.subject {
						t.Fatalf("unexpected subject %s", other)
					}
				}
			}
		}
		if _, err := avroConv(t, url, false, map[string]any{"value.subject.name.strategy": "RecordNameStrategy"}).FromConnect("s6", connectors.StringSchema(), "x"); err != nil {
			t.Fatal(err)
		}
		if subjects, _ := client.Subjects(context.Background()); !slices.Contains(subjects, "string") {
			t.Fatalf("record name of a string schema: subjects %v", subjects)
		}
	})

	t.Run("interop with serde/avro", func(t *testing.T) {
		// A record written by Sluice's generic Avro serde (as any
		// Confluent-compatible producer) reads through the converter...
		const userSchema = `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"email","type":["null","string"],"default":null},{"name":"role","type":{"type":"enum","name":"Role","symbols":["ADMIN","USER"]}}]}`
		sd, err := avroserde.NewGeneric(client, userSchema)
		if err != nil {
			t.Fatal(err)
		}
		data, err := sd.Serialize("users", map[string]any{"name": "ann", "age": 33, "email": map[string]any{"string": "a@x"}, "role": "USER"})
		if err != nil {
			t.Fatal(err)
		}
		conv := avroConv(t, url, false, nil)
		s, v, err := conv.ToConnect("users", data)
		if err != nil {
			t.Fatal(err)
		}
		st := v.(*connectors.Struct)
		if s.Name != "com.example.User" || st.Get("name") != "ann" || st.Get("age") != int32(33) || st.Get("email") != "a@x" || st.Get("role") != "USER" {
			t.Fatalf("read %v %v", s, st)
		}
		role, _ := s.Field("role")
		if role.Schema.Parameters["io.confluent.connect.avro.Enum"] != "com.example.Role" {
			t.Fatalf("enum parameters %v", role.Schema.Parameters)
		}
		// ...and what the converter writes reads through the serde. (The
		// enum is a string in Connect, so the converter's schema for the
		// record is the User schema with a string role: a pipeline writes it
		// to another topic, as Confluent's converter would.)
		out, err := conv.FromConnect("users-copy", s, st)
		if err != nil {
			t.Fatal(err)
		}
		text, err := connectavro.FromConnect(s)
		if err != nil {
			t.Fatal(err)
		}
		copySerde, err := avroserde.NewGeneric(client, text)
		if err != nil {
			t.Fatal(err)
		}
		back, err := copySerde.Deserialize("users-copy", out)
		if err != nil {
			t.Fatal(err)
		}
		if back["name"] != "ann" || back["age"] != 33 || back["role"] != "USER" {
			t.Fatalf("serde read %#v", back)
		}
		// A Connect-born schema too: the serde reads it with the Avro
		// schema the converter derives.
		os, ov := rich()
		text, _ = connectavro.FromConnect(os)
		orders, err := avroserde.NewGeneric(client, text)
		if err != nil {
			t.Fatal(err)
		}
		written, err := avroConv(t, url, false, nil).FromConnect("interop", os, ov)
		if err != nil {
			t.Fatal(err)
		}
		m, err := orders.Deserialize("interop", written)
		if err != nil {
			t.Fatal(err)
		}
		if m["id"] != int64(99) || m["i8"] != -3 || m["paid"] != true {
			t.Fatalf("serde read %#v", m)
		}
	})

	t.Run("schema evolution", func(t *testing.T) {
		c := avroConv(t, url, false, nil)
		v1 := connectors.NewStruct("com.acme.Customer").
			Field("id", connectors.Int32Schema()).
			Field("name", connectors.StringSchema()).
			MustBuild()
		v2 := connectors.NewStruct("com.acme.Customer").
			Field("id", connectors.Int32Schema()).
			Field("name", connectors.StringSchema()).
			Field("email", connectors.OptionalOf(connectors.StringSchema())).
			MustBuild()
		old, err := c.FromConnect("customers", v1, connectors.NewStructValue(v1).Put("id", int32(1)).Put("name", "old"))
		if err != nil {
			t.Fatal(err)
		}
		neu, err := c.FromConnect("customers", v2, connectors.NewStructValue(v2).Put("id", int32(2)).Put("name", "new").Put("email", "n@x"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(old[1:5], neu[1:5]) {
			t.Fatal("the evolved schema got the old id")
		}
		versions, err := client.Versions(context.Background(), "customers-value")
		if err != nil || !reflect.DeepEqual(versions, []int{1, 2}) {
			t.Fatalf("versions %v, %v", versions, err)
		}
		reader := avroConv(t, url, false, nil)
		s1, r1, err := reader.ToConnect("customers", old)
		if err != nil {
			t.Fatal(err)
		}
		s2, r2, err := reader.ToConnect("customers", neu)
		if err != nil {
			t.Fatal(err)
		}
		if s1.Version != 1 || s2.Version != 2 || len(s1.Fields) != 2 || len(s2.Fields) != 3 {
			t.Fatalf("schemas v%d %v, v%d %v", s1.Version, s1, s2.Version, s2)
		}
		if r1.(*connectors.Struct).Get("name") != "old" || r2.(*connectors.Struct).Get("email") != "n@x" {
			t.Fatalf("values %v %v", r1, r2)
		}
		// An incompatible change is refused by the registry (BACKWARD): a
		// permanent error, not a transient one.
		v3 := connectors.NewStruct("com.acme.Customer").Field("id", connectors.StringSchema()).MustBuild()
		_, err = c.FromConnect("customers", v3, connectors.NewStructValue(v3).Put("id", "x"))
		if !errors.Is(err, avroserde.ErrRegistryRejected) || errors.Is(err, serde.ErrTransient) || !strings.Contains(err.Error(), `subject "customers-value"`) {
			t.Fatalf("incompatible schema: %v", err)
		}
	})

	t.Run("auto.register.schemas=false and use.latest.version", func(t *testing.T) {
		s := connectors.NewStruct("com.acme.Event").Field("id", connectors.Int64Schema()).MustBuild()
		v := connectors.NewStructValue(s).Put("id", int64(5))
		lookup := avroConv(t, url, false, map[string]any{"auto.register.schemas": false})
		_, err := lookup.FromConnect("events", s, v)
		if !errors.Is(err, avroserde.ErrSchemaNotRegistered) || errors.Is(err, serde.ErrTransient) {
			t.Fatalf("unregistered: %v", err)
		}
		text, _ := connectavro.FromConnect(s)
		if _, err := client.Register(context.Background(), "events-value", sr.Schema{Schema: text}); err != nil {
			t.Fatal(err)
		}
		if _, err := avroConv(t, url, false, map[string]any{"auto.register.schemas": false}).FromConnect("events", s, v); err != nil {
			t.Fatalf("registered: %v", err)
		}
		// A newer schema with a defaulted field: use.latest.version writes
		// with it, filling the default.
		latest := `{"type":"record","name":"Event","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"source","type":"string","default":"legacy"}],"connect.name":"com.acme.Event"}`
		regID, err := client.Register(context.Background(), "events-value", sr.Schema{Schema: latest})
		if err != nil {
			t.Fatal(err)
		}
		data, err := avroConv(t, url, false, map[string]any{"use.latest.version": true, "auto.register.schemas": false}).FromConnect("events", s, v)
		if err != nil {
			t.Fatal(err)
		}
		if int(binary.BigEndian.Uint32(data[1:5])) != regID {
			t.Fatalf("written with id %d, want the latest %d", binary.BigEndian.Uint32(data[1:5]), regID)
		}
		_, rv, err := avroConv(t, url, false, nil).ToConnect("events", data)
		if err != nil {
			t.Fatal(err)
		}
		if st := rv.(*connectors.Struct); st.Get("id") != int64(5) || st.Get("source") != "legacy" {
			t.Fatalf("read %v", st)
		}
	})

	t.Run("bad records are permanent errors naming topic and id", func(t *testing.T) {
		c := avroConv(t, url, false, nil)
		_, _, err := c.ToConnect("orders", []byte{0, 0, 0, 0x7f, 0xff, 2})
		if !errors.Is(err, avroserde.ErrUnknownSchemaID) || errors.Is(err, serde.ErrTransient) || !strings.Contains(err.Error(), `topic "orders"`) || !strings.Contains(err.Error(), "schema id 32767") {
			t.Fatalf("unknown id: %v", err)
		}
		_, _, err = c.ToConnect("orders", []byte("{\"json\":1}"))
		if !errors.Is(err, avroserde.ErrWireFormat) || !strings.Contains(err.Error(), "magic byte is 0x7b") {
			t.Fatalf("not wire format: %v", err)
		}
		s, v := rich()
		good, _ := c.FromConnect("orders", s, v)
		id := binary.BigEndian.Uint32(good[1:5])
		_, _, err = c.ToConnect("orders", good[:len(good)-3])
		if !errors.Is(err, avroserde.ErrCorrupt) || errors.Is(err, serde.ErrTransient) || !strings.Contains(err.Error(), "schema id "+itoa(id)) {
			t.Fatalf("truncated: %v", err)
		}
		if _, err := c.FromConnect("orders", nil, map[string]any{"a": 1}); !errors.Is(err, avroserde.ErrEncode) || !strings.Contains(err.Error(), "json converter") {
			t.Fatalf("schemaless: %v", err)
		}
		bad := connectors.NewStructValue(s).Put("id", "nope")
		if _, err := c.FromConnect("orders", s, bad); !errors.Is(err, connectors.ErrSchemaMismatch) || !strings.Contains(err.Error(), "field id") {
			t.Fatalf("mismatch: %v", err)
		}
	})
}

func itoa(n uint32) string { return big.NewInt(int64(n)).String() }

func TestAvroConverterRegistryDown(t *testing.T) {
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	c := avroConv(t, url, false, nil) // building makes no call
	s, v := rich()
	_, err = c.FromConnect("orders", s, v)
	if !errors.Is(err, serde.ErrTransient) || !errors.Is(err, avroserde.ErrRegistryUnavailable) || !strings.Contains(err.Error(), `topic "orders"`) {
		t.Fatalf("FromConnect with the registry down: %v", err)
	}
	_, _, err = c.ToConnect("orders", []byte{0, 0, 0, 0, 1, 0})
	if !errors.Is(err, serde.ErrTransient) {
		t.Fatalf("ToConnect with the registry down: %v", err)
	}
	// A registry answering 503 is unavailable too.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error_code":50003,"message":"forwarding failed"}`))
	}))
	defer srv.Close()
	_, err = avroConv(t, srv.URL, false, nil).FromConnect("orders", s, v)
	if !errors.Is(err, serde.ErrTransient) {
		t.Fatalf("503: %v", err)
	}
}

func TestAvroConverterBasicAuth(t *testing.T) {
	url := startRegistry(t, "app", "s3cret")
	s, v := rich()
	ok := avroConv(t, url, false, map[string]any{"basic.auth.credentials.source": "USER_INFO", "basic.auth.user.info": "app:s3cret"})
	if _, err := ok.FromConnect("orders", s, v); err != nil {
		t.Fatal(err)
	}
	inURL := strings.Replace(url, "http://", "http://app:s3cret@", 1)
	if _, err := avroConv(t, inURL, false, nil).FromConnect("orders", s, v); err != nil {
		t.Fatalf("credentials in the URL: %v", err)
	}
	wrong := avroConv(t, url, false, map[string]any{"basic.auth.credentials.source": "USER_INFO", "basic.auth.user.info": "app:nope"})
	_, err := wrong.FromConnect("orders", s, v)
	if !errors.Is(err, avroserde.ErrRegistryRejected) || errors.Is(err, serde.ErrTransient) || strings.Contains(err.Error(), "nope") {
		t.Fatalf("wrong password: %v", err)
	}
	p, _ := newRegistry(t).Converter("avro")
	if _, err := p.Spec.Parse("value.converter.", map[string]any{"schema.registry.url": url, "basic.auth.credentials.source": "USER_INFO"}); err == nil || !strings.Contains(err.Error(), "value.converter.basic.auth.user.info") {
		t.Fatalf("USER_INFO without user info: %v", err)
	}
	if _, err := p.Spec.Parse("value.converter.", map[string]any{"schema.registry.url": "http://a:1,http://b:2"}); err == nil {
		t.Fatal("two registry URLs accepted")
	}
	if _, err := p.Spec.Parse("value.converter.", map[string]any{}); err == nil || !strings.Contains(err.Error(), "schema.registry.url") {
		t.Fatalf("missing URL: %v", err)
	}
}

// TestConvertersConcurrent shares converters between goroutines, as the
// tasks of a connector do: caches stay consistent (run with -race) and a
// burst of records for new topics registers each schema once.
func TestConvertersConcurrent(t *testing.T) {
	url := startRegistry(t)
	avro := avroConv(t, url, false, nil)
	js := build(t, "json", map[string]any{"schemas.enable": true}, false)
	s, v := rich()
	topics := []string{"c1", "c2", "c3"}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				topic := topics[(g+i)%len(topics)]
				for _, c := range []connectors.Converter{avro, js} {
					data, err := c.FromConnect(topic, s, v)
					if err != nil {
						errs <- err
						return
					}
					rs, rv, err := c.ToConnect(topic, data)
					if err != nil {
						errs <- err
						return
					}
					// The same value came back (compared as JSON payloads: the
					// Avro converter's schema gains the registry version).
					want, _ := connectjson.Append(nil, s, v, connectjson.Options{})
					if got, err := connectjson.Append(nil, rs, rv, connectjson.Options{}); err != nil || !bytes.Equal(got, want) {
						errs <- fmt.Errorf("%s: read back %s, want %s (%v)", topic, got, want, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	client := newRegistryClient(t, url)
	for _, topic := range topics {
		versions, err := client.Versions(context.Background(), topic+"-value")
		if err != nil || len(versions) != 1 {
			t.Fatalf("%s: versions %v, %v", topic, versions, err)
		}
	}
}

func newRegistryClient(t *testing.T, url string) *schemaregistry.Client {
	t.Helper()
	c, err := schemaregistry.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
