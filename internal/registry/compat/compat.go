// Package compat is Sluice's Avro schema compatibility checker: the seven
// Confluent compatibility levels and Check, which reports
// incompatibilities in the shape of Confluent's verbose messages. The
// embedded registry (internal/registry) checks registrations with it;
// `sluice schemas check --level` runs it locally (serde/registry's
// CheckCompatibility); internal/schematool makes its messages readable.
package compat

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// Level is a Confluent compatibility level.
type Level string

// The seven Confluent compatibility levels.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
)

// DefaultLevel is the global level until someone sets one (Confluent's default).
const DefaultLevel = Backward

// Schema is a schema to check: parsed (references resolved), with its
// text and subject version for the messages.
type Schema struct {
	// Text is the schema as registered, quoted in messages.
	Text string
	// Version is its subject version, 0 for a candidate not registered.
	Version int
	// Parsed is the parsed schema.
	Parsed avro.Schema
}

// ParseLevel accepts a level name in any case.
func ParseLevel(s string) (Level, bool) {
	l := Level(strings.ToUpper(strings.TrimSpace(s)))
	switch l {
	case None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive:
		return l, true
	}
	return "", false
}

func (l Level) transitive() bool { return strings.HasSuffix(string(l), "_TRANSITIVE") }

// backward: the new schema reads data written with the old ones.
func (l Level) backward() bool {
	return strings.HasPrefix(string(l), "BACKWARD") || strings.HasPrefix(string(l), "FULL")
}

// forward: the old schemas read data written with the new one.
func (l Level) forward() bool {
	return strings.HasPrefix(string(l), "FORWARD") || strings.HasPrefix(string(l), "FULL")
}

// Check reports why newSchema may not be registered after
// previous (oldest first) under level, as Confluent's verbose messages: one
// "{errorType:..., description:..., additionalInfo:...}" entry per
// incompatibility, then "{oldSchemaVersion: N}" (when known), "{oldSchema:
// '...'}" and "{validateFields: 'false', compatibility: 'LEVEL'}". An empty
// result means compatible.
//
// Non-transitive levels check only the latest previous schema; transitive
// levels check every previous schema, newest first, and stop at the first
// one that fails, as Confluent does.
func Check(level Level, newSchema Schema, previous []Schema) []string {
	if level == None || len(previous) == 0 {
		return nil
	}
	candidates := []Schema{previous[len(previous)-1]}
	if level.transitive() {
		candidates = slices.Clone(previous)
		slices.Reverse(candidates)
	}
	var msgs []string
	for _, old := range candidates {
		if level.forward() {
			// The old schema reads what the new one writes.
			got := describe(readerWriter(old.Parsed, newSchema.Parsed), "old", "new")
			if len(got) > 0 && !level.backward() {
				got = append(got, oldSchemaNotes(old)...)
			}
			msgs = append(msgs, got...)
		}
		if level.backward() {
			// The new schema reads what the old one wrote.
			got := describe(readerWriter(newSchema.Parsed, old.Parsed), "new", "old")
			if len(got) > 0 {
				got = append(got, oldSchemaNotes(old)...)
			}
			msgs = append(msgs, got...)
		}
		if len(msgs) > 0 {
			break
		}
	}
	if len(msgs) > 0 {
		msgs = append(msgs, fmt.Sprintf("{validateFields: 'false', compatibility: '%s'}", level))
	}
	return msgs
}

func oldSchemaNotes(old Schema) []string {
	var out []string
	if old.Version > 0 {
		out = append(out, fmt.Sprintf("{oldSchemaVersion: %d}", old.Version))
	}
	text := old.Text
	const maxLen = 10 * 1024
	if len(text) > maxLen {
		return append(out, "{oldSchema: <truncated> '"+text[:maxLen]+"...'}")
	}
	return append(out, "{oldSchema: '"+text+"'}")
}

// Incompatibility types, named as in Avro's SchemaCompatibility and in
// Confluent's messages.
const (
	nameMismatch              = "NAME_MISMATCH"
	fixedSizeMismatch         = "FIXED_SIZE_MISMATCH"
	missingEnumSymbols        = "MISSING_ENUM_SYMBOLS"
	readerFieldMissingDefault = "READER_FIELD_MISSING_DEFAULT_VALUE"
	typeMismatch              = "TYPE_MISMATCH"
	missingUnionBranch        = "MISSING_UNION_BRANCH"
)

type incompatibility struct {
	kind     string
	location string
	info     string
}

// describe renders incompatibilities the way Confluent's Difference class
// does, with "reader" and "writer" named by role ("new"/"old").
func describe(incs []incompatibility, reader, writer string) []string {
	out := make([]string, 0, len(incs))
	for _, inc := range incs {
		var d string
		switch inc.kind {
		case fixedSizeMismatch:
			d = fmt.Sprintf("The size of FIXED type field at path '%s' in the %s schema does not match with the %s schema", inc.location, reader, writer)
		case typeMismatch:
			d = fmt.Sprintf("The type (path '%s') of a field in the %s schema does not match with the %s schema", inc.location, reader, writer)
		case nameMismatch:
			d = fmt.Sprintf("The name of the schema has changed (path '%s')", inc.location)
		case missingEnumSymbols:
			d = fmt.Sprintf("The %s schema is missing enum symbols '%s' at path '%s' in the %s schema", reader, inc.info, inc.location, writer)
		case missingUnionBranch:
			d = fmt.Sprintf("The %s schema is missing a type inside a union field at path '%s' in the %s schema", reader, inc.location, writer)
		case readerFieldMissingDefault:
			d = fmt.Sprintf("The field '%s' at path '%s' in the %s schema has no default value and is missing in the %s schema", inc.info, inc.location, reader, writer)
		}
		out = append(out, fmt.Sprintf("{errorType:'%s', description:'%s', additionalInfo:'%s'}", inc.kind, d, inc.info))
	}
	return out
}

// readerWriter lists why data written with writer cannot be read with
// reader, following Avro's schema resolution rules as implemented by Avro
// Java's SchemaCompatibility (which Confluent uses): type promotion
// int→long→float→double and string↔bytes, record fields matched by name or
// by a reader field alias, missing reader fields need a default, named types
// matched by unqualified name or by a reader alias of the writer's full name,
// enum symbols missing from the reader are fine when the reader enum has a
// default, unions branch by branch. Logical types are not compared, as in
// Avro Java.
func readerWriter(reader, writer avro.Schema) []incompatibility {
	c := &checker{inProgress: map[[2]avro.Schema]bool{}}
	return c.check(reader, writer, nil)
}

type checker struct {
	// inProgress breaks recursion through recursive named types: a pair
	// already being checked is assumed compatible, as in Avro Java.
	inProgress map[[2]avro.Schema]bool
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func loc(path []string) string {
	return "/" + strings.Join(path, "/")
}

func with(path []string, elems ...string) []string {
	return append(slices.Clip(path), elems...)
}

func (c *checker) compatible(reader, writer avro.Schema, path []string) bool {
	return len(c.check(reader, writer, path)) == 0
}

func (c *checker) check(reader, writer avro.Schema, path []string) []incompatibility {
	reader, writer = deref(reader), deref(writer)
	key := [2]avro.Schema{reader, writer}
	if c.inProgress[key] {
		return nil
	}
	c.inProgress[key] = true
	defer delete(c.inProgress, key)

	rt, wt := reader.Type(), writer.Type()
	if rt == wt {
		switch rt {
		case avro.Array:
			return c.check(reader.(*avro.ArraySchema).Items(), writer.(*avro.ArraySchema).Items(), with(path, "items"))
		case avro.Map:
			return c.check(reader.(*avro.MapSchema).Values(), writer.(*avro.MapSchema).Values(), with(path, "values"))
		case avro.Fixed:
			r, w := reader.(*avro.FixedSchema), writer.(*avro.FixedSchema)
			var out []incompatibility
			if !namesMatch(r, w) {
				out = append(out, incompatibility{nameMismatch, loc(with(path, "name")), "expected: " + w.FullName()})
			}
			if r.Size() != w.Size() {
				out = append(out, incompatibility{fixedSizeMismatch, loc(with(path, "size")), fmt.Sprintf("expected: %d, found: %d", w.Size(), r.Size())})
			}
			return out
		case avro.Enum:
			r, w := reader.(*avro.EnumSchema), writer.(*avro.EnumSchema)
			var out []incompatibility
			if !namesMatch(r, w) {
				out = append(out, incompatibility{nameMismatch, loc(with(path, "name")), "expected: " + w.FullName()})
			}
			var missing []string
			for _, sym := range w.Symbols() {
				if !slices.Contains(r.Symbols(), sym) {
					missing = append(missing, sym)
				}
			}
			if len(missing) > 0 && !(r.HasDefault() && slices.Contains(r.Symbols(), r.Default())) {
				sort.Strings(missing)
				out = append(out, incompatibility{missingEnumSymbols, loc(with(path, "symbols")), "[" + strings.Join(missing, ", ") + "]"})
			}
			return out
		case avro.Record:
			r, w := reader.(*avro.RecordSchema), writer.(*avro.RecordSchema)
			var out []incompatibility
			if !namesMatch(r, w) {
				out = append(out, incompatibility{nameMismatch, loc(with(path, "name")), "expected: " + w.FullName()})
			}
			for i, rf := range r.Fields() {
				fieldPath := with(path, "fields", strconv.Itoa(i))
				wf := writerField(w, rf)
				switch {
				case wf != nil:
					out = append(out, c.check(rf.Type(), wf.Type(), with(fieldPath, "type"))...)
				case rf.HasDefault():
				case isEnumWithDefault(rf.Type()):
					// Avro Java: an enum field with an enum default
					// resolves against the writer record itself.
					out = append(out, c.check(rf.Type(), writer, with(fieldPath, "type"))...)
				default:
					out = append(out, incompatibility{readerFieldMissingDefault, loc(fieldPath), rf.Name()})
				}
			}
			return out
		case avro.Union:
			var out []incompatibility
			for i, wb := range writer.(*avro.UnionSchema).Types() {
				if !c.compatible(reader, wb, with(path, strconv.Itoa(i))) {
					out = append(out, incompatibility{missingUnionBranch, loc(with(path, strconv.Itoa(i))), "reader union lacking writer type: " + typeName(wb)})
				}
			}
			return out
		default:
			// Primitives of the same type.
			return nil
		}
	}

	if wt == avro.Union {
		// Every writer branch must be readable by the (non-union) reader.
		var out []incompatibility
		for i, wb := range writer.(*avro.UnionSchema).Types() {
			out = append(out, c.check(reader, wb, with(path, strconv.Itoa(i)))...)
		}
		return out
	}
	switch rt {
	case avro.Long:
		if wt == avro.Int {
			return nil
		}
	case avro.Float:
		if wt == avro.Int || wt == avro.Long {
			return nil
		}
	case avro.Double:
		if wt == avro.Int || wt == avro.Long || wt == avro.Float {
			return nil
		}
	case avro.Bytes:
		if wt == avro.String {
			return nil
		}
	case avro.String:
		if wt == avro.Bytes {
			return nil
		}
	case avro.Union:
		for _, rb := range reader.(*avro.UnionSchema).Types() {
			if c.compatible(rb, writer, path) {
				return nil
			}
		}
		return []incompatibility{{missingUnionBranch, loc(path), "reader union lacking writer type: " + typeName(writer)}}
	}
	return []incompatibility{{typeMismatch, loc(path), fmt.Sprintf("reader type: %s not compatible with writer type: %s", typeName(reader), typeName(writer))}}
}

func typeName(s avro.Schema) string { return strings.ToUpper(string(deref(s).Type())) }

func isEnumWithDefault(s avro.Schema) bool {
	e, ok := deref(s).(*avro.EnumSchema)
	return ok && e.HasDefault()
}

// namesMatch compares unqualified names, or a reader alias against the
// writer's full name (Avro Java's SchemaCompatibility.schemaNameEquals).
func namesMatch(reader, writer avro.NamedSchema) bool {
	if reader.Name() == writer.Name() {
		return true
	}
	for _, alias := range reader.Aliases() {
		if alias == writer.FullName() || alias == writer.Name() {
			return true
		}
	}
	return false
}

// writerField finds the writer field a reader field reads: same name, or a
// writer field named by one of the reader field's aliases.
func writerField(writer *avro.RecordSchema, readerField *avro.Field) *avro.Field {
	for _, f := range writer.Fields() {
		if f.Name() == readerField.Name() {
			return f
		}
	}
	for _, alias := range readerField.Aliases() {
		for _, f := range writer.Fields() {
			if f.Name() == alias {
				return f
			}
		}
	}
	return nil
}
