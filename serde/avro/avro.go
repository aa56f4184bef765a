// Package avro provides serdes for Avro records in the Confluent
// schema-registry wire format: a magic byte 0, the writer schema's registry id
// as a 4-byte big-endian integer, then the Avro binary encoding of the value.
// Records are byte-for-byte compatible with Confluent's KafkaAvroSerializer
// and KafkaAvroDeserializer.
//
// Start with a registry client (serde/schemaregistry) and a schema:
//
//	client, err := schemaregistry.NewClient("http://localhost:8081")
//	orders, err := avro.New[Order](client, orderSchema)          // Go struct with `avro` tags
//	keys, err := avro.NewGeneric(client, keySchema, avro.Key())  // map[string]any
//
// Serialize registers the serde's schema under the subject chosen by the
// subject name strategy (by default "<topic>-value", or "<topic>-key" with
// [Key]) on the first record for a topic, and caches the id. Deserialize
// fetches the writer schema by the id in each record's header on the first
// record with that id, resolves it against the serde's schema (the reader
// schema: added fields take their defaults, removed fields are skipped, int
// widens to long, aliases rename, unknown enum symbols take the enum default)
// and caches the result. After that, neither makes a registry call.
//
// Failures are [*Error] values whose kind is one of the package's sentinel
// errors ([ErrWireFormat], [ErrUnknownSchemaID], [ErrCorrupt], ...).
//
// The serdes are built on github.com/hamba/avro/v2 and talk to the registry
// through serde/schemaregistry's client. For tests, franz-go's in-memory
// registry (github.com/twmb/franz-go/pkg/sr/srfake) or Sluice's embedded
// one (serde/registry) serve the same API.
package avro

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	havro "github.com/hamba/avro/v2"
	"github.com/modern-go/reflect2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// SubjectNameStrategy says under which registry subject a serde registers
// and looks up its schema.
type SubjectNameStrategy int

const (
	// TopicName uses "<topic>-value" ("<topic>-key" with [Key]): one schema
	// lineage per topic. Confluent's TopicNameStrategy; the default.
	TopicName SubjectNameStrategy = iota
	// RecordName uses the schema's fully-qualified name ("com.x.User"):
	// one lineage per record type, shared by all topics. Confluent's
	// RecordNameStrategy. Needs a named (record, enum or fixed) schema.
	RecordName
	// TopicRecordName uses "<topic>-<fully-qualified name>"
	// ("orders-com.x.User"). Confluent's TopicRecordNameStrategy. Needs a
	// named schema.
	TopicRecordName
)

func (s SubjectNameStrategy) String() string {
	switch s {
	case TopicName:
		return "TopicName"
	case RecordName:
		return "RecordName"
	case TopicRecordName:
		return "TopicRecordName"
	}
	return fmt.Sprintf("SubjectNameStrategy(%d)", int(s))
}

// Option configures a serde built by [New] or [NewGeneric].
type Option func(*config)

type config struct {
	key          bool
	strategy     SubjectNameStrategy
	autoRegister bool
	useLatest    bool
	schemaID     int
	hasSchemaID  bool
}

// Key makes the serde one for record keys: with [TopicName] its subject is
// "<topic>-key". Default: a serde for record values ("<topic>-value").
func Key() Option { return func(c *config) { c.key = true } }

// WithSubjectStrategy sets the subject name strategy. Default: [TopicName].
func WithSubjectStrategy(s SubjectNameStrategy) Option {
	return func(c *config) { c.strategy = s }
}

// AutoRegister sets whether Serialize registers the serde's schema under its
// subject (true) or only looks up the id of an identical schema already
// registered there (false, failing with [ErrSchemaNotRegistered]). Default:
// true, as Confluent's auto.register.schemas.
func AutoRegister(register bool) Option {
	return func(c *config) { c.autoRegister = register }
}

// UseLatestVersion makes Serialize write with the latest schema registered
// under the subject instead of the serde's own schema, and never register.
// The value must be encodable with that schema (fields are matched by
// name). The latest version is fetched once per subject and then cached for
// the serde's lifetime. Default: off (Confluent's use.latest.version).
// Deserialize is unaffected: it always reads into the serde's schema.
func UseLatestVersion() Option { return func(c *config) { c.useLatest = true } }

// UseSchemaID makes Serialize write with the registry schema of the given
// id, for every topic, and never register. Default: off (Confluent's
// use.schema.id). Deserialize is unaffected.
func UseSchemaID(id int) Option {
	return func(c *config) { c.schemaID, c.hasSchemaID = id, true }
}

// New returns a serde for Go values of type T — usually a struct whose
// fields carry `avro:"name"` tags — with schema (Avro schema JSON, the
// content of an .avsc file) as the schema values are written with and read
// into. The serde is safe for concurrent use; share one per type and role.
//
// New parses the schema but makes no registry call: the first Serialize for
// a topic and the first Deserialize of a writer schema id do.
func New[T any](client *schemaregistry.Client, schema string, opts ...Option) (serde.Serde[T], error) {
	return newSerde[T](client, schema, opts)
}

// NewGeneric returns a serde for generic values: a record is a
// map[string]any from field name to value, with hamba/avro's Go
// representation of each Avro type (int as int, long as int64, float as
// float32, double as float64, bytes as []byte, enum as string, array as
// []any, map as map[string]any, a union with null as the value or nil, other
// unions as map[string]any{"branch name": value}). Otherwise as [New].
func NewGeneric(client *schemaregistry.Client, schema string, opts ...Option) (serde.Serde[map[string]any], error) {
	return newSerde[map[string]any](client, schema, opts)
}

// Decoding limits. validateBody already bounds every length and count by
// the data, except for items that take no bytes (nulls, empty records):
// maxCollectionLength bounds those per record. The hamba/avro limits are a
// second line of defence; its default of 1 MiB per string or bytes value is
// below the record sizes Kafka can be configured for.
const (
	maxCollectionLength = 1 << 20
	maxBytesLength      = 64 << 20
)

// maxPooledBuffer is the largest encoding buffer kept for reuse: one huge
// record should not pin its buffer for the process lifetime.
const maxPooledBuffer = 1 << 20

func newSerde[T any](client *schemaregistry.Client, schema string, opts []Option) (*avroSerde[T], error) {
	cfg := config{autoRegister: true}
	for _, opt := range opts {
		opt(&cfg)
	}
	if client == nil {
		return nil, errors.New("avro: nil schema registry client")
	}
	switch cfg.strategy {
	case TopicName, RecordName, TopicRecordName:
	default:
		return nil, fmt.Errorf("avro: unknown subject name strategy %d", int(cfg.strategy))
	}
	if cfg.useLatest && cfg.hasSchemaID {
		return nil, errors.New("avro: UseLatestVersion and UseSchemaID exclude each other")
	}
	if cfg.hasSchemaID && cfg.schemaID < 0 {
		return nil, fmt.Errorf("avro: UseSchemaID(%d): schema ids are not negative", cfg.schemaID)
	}
	// Register the schema as written, minus insignificant whitespace: its
	// canonical form (hamba's String) would drop defaults and aliases.
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(schema)); err != nil {
		return nil, fmt.Errorf("%w: schema is not JSON: %v", ErrInvalidSchema, err)
	}
	parsed, err := havro.ParseWithCache(compact.String(), "", &havro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	fullName := ""
	if named, ok := parsed.(havro.NamedSchema); ok {
		fullName = named.FullName()
	}
	if fullName == "" && (cfg.strategy == RecordName || cfg.strategy == TopicRecordName) {
		return nil, fmt.Errorf("avro: subject strategy %v needs a named schema (record, enum or fixed), got %s", cfg.strategy, parsed.Type())
	}
	s := &avroSerde[T]{
		cfg:          cfg,
		client:       client,
		registryURL:  client.URL(),
		schemaText:   compact.String(),
		readerSchema: parsed,
		fullName:     fullName,
		api: havro.Config{
			// Byte-for-byte like Java's BinaryEncoder (which Confluent's
			// serializer uses): each array and map is one block with a
			// positive item count and no byte size. hamba/avro's defaults
			// split every 100 items and write negative counts with sizes,
			// valid Avro but different bytes.
			BlockLength:            math.MaxInt32,
			DisableBlockSizeHeader: true,
			MaxByteSliceSize:       maxBytesLength,
			MaxSliceAllocSize:      maxCollectionLength,
		}.Freeze(),
		bySubject: map[string]*writerEntry{},
		ptrTyp:    reflect2.TypeOf((*T)(nil)),
	}
	s.typ = s.ptrTyp.(reflect2.PtrType).Elem()
	s.likePtr = s.typ.LikePtr()
	s.writers.Store(&map[string]*writerEntry{})
	s.readers.Store(&map[uint32]*readerEntry{})
	s.readerPool.New = func() any { return havro.NewReader(nil, 0, havro.WithReaderConfig(s.api)) }
	s.valuePool.New = func() any { return new(T) }
	s.writerPool.New = func() any { return havro.NewWriter(nil, 256, havro.WithWriterConfig(s.api)) }
	return s, nil
}

// avroSerde is the serde behind New and NewGeneric.
//
// Hot paths read immutable maps through atomic pointers and take no lock;
// misses take mu, ask the registry, and publish a copied map with the new
// entry. mu therefore also serializes registry calls, so a burst of records
// for a new topic or schema id makes one registry request, not one per task.
type avroSerde[T any] struct {
	cfg          config
	client       *schemaregistry.Client
	registryURL  string
	schemaText   string
	readerSchema havro.Schema
	fullName     string
	api          havro.API
	typ          reflect2.Type // T
	ptrTyp       reflect2.Type // *T
	likePtr      bool          // T is pointer-shaped (a map or pointer)

	writers atomic.Pointer[map[string]*writerEntry] // topic → writer schema
	readers atomic.Pointer[map[uint32]*readerEntry] // writer schema id → resolved schema

	mu        sync.Mutex
	bySubject map[string]*writerEntry // subject → writer schema; guarded by mu

	readerPool sync.Pool // *havro.Reader
	writerPool sync.Pool // *havro.Writer
	valuePool  sync.Pool // *T
}

type writerEntry struct {
	header  [schemaregistry.HeaderSize]byte
	id      int
	subject string
	enc     havro.ValEncoder // T with the writer schema
}

type readerEntry struct {
	dec    havro.ValDecoder // T with the reader schema resolved against the writer's
	writer havro.Schema     // for validateBody
	// nullable: the writer schema is ["null", X] (or [X, "null"]) and the
	// reader's is not a union, as when Kafka Connect's AvroConverter writes
	// an optional struct (Debezium's rows): per the Avro specification the
	// reader resolves against the branch each datum selects. dec reads X;
	// a datum of the null branch (index nullIndex) is T's zero value.
	nullable  bool
	nullIndex int64
}

// branch strips the union index of a nullable writer's body (see
// readerEntry.nullable) and reports whether the datum is null. The body
// was validated against the whole writer schema first.
func (r *readerEntry) branch(body []byte) ([]byte, bool) {
	if !r.nullable {
		return body, false
	}
	index, n := binary.Varint(body)
	return body[n:], index == r.nullIndex
}

// Serialize encodes value in the wire format with the subject's schema id.
func (s *avroSerde[T]) Serialize(topic string, value T) ([]byte, error) {
	w, ok := (*s.writers.Load())[topic]
	if !ok {
		var err error
		if w, err = s.writerFor(topic); err != nil {
			return nil, err
		}
	}
	// Encoders take the value by address; a pooled holder keeps the value
	// from escaping to the heap on every call.
	holder := s.valuePool.Get().(*T)
	*holder = value
	out, err := s.encode(w, holder)
	var zero T
	*holder = zero // do not keep the caller's data reachable from the pool
	s.valuePool.Put(holder)
	if err != nil {
		detail := fmt.Sprintf("cannot encode %s with schema id %d", s.typ, w.id)
		if w.subject != "" {
			detail += fmt.Sprintf(" of subject %q", w.subject)
		}
		return nil, &Error{Kind: ErrEncode, Op: "serialize", Topic: topic, Subject: w.subject, SchemaID: w.id, Err: err, detail: detail}
	}
	return out, nil
}

func (s *avroSerde[T]) encode(w *writerEntry, value *T) (out []byte, err error) {
	enc := s.writerPool.Get().(*havro.Writer)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("encoder panicked: %v", p)
			return // a panicking writer is not reused
		}
		if cap(enc.Buffer()) <= maxPooledBuffer {
			s.writerPool.Put(enc)
		}
	}()
	enc.Reset(nil)
	enc.Error = nil
	_, _ = enc.Write(w.header[:])
	// hamba/avro's encoders take pointer-shaped values (maps, pointers) by
	// value and everything else by address, as its WriteVal does.
	ptr := unsafe.Pointer(value)
	if s.likePtr {
		ptr = *(*unsafe.Pointer)(ptr)
	}
	w.enc.Encode(ptr, enc)
	if enc.Error != nil {
		return nil, enc.Error
	}
	out = make([]byte, enc.Buffered())
	copy(out, enc.Buffer())
	return out, nil
}

// Deserialize decodes a wire-format record into the serde's schema. It does
// not retain data.
func (s *avroSerde[T]) Deserialize(topic string, data []byte) (T, error) {
	var value T
	id, body, err := schemaregistry.ParseHeader(data)
	if err != nil {
		return value, &Error{Kind: ErrWireFormat, Op: "deserialize", Topic: topic, SchemaID: -1, detail: err.Error()}
	}
	r, ok := (*s.readers.Load())[id]
	if !ok {
		if r, err = s.readerFor(topic, id); err != nil {
			return value, err
		}
	}
	if err := validateBody(r.writer, body); err != nil {
		return value, &Error{Kind: ErrCorrupt, Op: "deserialize", Topic: topic, SchemaID: int(id), Err: err,
			detail: fmt.Sprintf("record body (%d bytes after the header) does not decode with writer schema id %d", len(body), id)}
	}
	body, null := r.branch(body)
	if null {
		return value, nil
	}
	holder := s.valuePool.Get().(*T)
	err = s.decode(r.dec, body, holder)
	value = *holder
	var zero T
	*holder = zero
	s.valuePool.Put(holder)
	if err != nil {
		if strings.Contains(err.Error(), " is unsupported") {
			// hamba/avro builds decoders lazily and reports a Go type that
			// cannot hold the resolved schema only when decoding.
			return zero, &Error{Kind: ErrIncompatibleSchema, Op: "deserialize", Topic: topic, SchemaID: int(id), Err: err,
				detail: fmt.Sprintf("%s cannot hold data of writer schema id %d", s.typ, id)}
		}
		return zero, &Error{Kind: ErrCorrupt, Op: "deserialize", Topic: topic, SchemaID: int(id), Err: err,
			detail: fmt.Sprintf("record body (%d bytes after the header) does not decode with writer schema id %d", len(body), id)}
	}
	return value, nil
}

func (s *avroSerde[T]) decode(valDec havro.ValDecoder, body []byte, value *T) (err error) {
	dec := s.readerPool.Get().(*havro.Reader)
	defer func() {
		// hamba/avro panics on a few malformed inputs; a bad record must
		// never take the process down.
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panicked: %v", p)
			return // a panicking reader is not reused
		}
		dec.Reset(nil) // do not keep data reachable from the pool
		dec.Error = nil
		s.readerPool.Put(dec)
	}()
	dec.Reset(body)
	dec.Error = nil
	valDec.Decode(unsafe.Pointer(value), dec)
	if dec.Error != nil {
		return dec.Error
	}
	// Peek at the end of the buffer sets Error to io.EOF; anything else means
	// bytes are left over after the value.
	dec.Peek()
	if dec.Error == nil {
		return errors.New("bytes left over after the value")
	}
	return nil
}

// subject returns the registry subject for topic under the serde's strategy.
func (s *avroSerde[T]) subject(topic string) string {
	switch s.cfg.strategy {
	case RecordName:
		return s.fullName
	case TopicRecordName:
		return topic + "-" + s.fullName
	}
	if s.cfg.key {
		return topic + "-key"
	}
	return topic + "-value"
}

// writerFor is the slow path of Serialize: find (registering if allowed)
// the writer schema for topic, then publish it.
func (s *avroSerde[T]) writerFor(topic string) (*writerEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := (*s.writers.Load())[topic]; ok {
		return w, nil
	}
	subject := s.subject(topic)
	if s.cfg.hasSchemaID {
		subject = "" // the id decides; no subject is consulted
	}
	w, ok := s.bySubject[subject]
	if !ok {
		var err error
		if w, err = s.resolveWriter(topic, subject); err != nil {
			return nil, err
		}
		s.bySubject[subject] = w
	}
	old := *s.writers.Load()
	next := make(map[string]*writerEntry, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[topic] = w
	s.writers.Store(&next)
	return w, nil
}

func (s *avroSerde[T]) resolveWriter(topic, subject string) (*writerEntry, error) {
	fail := func(kind error, id int, err error, format string, args ...any) error {
		return &Error{Kind: kind, Op: "serialize", Topic: topic, Subject: subject, SchemaID: id, Err: err, detail: fmt.Sprintf(format, args...)}
	}
	registryFail := func(notFound error, err error, what string) error {
		switch schemaregistry.Classify(err) {
		case schemaregistry.ErrNotFound:
			return fail(notFound, -1, err, "%s: not found in registry %s", what, s.registryURL)
		case schemaregistry.ErrUnavailable:
			return fail(ErrRegistryUnavailable, -1, err, "%s: registry %s unavailable (will retry on the next record)", what, s.registryURL)
		default:
			return fail(ErrRegistryRejected, -1, err, "%s: rejected by registry %s", what, s.registryURL)
		}
	}
	ctx := context.Background() // the client's timeout bounds each request
	var (
		got    sr.SubjectSchema
		err    error
		schema = s.readerSchema
	)
	switch {
	case s.cfg.hasSchemaID:
		got, err = s.client.SchemaByID(ctx, s.cfg.schemaID)
		if err != nil {
			return nil, registryFail(ErrUnknownSchemaID, err, fmt.Sprintf("fetch schema id %d", s.cfg.schemaID))
		}
	case s.cfg.useLatest:
		got, err = s.client.SchemaByVersion(ctx, subject, -1)
		if err != nil {
			return nil, registryFail(ErrSchemaNotRegistered, err, fmt.Sprintf("fetch latest schema of subject %q", subject))
		}
	case s.cfg.autoRegister:
		got.ID, err = s.client.Register(ctx, subject, sr.Schema{Schema: s.schemaText})
		if err != nil {
			return nil, registryFail(ErrSchemaNotRegistered, err, fmt.Sprintf("register schema under subject %q", subject))
		}
	default:
		got, err = s.client.Lookup(ctx, subject, sr.Schema{Schema: s.schemaText})
		if err != nil {
			return nil, registryFail(ErrSchemaNotRegistered, err, fmt.Sprintf("look up schema under subject %q (auto-register is off: register it first)", subject))
		}
	}
	id := got.ID
	if !schemaregistry.FitsHeader(id) {
		return nil, fail(ErrRegistryRejected, id, nil, "registry %s returned schema id %d, which does not fit the wire format", s.registryURL, id)
	}
	if s.cfg.hasSchemaID || s.cfg.useLatest {
		schema, err = parseRegistrySchema(ctx, s.client, got.Schema)
		if err != nil {
			if isReferenceError(err) {
				return nil, registryFail(ErrInvalidSchema, err, fmt.Sprintf("resolve references of schema id %d", id))
			}
			return nil, fail(ErrInvalidSchema, id, err, "schema id %d from registry %s", id, s.registryURL)
		}
	}
	w := &writerEntry{id: id, subject: subject, enc: s.api.EncoderOf(schema, s.typ)}
	schemaregistry.AppendHeader(w.header[:0], uint32(id))
	return w, nil
}

// readerFor is the slow path of Deserialize: fetch the writer schema by id,
// resolve the serde's schema against it, and publish the result.
func (s *avroSerde[T]) readerFor(topic string, id uint32) (*readerEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := (*s.readers.Load())[id]; ok {
		return r, nil
	}
	fail := func(kind error, err error, format string, args ...any) error {
		return &Error{Kind: kind, Op: "deserialize", Topic: topic, SchemaID: int(id), Err: err, detail: fmt.Sprintf(format, args...)}
	}
	ctx := context.Background() // the client's timeout bounds each request
	got, err := s.client.SchemaByID(ctx, int(id))
	if err != nil {
		switch schemaregistry.Classify(err) {
		case schemaregistry.ErrNotFound:
			return nil, fail(ErrUnknownSchemaID, err, "schema id %d not found in registry %s (record not written with this registry?)", id, s.registryURL)
		case schemaregistry.ErrUnavailable:
			return nil, fail(ErrRegistryUnavailable, err, "fetch schema id %d: registry %s unavailable (will retry on the next record)", id, s.registryURL)
		default:
			return nil, fail(ErrRegistryRejected, err, "fetch schema id %d: rejected by registry %s", id, s.registryURL)
		}
	}
	writer, err := parseRegistrySchema(ctx, s.client, got.Schema)
	if err != nil {
		if isReferenceError(err) && schemaregistry.Classify(err) == schemaregistry.ErrUnavailable {
			return nil, fail(ErrRegistryUnavailable, err, "schema id %d: registry %s unavailable while resolving references", id, s.registryURL)
		}
		return nil, fail(ErrInvalidSchema, err, "schema id %d from registry %s", id, s.registryURL)
	}
	r := &readerEntry{writer: writer}
	against := writer
	if branch, nullIndex, ok := nullableBranch(writer, s.readerSchema); ok {
		against, r.nullable, r.nullIndex = branch, true, nullIndex
	}
	resolved := s.readerSchema
	if against.Fingerprint() != s.readerSchema.Fingerprint() {
		resolved, err = havro.NewSchemaCompatibility().Resolve(s.readerSchema, against)
		if err != nil {
			return nil, fail(ErrIncompatibleSchema, err, "writer schema id %d cannot be read as the serde's schema %s", id, describe(s.readerSchema))
		}
	}
	r.dec = s.api.DecoderOf(resolved, s.ptrTyp)
	old := *s.readers.Load()
	next := make(map[uint32]*readerEntry, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[id] = r
	s.readers.Store(&next)
	return r, nil
}

// nullableBranch reports whether writer is a two-branch union of null and
// another schema while reader is not a union, and returns that other
// branch and the null branch's index.
func nullableBranch(writer, reader havro.Schema) (havro.Schema, int64, bool) {
	u, ok := writer.(*havro.UnionSchema)
	if !ok || reader.Type() == havro.Union || reader.Type() == havro.Null || len(u.Types()) != 2 {
		return nil, 0, false
	}
	types := u.Types()
	switch {
	case types[0].Type() == havro.Null && types[1].Type() != havro.Null:
		return types[1], 0, true
	case types[1].Type() == havro.Null && types[0].Type() != havro.Null:
		return types[0], 1, true
	}
	return nil, 0, false
}

func describe(schema havro.Schema) string {
	if named, ok := schema.(havro.NamedSchema); ok {
		return named.FullName()
	}
	return string(schema.Type())
}

// Compile-time check that the serde implements the contract.
var _ serde.Serde[map[string]any] = (*avroSerde[map[string]any])(nil)
