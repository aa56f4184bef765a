package avro

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unsafe"

	havro "github.com/hamba/avro/v2"
	"github.com/modern-go/reflect2"

	"github.com/sluicehq/sluice/serde"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// NewReflect returns a serde for values of a Go type known only at run time:
// typ is usually a struct type built with reflect.StructOf whose fields
// carry `avro:"name"` tags (package serde/dynamic builds such types from
// schemas). Values are pointers to typ held in an any: Serialize takes a
// non-nil *typ (anything else fails with [ErrEncode]) and Deserialize
// returns a newly allocated *typ. Encoding and decoding run at the speed of
// [New] with a static type; otherwise it behaves as [New] (same options,
// wire format, registry use and errors).
func NewReflect(client *schemaregistry.Client, schema string, typ reflect.Type, opts ...Option) (serde.Serde[any], error) {
	if typ == nil {
		return nil, errors.New("avro: NewReflect: nil type")
	}
	inner, err := newSerde[any](client, schema, opts)
	if err != nil {
		return nil, err
	}
	// The registry, caching and resolution machinery of avroSerde only
	// uses typ and ptrTyp to build hamba/avro codecs; the hot paths below
	// replace the ones that go through a *T holder.
	inner.typ = reflect2.Type2(typ)
	inner.ptrTyp = reflect2.Type2(reflect.PointerTo(typ))
	inner.likePtr = inner.typ.LikePtr()
	return &reflectSerde{inner: inner, typ: typ, ptrTyp: reflect.PointerTo(typ)}, nil
}

// reflectSerde is the serde behind NewReflect.
type reflectSerde struct {
	inner  *avroSerde[any]
	typ    reflect.Type
	ptrTyp reflect.Type
}

// Serialize encodes value, a *typ, in the wire format.
func (s *reflectSerde) Serialize(topic string, value any) ([]byte, error) {
	w, ok := (*s.inner.writers.Load())[topic]
	if !ok {
		var err error
		if w, err = s.inner.writerFor(topic); err != nil {
			return nil, err
		}
	}
	fail := func(err error, detail string) error {
		return &Error{Kind: ErrEncode, Op: "serialize", Topic: topic, Subject: w.subject, SchemaID: w.id, Err: err, detail: detail}
	}
	if reflect.TypeOf(value) != s.ptrTyp {
		return nil, fail(nil, fmt.Sprintf("cannot encode a %T: the serde's values are %s", value, s.ptrTyp))
	}
	ptr := reflect2.PtrOf(value)
	if ptr == nil {
		return nil, fail(nil, fmt.Sprintf("cannot encode a nil %s (write a null record with the record's null-value flag instead)", s.ptrTyp))
	}
	out, err := s.encode(w, ptr)
	if err != nil {
		detail := fmt.Sprintf("cannot encode %s with schema id %d", s.typ, w.id)
		if w.subject != "" {
			detail += fmt.Sprintf(" of subject %q", w.subject)
		}
		return nil, fail(err, detail)
	}
	return out, nil
}

func (s *reflectSerde) encode(w *writerEntry, ptr unsafe.Pointer) (out []byte, err error) {
	enc := s.inner.writerPool.Get().(*havro.Writer)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("encoder panicked: %v", p)
			return // a panicking writer is not reused
		}
		if cap(enc.Buffer()) <= maxPooledBuffer {
			s.inner.writerPool.Put(enc)
		}
	}()
	enc.Reset(nil)
	enc.Error = nil
	_, _ = enc.Write(w.header[:])
	if s.inner.likePtr {
		// Pointer-shaped types (a struct whose only field is a pointer)
		// are encoded by value, as in avroSerde.encode.
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

// Deserialize decodes a wire-format record into a new *typ. It does not
// retain data.
func (s *reflectSerde) Deserialize(topic string, data []byte) (any, error) {
	return s.deserialize(topic, data, nil)
}

// DeserializeInto is Deserialize decoding into dst, a *typ that the caller
// owns and no longer reads, instead of a newly allocated one (a record
// recycled once its pipeline is done with it saves an allocation and its
// garbage collection). dst is zeroed first, so nested records, lists and
// maps are allocated anew as by Deserialize: values that earlier contents
// shared are never written. It returns dst, or nil for a null value; a dst
// of another type is ignored (Deserialize's behavior). Callers find this
// method by type assertion on NewReflect's serde.
func (s *reflectSerde) DeserializeInto(topic string, data []byte, dst any) (any, error) {
	if reflect.TypeOf(dst) != s.ptrTyp || reflect2.PtrOf(dst) == nil {
		return s.deserialize(topic, data, nil)
	}
	return s.deserialize(topic, data, dst)
}

func (s *reflectSerde) deserialize(topic string, data []byte, dst any) (any, error) {
	id, body, err := schemaregistry.ParseHeader(data)
	if err != nil {
		return nil, &Error{Kind: ErrWireFormat, Op: "deserialize", Topic: topic, SchemaID: -1, detail: err.Error()}
	}
	r, ok := (*s.inner.readers.Load())[id]
	if !ok {
		if r, err = s.inner.readerFor(topic, id); err != nil {
			return nil, err
		}
	}
	if err := validateBody(r.writer, body); err != nil {
		return nil, &Error{Kind: ErrCorrupt, Op: "deserialize", Topic: topic, SchemaID: int(id), Err: err,
			detail: fmt.Sprintf("record body (%d bytes after the header) does not decode with writer schema id %d", len(body), id)}
	}
	body, null := r.branch(body)
	if null {
		return nil, nil
	}
	var ptr unsafe.Pointer
	if dst != nil {
		// Zeroed, not decoded over: hamba/avro decodes into the existing
		// targets of pointers and into existing maps (keeping their other
		// keys), which would change values the previous record shared.
		reflect.ValueOf(dst).Elem().SetZero()
		ptr = reflect2.PtrOf(dst)
	} else {
		// reflect2 allocates without reflect.New's look-up of the pointer
		// type (a sync.Map load for a struct type built at run time, which
		// has no cached pointer type: 40% of reflect.New's cost here).
		ptr = s.inner.typ.UnsafeNew()
	}
	if err := s.decode(r.dec, body, ptr); err != nil {
		if strings.Contains(err.Error(), " is unsupported") {
			return nil, &Error{Kind: ErrIncompatibleSchema, Op: "deserialize", Topic: topic, SchemaID: int(id), Err: err,
				detail: fmt.Sprintf("%s cannot hold data of writer schema id %d", s.typ, id)}
		}
		return nil, &Error{Kind: ErrCorrupt, Op: "deserialize", Topic: topic, SchemaID: int(id), Err: err,
			detail: fmt.Sprintf("record body (%d bytes after the header) does not decode with writer schema id %d", len(body), id)}
	}
	if dst != nil {
		return dst, nil
	}
	return s.inner.typ.PackEFace(ptr), nil
}

func (s *reflectSerde) decode(valDec havro.ValDecoder, body []byte, ptr unsafe.Pointer) (err error) {
	dec := s.inner.readerPool.Get().(*havro.Reader)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panicked: %v", p)
			return // a panicking reader is not reused
		}
		dec.Reset(nil)
		dec.Error = nil
		s.inner.readerPool.Put(dec)
	}()
	dec.Reset(body)
	dec.Error = nil
	valDec.Decode(ptr, dec)
	if dec.Error != nil {
		return dec.Error
	}
	dec.Peek()
	if dec.Error == nil {
		return errors.New("bytes left over after the value")
	}
	return nil
}

var _ serde.Serde[any] = (*reflectSerde)(nil)
