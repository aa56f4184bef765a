package dynamic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
)

// schemaWriter writes nodes as Avro schema JSON, defining each named type
// at its first use and referring to it by full name afterwards.
type schemaWriter struct {
	buf     bytes.Buffer
	defined map[string]*node
	err     error
}

// schemaJSON returns n as self-contained schema JSON.
func schemaJSON(n *node) string {
	w := schemaWriter{defined: map[string]*node{}}
	w.write(n)
	if w.err != nil {
		return ""
	}
	return w.buf.String()
}

func (w *schemaWriter) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf(format, args...)
	}
}

func (w *schemaWriter) str(s string) {
	b, _ := json.Marshal(s)
	w.buf.Write(b)
}

func (w *schemaWriter) key(k string) {
	w.buf.WriteByte(',')
	w.str(k)
	w.buf.WriteByte(':')
}

func (w *schemaWriter) value(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		w.fail("dynamic: schema property %v: %v", v, err)
		return
	}
	w.buf.Write(b)
}

// named writes a reference if n's name is defined already and reports
// whether it did; otherwise it records n as defined.
func (w *schemaWriter) named(n *node) bool {
	prev, ok := w.defined[n.fullName]
	if !ok {
		w.defined[n.fullName] = n
		return false
	}
	if prev != n && schemaJSON(prev) != schemaJSON(n) {
		w.fail("dynamic: two different types are named %s", n.fullName)
	}
	w.str(n.fullName)
	return true
}

func (w *schemaWriter) header(typ string, n *node) {
	w.buf.WriteString(`{"type":`)
	w.str(typ)
	w.key("name")
	w.str(n.name)
	w.key("namespace")
	w.str(n.namespace)
	if n.doc != "" {
		w.key("doc")
		w.str(n.doc)
	}
	if len(n.aliases) > 0 {
		w.key("aliases")
		w.value(n.aliases)
	}
}

func (w *schemaWriter) props(props map[string]any) {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.key(k)
		w.value(props[k])
	}
}

func (w *schemaWriter) write(n *node) {
	switch n.kind {
	case kindNull:
		w.str("null")
	case kindBoolean, kindInt, kindLong, kindFloat, kindDouble, kindString, kindBytes:
		name := branchName(n)
		if n.logical != "" {
			name = name[:len(name)-len(n.logical)-1]
		}
		if n.logical == "" && len(n.props) == 0 {
			w.str(name)
			return
		}
		w.buf.WriteString(`{"type":`)
		w.str(name)
		w.logical(n)
		w.props(n.props)
		w.buf.WriteByte('}')
	case kindFixed:
		if w.named(n) {
			return
		}
		w.header("fixed", n)
		w.key("size")
		w.buf.WriteString(strconv.Itoa(n.size))
		w.logical(n)
		w.props(n.props)
		w.buf.WriteByte('}')
	case kindEnum:
		if w.named(n) {
			return
		}
		w.header("enum", n)
		w.key("symbols")
		w.value(n.symbols)
		if n.symDef != "" {
			w.key("default")
			w.str(n.symDef)
		}
		w.props(n.props)
		w.buf.WriteByte('}')
	case kindRecord:
		if w.named(n) {
			return
		}
		w.header("record", n)
		w.key("fields")
		w.buf.WriteByte('[')
		for i, f := range n.fields {
			if i > 0 {
				w.buf.WriteByte(',')
			}
			w.buf.WriteString(`{"name":`)
			w.str(f.name)
			w.key("type")
			w.write(f.node)
			if f.hasDefault {
				w.key("default")
				w.defaultValue(f.node, f.def)
			}
			if f.doc != "" {
				w.key("doc")
				w.str(f.doc)
			}
			if len(f.aliases) > 0 {
				w.key("aliases")
				w.value(f.aliases)
			}
			if f.order != "" && f.order != "ascending" {
				w.key("order")
				w.str(f.order)
			}
			w.props(f.props)
			w.buf.WriteByte('}')
		}
		w.buf.WriteByte(']')
		w.props(n.props)
		w.buf.WriteByte('}')
	case kindArray:
		w.buf.WriteString(`{"type":"array","items":`)
		w.write(n.elem)
		w.props(n.props)
		w.buf.WriteByte('}')
	case kindMap:
		w.buf.WriteString(`{"type":"map","values":`)
		w.write(n.elem)
		w.props(n.props)
		w.buf.WriteByte('}')
	case kindNullable:
		w.buf.WriteByte('[')
		if n.nullIdx == 0 {
			w.buf.WriteString(`"null",`)
			w.write(n.elem)
		} else {
			w.write(n.elem)
			w.buf.WriteString(`,"null"`)
		}
		w.buf.WriteByte(']')
	case kindUnion:
		w.buf.WriteByte('[')
		for i, b := range n.union {
			if i > 0 {
				w.buf.WriteByte(',')
			}
			w.write(b)
		}
		w.buf.WriteByte(']')
	default:
		w.fail("dynamic: cannot write kind %d as a schema", n.kind)
	}
}

func (w *schemaWriter) logical(n *node) {
	if n.logical == "" {
		return
	}
	w.key("logicalType")
	w.str(n.logical)
	if n.logical == "decimal" {
		w.key("precision")
		w.buf.WriteString(strconv.Itoa(n.prec))
		w.key("scale")
		w.buf.WriteString(strconv.Itoa(n.scale))
	}
}

// defaultValue writes a field default given in hamba/avro's parsed form
// (or in a form assign accepts) as schema JSON.
func (w *schemaWriter) defaultValue(n *node, def any) {
	switch n.kind {
	case kindNullable:
		if def == nil {
			w.buf.WriteString("null")
			return
		}
		w.defaultValue(n.elem, def)
		return
	case kindUnion:
		if len(n.union) > 0 {
			w.defaultValue(n.union[0], def)
			return
		}
	case kindRecord:
		m, _ := def.(map[string]any)
		w.buf.WriteByte('{')
		first := true
		for _, f := range n.fields {
			v, ok := m[f.name]
			if !ok {
				continue
			}
			if !first {
				w.buf.WriteByte(',')
			}
			first = false
			w.str(f.name)
			w.buf.WriteByte(':')
			w.defaultValue(f.node, v)
		}
		w.buf.WriteByte('}')
		return
	case kindArray:
		rv := reflect.ValueOf(def)
		w.buf.WriteByte('[')
		if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			for i := range rv.Len() {
				if i > 0 {
					w.buf.WriteByte(',')
				}
				w.defaultValue(n.elem, rv.Index(i).Interface())
			}
		}
		w.buf.WriteByte(']')
		return
	case kindMap:
		rv := reflect.ValueOf(def)
		w.buf.WriteByte('{')
		if rv.Kind() == reflect.Map {
			keys := rv.MapKeys()
			sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
			for i, k := range keys {
				if i > 0 {
					w.buf.WriteByte(',')
				}
				w.str(k.String())
				w.buf.WriteByte(':')
				w.defaultValue(n.elem, rv.MapIndex(k).Interface())
			}
		}
		w.buf.WriteByte('}')
		return
	case kindBytes, kindFixed:
		// Avro writes bytes defaults as strings of code points 0-255.
		if b, ok := toBytes(def); ok {
			runes := make([]rune, len(b))
			for i, c := range b {
				runes[i] = rune(c)
			}
			w.str(string(runes))
			return
		}
	case kindFloat, kindDouble:
		if f, ok := toFloat(def); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
			w.buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
			return
		}
	}
	w.value(def)
}
