package converters

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectavro"
	"github.com/sluicehq/sluice/internal/registryconf"
	avroserde "github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// Subject name strategies, by their Confluent names and class names.
var strategyNames = map[string]avroserde.SubjectNameStrategy{
	"TopicNameStrategy":       avroserde.TopicName,
	"RecordNameStrategy":      avroserde.RecordName,
	"TopicRecordNameStrategy": avroserde.TopicRecordName,
	"io.confluent.kafka.serializers.subject.TopicNameStrategy":       avroserde.TopicName,
	"io.confluent.kafka.serializers.subject.RecordNameStrategy":      avroserde.RecordName,
	"io.confluent.kafka.serializers.subject.TopicRecordNameStrategy": avroserde.TopicRecordName,
}

func strategyAllowed() []string {
	return []string{"TopicNameStrategy", "RecordNameStrategy", "TopicRecordNameStrategy",
		"io.confluent.kafka.serializers.subject.TopicNameStrategy",
		"io.confluent.kafka.serializers.subject.RecordNameStrategy",
		"io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"}
}

func avroPlugin() connectors.ConverterPlugin {
	strategyDoc := "How the registry subject is named: TopicNameStrategy (<topic>-key or <topic>-value, one schema lineage per topic), RecordNameStrategy (the record's full name, shared by all topics) or TopicRecordNameStrategy (<topic>-<record full name>). Confluent's class names (io.confluent.kafka.serializers.subject.TopicNameStrategy, ...) are accepted."
	return connectors.ConverterPlugin{
		Info: connectors.Info{
			Name:    "avro",
			Aliases: []string{"io.confluent.connect.avro.AvroConverter"},
			Summary: "Avro in the Confluent Schema Registry wire format, compatible with Confluent's AvroConverter.",
			Doc: "Writes each record as magic byte 0, the 4-byte registry id of its Avro schema, and the value in Avro binary: the bytes Confluent's AvroConverter and KafkaAvroSerializer write, so Kafka Connect, ksqlDB and Sluice's own avro serde read them. " +
				"The Avro schema is derived from the record's Connect schema as Confluent's AvroData derives it (structs as records named after the schema or io.confluent.connect.avro.ConnectDefault, optional fields as unions with null and default null, " +
				"int8/int16 with connect.type, decimals, dates, times and timestamps as Avro logical types, metadata as connect.* properties), and registered under the subject of the subject name strategy on the first record of each topic and schema (auto.register.schemas), " +
				"or looked up (auto.register.schemas=false), or replaced by the subject's latest schema (use.latest.version with auto.register.schemas=false). Ids are cached per subject and schema. " +
				"Reading fetches the writer schema by the id in each record (once per id and topic), derives its Connect schema (with the schema's registry version under the topic's subject as schema version, as Confluent does: writing such a schema again adds a connect.version property, so a new registry version), and decodes: " +
				"records written by any Confluent-compatible Avro producer read back, including Avro types Connect lacks (enums as strings, fixed as bytes, unions as io.confluent.connect.avro.Union structs). " +
				"Schemaless values cannot be written. A registry that cannot be reached (connection failure, timeout, 5xx, 408, 429) is a transient error: the worker retries the record and never dead-letters it for that; " +
				"an unknown schema id, bytes not in the wire format or a corrupt body are permanent errors naming the topic and id. Building the converter makes no network call. " +
				"Only one registry URL is used (Confluent accepts a list for failover). " +
				"The registry client takes Confluent's security settings: basic auth (basic.auth.*), a static bearer token (bearer.auth.*), and for https a CA file and a client certificate (schema.registry.ssl.*, PEM files, read when the converter is created). " +
				"A registry refusing the credentials (401, 403) or failing TLS verification is a permanent error, not retried.",
			Spec: connectors.Spec{
				Fields: []connectors.ConfigField{
					{Name: "schema.registry.url", Type: connectors.FieldList, Required: true, Check: checkRegistryURL,
						Doc: "The schema registry's URL, for example http://127.0.0.1:8081 (Sluice's `sluice registry` or Confluent's). User info in the URL (http://user:password@host:8081) is used for basic auth when basic.auth.credentials.source is URL (or unset, without basic.auth.user.info); it never appears in errors or logs."},
					{Name: registryconf.BasicAuthCredentialsSource, Type: connectors.FieldString, Allowed: []string{registryconf.SourceURL, registryconf.SourceUserInfo},
						Doc: "Where the registry's basic-auth credentials come from: URL (the user info of schema.registry.url, none if it has none) or USER_INFO (basic.auth.user.info). Default: USER_INFO when basic.auth.user.info is set, otherwise URL."},
					{Name: registryconf.BasicAuthUserInfo, Type: connectors.FieldString, Secret: true,
						Doc: "user:password for the registry's basic auth (with basic.auth.credentials.source USER_INFO or unset)."},
					{Name: registryconf.BearerAuthCredentialsSource, Type: connectors.FieldString, Allowed: []string{registryconf.SourceStaticToken},
						Doc: "Where the registry's bearer token comes from: STATIC_TOKEN (bearer.auth.token), the only source Sluice supports (Confluent's OAUTHBEARER, SASL_OAUTHBEARER_INHERIT and CUSTOM are not: fetch the token beforehand). Default: STATIC_TOKEN when bearer.auth.token is set. Bearer and basic auth cannot be combined."},
					{Name: registryconf.BearerAuthToken, Type: connectors.FieldString, Secret: true,
						Doc: "A token sent as `Authorization: Bearer <token>` with every registry request. It is not refreshed: restart the connector with a new one before it expires."},
					{Name: registryconf.SSLCALocation, Type: connectors.FieldString,
						Doc: "PEM file of the CA certificates to trust for an https schema.registry.url (default: the system's roots). Read when the converter is created."},
					{Name: registryconf.SSLCertificateLocation, Type: connectors.FieldString,
						Doc: "PEM client certificate for a registry that requires mutual TLS, with schema.registry.ssl.key.location."},
					{Name: registryconf.SSLKeyLocation, Type: connectors.FieldString,
						Doc: "PEM private key (unencrypted) of schema.registry.ssl.certificate.location."},
					{Name: "auto.register.schemas", Type: connectors.FieldBool, Default: true,
						Doc: "Register the schema derived from each record's Connect schema under its subject (true), or only look it up there and fail records whose schema is not registered (false)."},
					{Name: "use.latest.version", Type: connectors.FieldBool, Default: false,
						Doc: "With auto.register.schemas=false (as in Confluent, it applies only then): write with the latest schema registered under the subject instead of the record's own, converting values to it by Avro schema resolution (fields by name, defaults for the missing ones). The latest version is fetched once per subject."},
					{Name: "key.subject.name.strategy", Type: connectors.FieldString, Default: "TopicNameStrategy", Allowed: strategyAllowed(), Doc: strategyDoc + " Used by the key converter."},
					{Name: "value.subject.name.strategy", Type: connectors.FieldString, Default: "TopicNameStrategy", Allowed: strategyAllowed(), Doc: strategyDoc + " Used by the value converter."},
					schemasCacheSizeField,
				},
				Check: func(cfg *connectors.Config) error {
					return fieldErrors(cfg, registryConfig(cfg).Validate())
				},
			},
			Example: "value.converter: avro\nvalue.converter.schema.registry.url: http://127.0.0.1:8081\nvalue.converter.value.subject.name.strategy: TopicNameStrategy\n",
		},
		New: newAvroConverter,
	}
}

func checkRegistryURL(v any) error {
	urls := v.([]string)
	if len(urls) != 1 {
		return fmt.Errorf("want exactly one URL, got %d (Sluice's registry client does not fail over between registries)", len(urls))
	}
	u, err := url.Parse(urls[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not quoted back: the URL may hold a password.
		return errors.New("not an http(s) URL: want http(s)://host:port")
	}
	return nil
}

// registryConfig is the converter's registry settings; the field names
// are registryconf's.
func registryConfig(cfg *connectors.Config) registryconf.Config {
	return registryconf.Config{
		URL:                         cfg.List(registryconf.URL)[0],
		BasicAuthCredentialsSource:  cfg.String(registryconf.BasicAuthCredentialsSource),
		BasicAuthUserInfo:           cfg.Secret(registryconf.BasicAuthUserInfo).Reveal(),
		BearerAuthCredentialsSource: cfg.String(registryconf.BearerAuthCredentialsSource),
		BearerAuthToken:             cfg.Secret(registryconf.BearerAuthToken).Reveal(),
		SSLCALocation:               cfg.String(registryconf.SSLCALocation),
		SSLCertificateLocation:      cfg.String(registryconf.SSLCertificateLocation),
		SSLKeyLocation:              cfg.String(registryconf.SSLKeyLocation),
	}
}

// fieldErrors turns registryconf's errors into field errors under the
// converter's prefix.
func fieldErrors(cfg *connectors.Config, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	var walk func(error)
	walk = func(e error) {
		if joined, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range joined.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *registryconf.FieldError
		if errors.As(e, &fe) {
			out = append(out, connectors.Errorf(cfg.Key(fe.Key), "%w", fe.Err))
			return
		}
		out = append(out, e)
	}
	walk(err)
	return errors.Join(out...)
}

type avroConverter struct {
	key          bool
	client       *schemaregistry.Client
	url          string // without credentials, for errors
	autoRegister bool
	useLatest    bool
	strategy     avroserde.SubjectNameStrategy
	sizeHint     atomic.Int64

	// mu serializes registry calls and cache misses, so a burst of records
	// for a new topic or id makes one registry request, not one per task.
	mu      sync.Mutex
	codecs  *boundedMap[*connectors.Schema, *connectavro.Codec]
	writers *boundedMap[writerKey, *writerEntry]
	readers *boundedMap[readerKey, *connectavro.Codec]
	ids     *boundedMap[string, int] // subject + "\x00" + Avro schema -> registered id
	latest  map[string]*latestEntry  // subject -> latest schema; guarded by mu
}

type writerKey struct {
	topic  string
	schema *connectors.Schema
}

type readerKey struct {
	topic string
	id    uint32
}

type writerEntry struct {
	id     uint32
	header [schemaregistry.HeaderSize]byte
	codec  *connectavro.Codec
	latest *connectavro.Codec // use.latest.version with another schema: the writer schema
}

type latestEntry struct {
	id    int
	codec *connectavro.Codec
}

func newAvroConverter(cfg *connectors.Config, isKey bool) (connectors.Converter, error) {
	rc := registryConfig(cfg)
	client, err := rc.NewClient() // reads the TLS files now: a missing one fails the connector's start
	if err != nil {
		return nil, fieldErrors(cfg, err)
	}
	base := client.URL() // without credentials: in errors and logs
	strategyKey := "value.subject.name.strategy"
	if isKey {
		strategyKey = "key.subject.name.strategy"
	}
	size := cfg.Int("schemas.cache.size")
	c := &avroConverter{
		key:          isKey,
		client:       client,
		url:          base,
		autoRegister: cfg.Bool("auto.register.schemas"),
		useLatest:    cfg.Bool("use.latest.version"),
		strategy:     strategyNames[cfg.String(strategyKey)],
		codecs:       newBoundedMap[*connectors.Schema, *connectavro.Codec](size),
		writers:      newBoundedMap[writerKey, *writerEntry](size),
		readers:      newBoundedMap[readerKey, *connectavro.Codec](size),
		ids:          newBoundedMap[string, int](size),
		latest:       map[string]*latestEntry{},
	}
	c.sizeHint.Store(64)
	return c, nil
}

// fail builds a converter error: what went wrong, its kind (one of
// serde/avro's sentinels, for errors.Is: ErrRegistryUnavailable wraps
// serde.ErrTransient) and, if any, its cause.
func (c *avroConverter) fail(topic string, kind, cause error, format string, args ...any) error {
	dir := "to"
	if kind == avroserde.ErrWireFormat || kind == avroserde.ErrUnknownSchemaID || kind == avroserde.ErrCorrupt || kind == avroserde.ErrInvalidSchema {
		dir = "from"
	}
	what := fmt.Sprintf(format, args...)
	if cause == nil {
		return fmt.Errorf("avro converter: %s of a record %s topic %q: %s (%w)", role(c.key), dir, topic, what, kind)
	}
	return fmt.Errorf("avro converter: %s of a record %s topic %q: %s (%w): %w", role(c.key), dir, topic, what, kind, cause)
}

func (c *avroConverter) FromConnect(topic string, schema *connectors.Schema, value any) ([]byte, error) {
	if value == nil {
		return nil, nil
	}
	if schema == nil {
		return nil, c.fail(topic, avroserde.ErrEncode, nil, "a schemaless value (%T) has no Avro schema: give records a schema, or use the json converter", value)
	}
	w, ok := c.writers.get(writerKey{topic, schema})
	if !ok {
		var err error
		if w, err = c.writerFor(topic, schema); err != nil {
			return nil, err
		}
	}
	hint := c.sizeHint.Load()
	out := make([]byte, 5, 5+hint)
	copy(out, w.header[:])
	var err error
	if w.latest == nil {
		out, err = w.codec.Append(out, value)
	} else {
		// use.latest.version: the value in its own schema, resolved into
		// the latest schema.
		var own []byte
		if own, err = w.codec.Append(nil, value); err == nil {
			var v any
			if v, err = w.latest.DecodeFrom(w.codec, own); err == nil {
				out, err = w.latest.Append(out, v)
			}
		}
	}
	if err != nil {
		return nil, c.fail(topic, avroserde.ErrEncode, err, "value does not fit schema id %d", w.id)
	}
	if n := int64(len(out) - 5); n > hint || n < hint/4 {
		c.sizeHint.Store(n + n/8)
	}
	return out, nil
}

// codecFor returns the codec of a Connect schema (compiled once per schema
// pointer). Called with mu held.
func (c *avroConverter) codecFor(schema *connectors.Schema) (*connectavro.Codec, error) {
	if codec, ok := c.codecs.get(schema); ok {
		return codec, nil
	}
	codec, err := connectavro.NewCodec(schema)
	if err != nil {
		return nil, err
	}
	c.codecs.put(schema, codec)
	return codec, nil
}

// recordName is the Avro schema's full name for the record name
// strategies: a named type's full name, otherwise its type ("string").
func recordName(codec *connectavro.Codec) string {
	if n, ok := codec.HambaSchema().(interface{ FullName() string }); ok {
		return n.FullName()
	}
	return string(codec.HambaSchema().Type())
}

func (c *avroConverter) subject(topic string, codec *connectavro.Codec) string {
	switch c.strategy {
	case avroserde.RecordName:
		return recordName(codec)
	case avroserde.TopicRecordName:
		return topic + "-" + recordName(codec)
	}
	if c.key {
		return topic + "-key"
	}
	return topic + "-value"
}

func (c *avroConverter) registryErr(topic string, notFound error, err error, what string) error {
	kind := avroserde.RegistryErrorKind(err, notFound)
	if cause := registryconf.Explain(err); cause != "" {
		return c.fail(topic, kind, err, "%s: registry %s: %s", what, c.url, cause)
	}
	switch kind {
	case avroserde.ErrRegistryUnavailable:
		return c.fail(topic, kind, err, "%s: registry %s unavailable; the record is retried", what, c.url)
	case notFound:
		return c.fail(topic, kind, err, "%s: not found in registry %s", what, c.url)
	}
	return c.fail(topic, kind, err, "%s: rejected by registry %s", what, c.url)
}

func (c *avroConverter) writerFor(topic string, schema *connectors.Schema) (*writerEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := writerKey{topic, schema}
	if w, ok := c.writers.get(key); ok {
		return w, nil
	}
	codec, err := c.codecFor(schema)
	if err != nil {
		return nil, c.fail(topic, avroserde.ErrInvalidSchema, err, "schema %s has no Avro form", schema)
	}
	subject := c.subject(topic, codec)
	w := &writerEntry{codec: codec}
	var id int
	idKey := subject + "\x00" + codec.AvroSchema()
	switch cached, seen := c.ids.get(idKey); {
	case c.autoRegister && seen:
		// The same schema under another pointer (a transform that builds
		// equal schemas anew): no registry call.
		id = cached
	case c.autoRegister:
		got, err := c.client.Register(context.Background(), subject, sr.Schema{Schema: codec.AvroSchema()})
		if err != nil {
			return nil, c.registryErr(topic, avroserde.ErrSchemaNotRegistered, err, fmt.Sprintf("register schema under subject %q", subject))
		}
		id = got
		c.ids.put(idKey, id)
	case c.useLatest:
		l, err := c.latestFor(topic, subject)
		if err != nil {
			return nil, err
		}
		id = l.id
		if l.codec.AvroSchema() != codec.AvroSchema() {
			w.latest = l.codec
		}
	default:
		got, err := c.client.Lookup(context.Background(), subject, sr.Schema{Schema: codec.AvroSchema()})
		if err != nil {
			return nil, c.registryErr(topic, avroserde.ErrSchemaNotRegistered, err,
				fmt.Sprintf("look up schema under subject %q (auto.register.schemas=false: register it first)", subject))
		}
		id = got.ID
	}
	if !schemaregistry.FitsHeader(id) {
		return nil, c.fail(topic, avroserde.ErrRegistryRejected, nil, "registry %s returned schema id %d, which does not fit the wire format", c.url, id)
	}
	w.id = uint32(id)
	schemaregistry.AppendHeader(w.header[:0], w.id)
	c.writers.put(key, w)
	return w, nil
}

// latestFor returns the latest schema of subject, fetched once. Called
// with mu held.
func (c *avroConverter) latestFor(topic, subject string) (*latestEntry, error) {
	if l, ok := c.latest[subject]; ok {
		return l, nil
	}
	got, err := c.client.SchemaByVersion(context.Background(), subject, -1)
	if err != nil {
		return nil, c.registryErr(topic, avroserde.ErrSchemaNotRegistered, err, fmt.Sprintf("fetch the latest schema of subject %q (use.latest.version)", subject))
	}
	codec, err := c.codecFromRegistry(topic, got, 0)
	if err != nil {
		return nil, err
	}
	l := &latestEntry{id: got.ID, codec: codec}
	c.latest[subject] = l
	return l, nil
}

// codecFromRegistry compiles a registry schema, fetching its references.
func (c *avroConverter) codecFromRegistry(topic string, got sr.SubjectSchema, version int) (*connectavro.Codec, error) {
	if got.Type != sr.TypeAvro {
		return nil, c.fail(topic, avroserde.ErrInvalidSchema, nil, "schema id %d is a %s schema, not Avro", got.ID, got.Type)
	}
	var refs []string
	if len(got.References) > 0 {
		deps, err := c.client.References(context.Background(), got.Schema)
		if err != nil {
			var refErr *schemaregistry.ReferenceError
			if errors.As(err, &refErr) {
				return nil, c.registryErr(topic, avroserde.ErrInvalidSchema, err, fmt.Sprintf("fetch reference %q (subject %q version %d)", refErr.Ref.Name, refErr.Ref.Subject, refErr.Ref.Version))
			}
			return nil, c.fail(topic, avroserde.ErrInvalidSchema, err, "schema id %d from registry %s", got.ID, c.url)
		}
		for _, dep := range deps {
			refs = append(refs, dep.Schema.Schema)
		}
	}
	codec, err := connectavro.NewCodecFromAvroOptions(got.Schema.Schema, connectavro.AvroOptions{Version: version, References: refs})
	if err != nil {
		return nil, c.fail(topic, avroserde.ErrInvalidSchema, err, "schema id %d from registry %s", got.ID, c.url)
	}
	return codec, nil
}

func (c *avroConverter) ToConnect(topic string, data []byte) (*connectors.Schema, any, error) {
	id, body, err := schemaregistry.ParseHeader(data)
	if err != nil {
		return nil, nil, c.fail(topic, avroserde.ErrWireFormat, nil, "not in the Confluent wire format: %v", err)
	}
	codec, ok := c.readers.get(readerKey{topic, id})
	if !ok {
		if codec, err = c.readerFor(topic, id); err != nil {
			return nil, nil, err
		}
	}
	v, err := codec.Decode(body)
	if err != nil {
		return nil, nil, c.fail(topic, avroserde.ErrCorrupt, err, "record of schema id %d", id)
	}
	return codec.Schema(), v, nil
}

func (c *avroConverter) readerFor(topic string, id uint32) (*connectavro.Codec, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := readerKey{topic, id}
	if codec, ok := c.readers.get(key); ok {
		return codec, nil
	}
	got, err := c.client.SchemaByID(context.Background(), int(id))
	if err != nil {
		return nil, c.registryErr(topic, avroserde.ErrUnknownSchemaID, err, fmt.Sprintf("fetch schema id %d", id))
	}
	codec, err := c.codecFromRegistry(topic, got, 0)
	if err != nil {
		return nil, err
	}
	// The schema's version under the topic's subject becomes the Connect
	// schema's version (unless it has connect.version), as Confluent's
	// converter does. A schema registered under another subject has none.
	subject := c.subject(topic, codec)
	if found, err := c.client.Lookup(context.Background(), subject, got.Schema); err == nil {
		if found.Version > 0 && codec.Schema().Version == 0 {
			if codec, err = c.codecFromRegistry(topic, got, found.Version); err != nil {
				return nil, err
			}
		}
	} else if errors.Is(err, schemaregistry.ErrUnavailable) {
		return nil, c.registryErr(topic, nil, err, fmt.Sprintf("look up the version of schema id %d under subject %q", id, subject))
	}
	c.readers.put(key, codec)
	return codec, nil
}

// boundedMap is a map of at most size entries, safe for concurrent use;
// reads take a read lock. When full, an arbitrary entry makes room: the
// caches it holds are refilled from the registry or recompiled.
type boundedMap[K comparable, V any] struct {
	mu   sync.RWMutex
	size int
	m    map[K]V
}

func newBoundedMap[K comparable, V any](size int) *boundedMap[K, V] {
	return &boundedMap[K, V]{size: size, m: make(map[K]V)}
}

func (b *boundedMap[K, V]) get(k K) (V, bool) {
	b.mu.RLock()
	v, ok := b.m[k]
	b.mu.RUnlock()
	return v, ok
}

func (b *boundedMap[K, V]) put(k K, v V) {
	if b.size <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.m[k]; !ok && len(b.m) >= b.size {
		for old := range b.m {
			delete(b.m, old)
			break
		}
	}
	b.m[k] = v
}
