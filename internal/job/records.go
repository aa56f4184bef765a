package job

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/modern-go/reflect2"

	"github.com/sluicehq/sluice/serde"
	avroserde "github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/dynamic"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

type avroClient = *schemaregistry.Client

// recordType is a record type of a job: a serde/dynamic Type (a Go struct
// type generated from an Avro schema) with field setters and getters
// compiled once.
type recordType struct {
	name   string
	dyn    *dynamic.Type
	goType reflect.Type // the values' type: a pointer to the struct
	fields []recordField
	client avroClient // for Avro serdes; nil while linting
	// alloc is the struct type, for clone; ptrWord the type word of the
	// values (see typeWord).
	alloc   reflect2.Type
	ptrWord unsafe.Pointer

	mu     sync.Mutex
	serdes map[string]serde.Serde[any]
}

// recordField is a field of an inferred record.
type recordField struct {
	name     string
	rt       reflect.Type // Go type of the field's values (as expressions see them)
	optional bool
	pos      Pos
}

// recordOf returns the record type whose values have Go type rt, if rt is
// one of this compilation's records.
func (c *compiler) recordOf(rt reflect.Type) *recordType {
	if c.records == nil {
		return nil
	}
	return c.records[rt]
}

func (c *compiler) register(r *recordType) *recordType {
	if c.records == nil {
		c.records = map[reflect.Type]*recordType{}
	}
	if prev, ok := c.records[r.goType]; ok {
		return prev
	}
	c.records[r.goType] = r
	return r
}

func (c *compiler) newRecordType(schema string) (*recordType, error) {
	t, err := dynamic.FromAvro(schema)
	if err != nil {
		return nil, err
	}
	r := &recordType{name: t.Name(), dyn: t, goType: reflect.PointerTo(t.Reflect()), client: c.client, serdes: map[string]serde.Serde[any]{},
		alloc: reflect2.Type2(t.Reflect()), ptrWord: typeWord(t.New())}
	st := t.Reflect()
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		r.fields = append(r.fields, recordField{name: f.Tag.Get("avro"), rt: f.Type, optional: f.Type.Kind() == reflect.Pointer})
	}
	return c.register(r), nil
}

// recordFor resolves the record type of a declared serde: an .avsc file,
// a registry subject, or the schema a source of the job declares for the
// topic.
func (c *compiler) recordFor(d SerdeDecl, topic string, isKey bool) (*recordType, error) {
	if d.Schema != "" {
		data, err := os.ReadFile(d.Schema)
		if err != nil {
			return nil, fmt.Errorf("schema file: %w", err)
		}
		r, err := c.newRecordType(string(data))
		if err != nil {
			return nil, fmt.Errorf("schema file %s: %w", d.Schema, err)
		}
		return r, nil
	}
	if schema := c.declaredSchema(topic, isKey); schema != "" {
		return c.newRecordType(schema)
	}
	subject := d.Subject
	if subject == "" {
		subject = topic + "-value"
		if isKey {
			subject = topic + "-key"
		}
	}
	if c.client == nil {
		return nil, fmt.Errorf("the type of %s is the registry's latest schema of subject %q, unknown while linting: give `schema: FILE.avsc`, or let a source of this job declare it", describeRole(topic, isKey), subject)
	}
	s, err := c.client.SchemaByVersion(context.Background(), subject, -1)
	if err != nil {
		return nil, fmt.Errorf("the registry has no schema for subject %q (%v): give `schema: FILE.avsc`, or start the producer of topic %q first", subject, err, topic)
	}
	return c.newRecordType(s.Schema.Schema)
}

func describeRole(topic string, isKey bool) string {
	if isKey {
		return fmt.Sprintf("topic %q's keys", topic)
	}
	return fmt.Sprintf("topic %q's values", topic)
}

// inferRecord builds a record type for fields computed by expressions:
// an Avro record schema named name, each field typed by its Go type,
// nullable where marked.
func (c *compiler) inferRecord(name string, fields []recordField) (*recordType, error) {
	var fs []map[string]any
	for _, f := range fields {
		at, err := c.avroTypeOf(f.rt)
		if err != nil {
			return nil, fmt.Errorf("field %q: %v", f.name, err)
		}
		field := map[string]any{"name": f.name, "type": at}
		if f.optional || f.rt.Kind() == reflect.Pointer {
			if f.rt.Kind() != reflect.Pointer || c.recordOf(f.rt) != nil {
				field["type"] = []any{"null", at}
			}
			field["default"] = nil
		}
		fs = append(fs, field)
	}
	ns, short := splitName(name)
	schema, err := json.Marshal(map[string]any{"type": "record", "name": short, "namespace": ns, "fields": fs})
	if err != nil {
		return nil, err
	}
	r, err := c.newRecordType(string(schema))
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", name, err)
	}
	for i := range r.fields {
		r.fields[i].pos = fields[i].pos
	}
	return r, nil
}

func splitName(full string) (string, string) {
	for i := len(full) - 1; i >= 0; i-- {
		if full[i] == '.' {
			return full[:i], full[i+1:]
		}
	}
	return "", full
}

// avroTypeOf is the Avro type of a field's Go type.
func (c *compiler) avroTypeOf(rt reflect.Type) (any, error) {
	if r := c.recordOf(rt); r != nil {
		var s any
		if err := json.Unmarshal([]byte(r.dyn.AvroSchema()), &s); err != nil {
			return nil, err
		}
		return s, nil
	}
	switch rt {
	case rtTime:
		return map[string]any{"type": "long", "logicalType": "timestamp-millis"}, nil
	}
	switch rt.Kind() {
	case reflect.Int64, reflect.Int:
		return "long", nil
	case reflect.Int32:
		return "int", nil
	case reflect.Float64:
		return "double", nil
	case reflect.Float32:
		return "float", nil
	case reflect.String:
		return "string", nil
	case reflect.Bool:
		return "boolean", nil
	case reflect.Pointer:
		inner, err := c.avroTypeOf(rt.Elem())
		if err != nil {
			return nil, err
		}
		return []any{"null", inner}, nil
	case reflect.Slice:
		if rt.Elem().Kind() == reflect.Uint8 {
			return "bytes", nil
		}
		e, err := c.avroTypeOf(rt.Elem())
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": e}, nil
	case reflect.Map:
		if rt.Key().Kind() == reflect.String && rt.Elem() != anyType {
			e, err := c.avroTypeOf(rt.Elem())
			if err != nil {
				return nil, err
			}
			return map[string]any{"type": "map", "values": e}, nil
		}
	}
	return nil, fmt.Errorf("a %s cannot be a field of a record written as Avro", rt)
}

func (r *recordType) new() any { return r.dyn.New() }

// index returns the position of the named field, or -1.
func (r *recordType) index(name string) int {
	for i, f := range r.fields {
		if f.name == name {
			return i
		}
	}
	return -1
}

// get returns field i of rec (nil for a null optional field).
func (r *recordType) get(rec any, i int) any {
	f := reflect.ValueOf(rec).Elem().Field(i)
	if f.Kind() == reflect.Pointer {
		if f.IsNil() {
			return nil
		}
		if r.fields[i].rt.Elem().Kind() != reflect.Struct {
			return f.Elem().Interface()
		}
	}
	return f.Interface()
}

// set sets field i of rec, converting numbers and wrapping optional
// values.
func (r *recordType) set(rec any, i int, v any) error {
	f := reflect.ValueOf(rec).Elem().Field(i)
	ft := f.Type()
	if v != nil && reflect.TypeOf(v) == ft { // the usual case: no conversion
		f.Set(reflect.ValueOf(v))
		return nil
	}
	if v == nil {
		f.Set(reflect.Zero(ft))
		return nil
	}
	if t, ok := v.(time.Time); ok && ft == reflect.PointerTo(rtTime) {
		f.Set(reflect.ValueOf(&t))
		return nil
	}
	target := ft
	if ft.Kind() == reflect.Pointer && reflect.TypeOf(v) != ft {
		target = ft.Elem()
	}
	cv, err := convertTo(v, target)
	if err != nil {
		return err
	}
	val := reflect.ValueOf(cv)
	if target != ft {
		p := reflect.New(target)
		p.Elem().Set(val)
		val = p
	}
	f.Set(val)
	return nil
}

func (r *recordType) mustSet(rec any, i int, v any) {
	if err := r.set(rec, i, v); err != nil {
		panic(exprPanic{fmt.Errorf("record %s field %q: %w", r.name, r.fields[i].name, err)})
	}
}

// clone copies a record (aggregators never change the aggregate they were
// given: the store may still hold it).
func (r *recordType) clone(rec any) any {
	if typeWord(rec) != r.ptrWord || dataWord(&rec) == nil {
		out := reflect.New(reflect.TypeOf(rec).Elem())
		out.Elem().Set(reflect.ValueOf(rec).Elem())
		return out.Interface()
	}
	// reflect2 copies without reflect.New's look-up of the pointer type
	// (a sync.Map load for the struct types built at run time).
	out := r.alloc.UnsafeNew()
	r.alloc.UnsafeSet(out, dataWord(&rec))
	return r.alloc.PackEFace(out)
}

// serde returns the record's serde in a format (avro or json).
func (r *recordType) serde(format string, isKey bool) (serde.Serde[any], error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cacheKey := format
	if isKey {
		cacheKey += "/key"
	}
	if s, ok := r.serdes[cacheKey]; ok {
		return s, nil
	}
	var s serde.Serde[any]
	var err error
	switch format {
	case "json":
		s = dynamic.JSONSerde(r.dyn)
	case "avro":
		if r.client == nil {
			s = dynamic.JSONSerde(r.dyn) // linting: no registry, only types matter
		} else {
			var opts []avroserde.Option
			if isKey {
				opts = append(opts, avroserde.Key())
			}
			s, err = dynamic.AvroSerde(r.client, r.dyn, opts...)
		}
	default:
		err = fmt.Errorf("a record cannot be written as %s (want avro or json)", format)
	}
	if err != nil {
		return nil, err
	}
	r.serdes[cacheKey] = s
	return s, nil
}

// recordBuilder sets the fields of a record from expressions over the
// same variables (a projection's fields, an aggregate's add). Fields
// whose expressions compiled to closures (exprfast.go) are stored
// straight into the record's memory when the closures produce the
// field's own type, and set by recordType.set otherwise; the others are
// evaluated on the VM.
type recordBuilder struct {
	rt    *recordType
	progs []*program // by field; nil: the field is left as it is
	envs  *envPool   // for the fields evaluated on the VM
	// stores evaluate and store the fields of closures, nil for others.
	// They panic with fastBail where the VM must evaluate the field.
	stores []func(rec any, ptr unsafe.Pointer, a fastArgs)
	// checks check the variables the closures read, as fastExpr.checks.
	checks  []argCheck
	anyFast bool
	nvars   int
}

func newRecordBuilder(rt *recordType, progs []*program, vars []variable) *recordBuilder {
	b := &recordBuilder{rt: rt, progs: progs, envs: newEnvPool(envType(vars)), stores: make([]func(any, unsafe.Pointer, fastArgs), len(progs)), nvars: len(vars)}
	st := rt.goType.Elem()
	for i, p := range progs {
		if p == nil || p.fast == nil {
			continue
		}
		for _, c := range p.fast.checks {
			if !slices.Contains(b.checks, c) {
				b.checks = append(b.checks, c)
			}
		}
		b.anyFast = true
		n := p.fast.root
		f := st.Field(i)
		off := f.Offset
		if d := n.field; d != nil && n.typ == f.Type {
			// A field of an input record of the field's own type (a
			// projection of value.x): copied without evaluating a closure.
			switch f.Type {
			case rtInt64:
				b.stores[i] = func(_ any, rec unsafe.Pointer, a fastArgs) {
					*(*int64)(unsafe.Add(rec, off)) = *(*int64)(d.addr(&a))
				}
			case rtFloat64:
				b.stores[i] = func(_ any, rec unsafe.Pointer, a fastArgs) {
					*(*float64)(unsafe.Add(rec, off)) = *(*float64)(d.addr(&a))
				}
			case rtString:
				b.stores[i] = func(_ any, rec unsafe.Pointer, a fastArgs) {
					*(*string)(unsafe.Add(rec, off)) = *(*string)(d.addr(&a))
				}
			case rtBool:
				b.stores[i] = func(_ any, rec unsafe.Pointer, a fastArgs) {
					*(*bool)(unsafe.Add(rec, off)) = *(*bool)(d.addr(&a))
				}
			}
			if b.stores[i] != nil {
				continue
			}
		}
		switch {
		case f.Type == rtInt64 && n.kind == fastInt:
			b.stores[i] = func(_ any, rec unsafe.Pointer, a fastArgs) { *(*int64)(unsafe.Add(rec, off)) = n.i(a) }
		case f.Type == rtFloat64 && n.kind == fastFloat:
			b.stores[i] = func(_ any, rec unsafe.Pointer, a fastArgs) { *(*float64)(unsafe.Add(rec, off)) = n.f(a) }
		case f.Type == rtString && n.kind == fastString:
			b.stores[i] = func(_ any, rec unsafe.Pointer, a fastArgs) { *(*string)(unsafe.Add(rec, off)) = n.s(a) }
		case f.Type == rtBool && n.kind == fastBool:
			b.stores[i] = func(_ any, rec unsafe.Pointer, a fastArgs) { *(*bool)(unsafe.Add(rec, off)) = n.b(a) }
		default:
			// Another type: boxed as the VM boxes it, converted by set.
			idx := i
			b.stores[i] = func(rec any, _ unsafe.Pointer, a fastArgs) { b.set(rec, idx, n.box(a)) }
		}
	}
	return b
}

// set sets field i to a value of its expression, as with the VM's result.
func (b *recordBuilder) set(rec any, i int, v any) {
	if err := b.rt.set(rec, i, v); err != nil {
		panic(exprPanic{fmt.Errorf("%s: field %q: %w", b.progs[i].pos, b.rt.fields[i].name, err)})
	}
}

// build sets rec's fields from the expressions over the variables'
// values a. Errors panic as exprPanic: the DSL's functions return none.
func (b *recordBuilder) build(rec any, a fastArgs) {
	fast := b.anyFast && argsFit(b.checks, &a)
	var e *env
	for i := 0; i < len(b.progs); i++ {
		if fast {
			var bailed bool
			if i, bailed = b.buildFast(rec, a, i); i == len(b.progs) {
				break
			}
			// Once closures bail out, the VM evaluates the rest; the fields
			// before hold what it would have computed (expressions have no
			// side effects).
			fast = !bailed
		}
		p := b.progs[i]
		if p == nil {
			continue
		}
		if e == nil {
			e = b.envs.get(a[:b.nvars]...)
			defer e.put()
		}
		out, err := p.runEnv(e)
		if err != nil {
			panic(exprPanic{err})
		}
		b.set(rec, i, out)
	}
}

// buildFast sets the fields from the one at from on while they have
// closures. It returns the index of the first field left to the VM
// (len(progs) when none is), and whether that field's closures bailed
// out.
func (b *recordBuilder) buildFast(rec any, a fastArgs, from int) (next int, bailed bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fastBail); !ok {
				panic(r)
			}
			bailed = true // at field next
		}
	}()
	ptr := dataWord(&rec)
	for next = from; next < len(b.progs); next++ {
		switch {
		case b.progs[next] == nil:
		case b.stores[next] != nil:
			b.stores[next](rec, ptr, a)
		default:
			return next, false
		}
	}
	return next, false
}
