package converters

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectjson"
	"github.com/sluicehq/sluice/internal/javafmt"
	"github.com/sluicehq/sluice/serde"
)

// The schemas ToConnect returns, shared like Kafka Connect's
// Schema.OPTIONAL_*_SCHEMA constants (schemas are immutable and caches
// downstream key them by pointer).
var (
	optionalString  = connectors.OptionalOf(connectors.StringSchema())
	optionalBytes   = connectors.OptionalOf(connectors.BytesSchema())
	optionalInt16   = connectors.OptionalOf(connectors.Int16Schema())
	optionalInt32   = connectors.OptionalOf(connectors.Int32Schema())
	optionalInt64   = connectors.OptionalOf(connectors.Int64Schema())
	optionalFloat32 = connectors.OptionalOf(connectors.Float32Schema())
	optionalFloat64 = connectors.OptionalOf(connectors.Float64Schema())
)

// stringBytes returns the bytes of s without copying: the producer never
// modifies what a converter returns (serde.String does the same). An empty
// string is an empty, non-nil slice: nil would be a tombstone.
func stringBytes(s string) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func stringPlugin() connectors.ConverterPlugin {
	return connectors.ConverterPlugin{
		Info: connectors.Info{
			Name:    "string",
			Aliases: []string{"org.apache.kafka.connect.storage.StringConverter"},
			Summary: "Text in a character encoding (UTF-8 by default), as Kafka Connect's StringConverter.",
			Doc: "Reads every record as an optional string. Writes strings in converter.encoding; other values as Kafka Connect writes them with toString where that is useful: " +
				"booleans and integers as text, floating-point numbers in Java's notation (1.0, 1.0E10, NaN), decimals as Java's BigDecimal prints them (1.50 for scale 2), " +
				"bytes as they are, and Date, Time and Timestamp values in ISO 8601 (2024-02-29, 13:45:00.000, 2024-02-29T13:45:00.000Z; Kafka Connect would print java.util.Date's form). " +
				"Structs, arrays and maps are refused (Kafka Connect would write Struct{...}, which nothing can read back): use the json converter, or extract a field first. " +
				"Bytes that are not valid in the encoding are kept as they are with UTF-8 (so reading and writing back is lossless) and replaced by U+FFFD with the other encodings, as in Java.",
			Spec: connectors.Spec{Fields: []connectors.ConfigField{
				{Name: "converter.encoding", Type: connectors.FieldString, Default: "UTF-8",
					Allowed: []string{"UTF-8", "UTF-16", "UTF-16BE", "UTF-16LE", "ISO-8859-1", "US-ASCII"},
					Doc:     "The character encoding, as Kafka Connect's converter.encoding. UTF-16 writes big-endian with a byte-order mark and reads either order by its mark, as Java does."},
			}},
			Example: "key.converter: string\nkey.converter.converter.encoding: UTF-8\n",
		},
		New: func(cfg *connectors.Config, isKey bool) (connectors.Converter, error) {
			return &stringConverter{key: isKey, encoding: cfg.String("converter.encoding")}, nil
		},
	}
}

type stringConverter struct {
	key      bool
	encoding string
}

func (c *stringConverter) FromConnect(topic string, schema *connectors.Schema, value any) ([]byte, error) {
	var s string
	switch v := value.(type) {
	case nil:
		return nil, nil
	case string:
		s = v
	case []byte:
		return v, nil
	default:
		var err error
		if s, err = toText(schema, value); err != nil {
			return nil, fmt.Errorf("string converter: %s of a record to topic %q: %w", role(c.key), topic, err)
		}
	}
	return encodeText(c.encoding, s), nil
}

func (c *stringConverter) ToConnect(topic string, data []byte) (*connectors.Schema, any, error) {
	return optionalString, decodeText(c.encoding, data), nil
}

// toText is the text of a non-string value, like Java's toString.
func toText(schema *connectors.Schema, value any) (string, error) {
	switch v := value.(type) {
	case bool:
		return strconv.FormatBool(v), nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(v), nil
	case json.Number:
		return string(v), nil
	case float64:
		return javafmt.Double(v), nil
	case float32:
		return javafmt.Float(v), nil
	case *big.Rat:
		scale := -1
		if schema != nil && schema.Name == connectors.DecimalName {
			if s, err := connectjson.DecimalScale(schema.Parameters); err == nil {
				scale = s
			}
		}
		if scale < 0 {
			// Without a schema: the shortest exact decimal, if any.
			b, err := connectjson.Append(nil, nil, v, connectjson.Options{})
			if err != nil {
				return "", err
			}
			return string(b), nil
		}
		unscaled, err := connectjson.DecimalUnscaled(v, scale)
		if err != nil {
			return "", err
		}
		return string(javafmt.AppendBigDecimal(nil, unscaled, scale)), nil
	case time.Time:
		t := v.UTC()
		if schema != nil {
			switch schema.Name {
			case connectors.DateName:
				return t.Format("2006-01-02"), nil
			case connectors.TimeName:
				return t.Format("15:04:05.000"), nil
			}
		}
		return t.Format("2006-01-02T15:04:05.000Z07:00"), nil
	case *connectors.Struct:
		return "", fmt.Errorf("cannot write a struct (%s) as a string: use the json converter, or extract a field first (ExtractField transform)", v.Schema())
	case []any, map[string]any:
		return "", fmt.Errorf("cannot write a %T as a string: use the json converter", value)
	}
	return "", fmt.Errorf("cannot write a %T as a string", value)
}

func encodeText(encoding, s string) []byte {
	switch encoding {
	case "UTF-8":
		return stringBytes(s)
	case "ISO-8859-1", "US-ASCII":
		limit := rune(0xFF)
		if encoding == "US-ASCII" {
			limit = 0x7F
		}
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r > limit {
				r = '?' // Java's replacement for unmappable characters
			}
			out = append(out, byte(r))
		}
		return out
	}
	units := utf16.Encode([]rune(s)) // invalid UTF-8 became U+FFFD
	out := make([]byte, 0, 2*len(units)+2)
	little := encoding == "UTF-16LE"
	if encoding == "UTF-16" {
		out = append(out, 0xFE, 0xFF)
	}
	for _, u := range units {
		if little {
			out = binary.LittleEndian.AppendUint16(out, u)
		} else {
			out = binary.BigEndian.AppendUint16(out, u)
		}
	}
	return out
}

func decodeText(encoding string, data []byte) string {
	switch encoding {
	case "UTF-8":
		return string(data)
	case "ISO-8859-1":
		out := make([]byte, 0, len(data))
		for _, b := range data {
			out = utf8.AppendRune(out, rune(b))
		}
		return string(out)
	case "US-ASCII":
		out := make([]byte, 0, len(data))
		for _, b := range data {
			if b > 0x7F {
				out = append(out, "\uFFFD"...)
			} else {
				out = append(out, b)
			}
		}
		return string(out)
	}
	little := encoding == "UTF-16LE"
	if encoding == "UTF-16" && len(data) >= 2 {
		switch {
		case data[0] == 0xFE && data[1] == 0xFF:
			data = data[2:]
		case data[0] == 0xFF && data[1] == 0xFE:
			data, little = data[2:], true
		}
	}
	units := make([]uint16, 0, len(data)/2)
	for i := 0; i+1 < len(data); i += 2 {
		if little {
			units = append(units, binary.LittleEndian.Uint16(data[i:]))
		} else {
			units = append(units, binary.BigEndian.Uint16(data[i:]))
		}
	}
	s := string(utf16.Decode(units))
	if len(data)%2 == 1 {
		s += "\uFFFD" // a dangling byte, as Java's decoder reports it
	}
	return s
}

func bytesPlugin() connectors.ConverterPlugin {
	return connectors.ConverterPlugin{
		Info: connectors.Info{
			Name:    "bytes",
			Aliases: []string{"org.apache.kafka.connect.converters.ByteArrayConverter"},
			Summary: "Raw bytes, passed through unchanged, as Kafka Connect's ByteArrayConverter.",
			Doc: "Writes a bytes value as it is (without copying) and a string value as its UTF-8 bytes; a schema other than bytes or string is refused, as Kafka Connect refuses it. " +
				"Reads every record as optional bytes (a copy of the record's data: a record may outlive the fetch it came in).",
			Example: "value.converter: bytes\n",
		},
		New: func(cfg *connectors.Config, isKey bool) (connectors.Converter, error) {
			return bytesConverter{key: isKey}, nil
		},
	}
}

type bytesConverter struct{ key bool }

func (c bytesConverter) FromConnect(topic string, schema *connectors.Schema, value any) ([]byte, error) {
	if schema != nil && schema.Type != connectors.TypeBytes && schema.Type != connectors.TypeString {
		return nil, fmt.Errorf("bytes converter: %s of a record to topic %q: schema %s is neither bytes nor string (Kafka Connect's ByteArrayConverter takes only bytes)", role(c.key), topic, schema)
	}
	switch v := value.(type) {
	case nil:
		return nil, nil
	case []byte:
		return v, nil
	case string:
		return stringBytes(v), nil
	}
	return nil, fmt.Errorf("bytes converter: %s of a record to topic %q: a %T is not bytes", role(c.key), topic, value)
}

// ToConnect returns the record's own bytes, without a copy (the worker
// never reuses fetched bytes; see connectors.Converter).
func (c bytesConverter) ToConnect(topic string, data []byte) (*connectors.Schema, any, error) {
	return optionalBytes, data, nil
}

// numberConverter is Kafka Connect's NumberConverter: big-endian two's
// complement integers and IEEE 754 floats of a fixed size, as Kafka's
// Long/Integer/Short/Float/DoubleSerializer write them.
type numberConverter struct {
	name   string
	key    bool
	typ    connectors.Type
	size   int
	schema *connectors.Schema
}

func numberPlugins() []connectors.ConverterPlugin {
	defs := []struct {
		name, class, javaType string
		typ                   connectors.Type
		size                  int
		schema                *connectors.Schema
	}{
		{"long", "LongConverter", "Long", connectors.TypeInt64, 8, optionalInt64},
		{"integer", "IntegerConverter", "Integer", connectors.TypeInt32, 4, optionalInt32},
		{"short", "ShortConverter", "Short", connectors.TypeInt16, 2, optionalInt16},
		{"float", "FloatConverter", "Float", connectors.TypeFloat32, 4, optionalFloat32},
		{"double", "DoubleConverter", "Double", connectors.TypeFloat64, 8, optionalFloat64},
	}
	out := make([]connectors.ConverterPlugin, 0, len(defs))
	for _, d := range defs {
		d := d
		out = append(out, connectors.ConverterPlugin{
			Info: connectors.Info{
				Name:    d.name,
				Aliases: []string{"org.apache.kafka.connect.converters." + d.class},
				Summary: fmt.Sprintf("A %d-byte big-endian %s, as Kafka Connect's %s (Kafka's %sSerializer).", d.size, d.typ, d.class, d.javaType),
				Doc: fmt.Sprintf("Writes a %s value in %d bytes as Kafka's %sSerializer does; other integer (or, for floats, floating-point) Go values are accepted if they fit. "+
					"Reads records of exactly %d bytes as an optional %s; any other size is an error.", d.typ, d.size, d.javaType, d.size, d.typ),
				Example: fmt.Sprintf("key.converter: %s\n", d.name),
			},
			New: func(cfg *connectors.Config, isKey bool) (connectors.Converter, error) {
				return &numberConverter{name: d.name, key: isKey, typ: d.typ, size: d.size, schema: d.schema}, nil
			},
		})
	}
	return out
}

func (c *numberConverter) FromConnect(topic string, schema *connectors.Schema, value any) ([]byte, error) {
	if value == nil {
		return nil, nil
	}
	fail := func() ([]byte, error) {
		return nil, fmt.Errorf("%s converter: %s of a record to topic %q: %v (%T) is not a %s", c.name, role(c.key), topic, value, value, c.typ)
	}
	out := make([]byte, 0, c.size)
	switch c.typ {
	case connectors.TypeFloat32, connectors.TypeFloat64:
		var f float64
		switch v := value.(type) {
		case float64:
			f = v
		case float32:
			f = float64(v)
		case json.Number:
			x, err := v.Float64()
			if err != nil {
				return fail()
			}
			f = x
		default:
			return fail()
		}
		if c.typ == connectors.TypeFloat32 {
			return binary.BigEndian.AppendUint32(out, math.Float32bits(float32(f))), nil
		}
		return binary.BigEndian.AppendUint64(out, math.Float64bits(f)), nil
	}
	n, ok := connectjson.IntValue(value)
	if !ok {
		return fail()
	}
	switch c.typ {
	case connectors.TypeInt16:
		if n < math.MinInt16 || n > math.MaxInt16 {
			return fail()
		}
		return binary.BigEndian.AppendUint16(out, uint16(n)), nil
	case connectors.TypeInt32:
		if n < math.MinInt32 || n > math.MaxInt32 {
			return fail()
		}
		return binary.BigEndian.AppendUint32(out, uint32(n)), nil
	}
	return binary.BigEndian.AppendUint64(out, uint64(n)), nil
}

func (c *numberConverter) ToConnect(topic string, data []byte) (*connectors.Schema, any, error) {
	if len(data) != c.size {
		return nil, nil, fmt.Errorf("%s converter: %s of a record from topic %q: %w: %d bytes, a %s takes %d", c.name, role(c.key), topic, serde.ErrSize, len(data), c.typ, c.size)
	}
	switch c.typ {
	case connectors.TypeInt16:
		return c.schema, int16(binary.BigEndian.Uint16(data)), nil
	case connectors.TypeInt32:
		return c.schema, int32(binary.BigEndian.Uint32(data)), nil
	case connectors.TypeInt64:
		return c.schema, int64(binary.BigEndian.Uint64(data)), nil
	case connectors.TypeFloat32:
		return c.schema, math.Float32frombits(binary.BigEndian.Uint32(data)), nil
	}
	return c.schema, math.Float64frombits(binary.BigEndian.Uint64(data)), nil
}

// PassesBytes reports whether conv is the bytes converter, whose ToConnect
// returns the data itself with the given schema and never fails: a caller
// converting many records may skip the call and box the bytes itself.
func PassesBytes(conv connectors.Converter) (*connectors.Schema, bool) {
	if _, ok := conv.(bytesConverter); ok {
		return optionalBytes, true
	}
	return nil, false
}
