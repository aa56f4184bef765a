package connectors

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Info describes a plugin (connector, converter, transform or predicate):
// its names, documentation and configuration spec. The same Info drives
// config parsing and validation, `sluice connectors list` and `describe`,
// and the lint of job files.
type Info struct {
	// Name is the type name used in configurations ("file",
	// "InsertField$Value").
	Name string
	// Aliases are other accepted names, such as Kafka Connect's class names
	// ("org.apache.kafka.connect.transforms.InsertField$Value").
	Aliases []string
	// Summary is one line: what the plugin does.
	Summary string
	// Doc is the longer documentation: behaviour, delivery guarantee, set-up.
	Doc string
	// Spec declares the configuration fields.
	Spec Spec
	// Example is a configuration example, as YAML with flat keys.
	Example string
}

// FieldType is the type of a configuration field.
type FieldType int

// The field types. Values are accepted as YAML scalars, lists and maps or
// as strings (properties files, environment variables).
const (
	FieldString   FieldType = iota + 1 // any scalar, as text
	FieldInt                           // a whole number (int64 range)
	FieldFloat                         // a number
	FieldBool                          // true/false
	FieldDuration                      // milliseconds (a number) or a Go duration ("10s", "1m30s")
	FieldList                          // a list of strings, or one comma-separated string
	FieldMap                           // string keys to string values, or "k1=v1,k2=v2"
)

func (t FieldType) String() string {
	switch t {
	case FieldString:
		return "string"
	case FieldInt:
		return "int"
	case FieldFloat:
		return "float"
	case FieldBool:
		return "bool"
	case FieldDuration:
		return "duration"
	case FieldList:
		return "list"
	case FieldMap:
		return "map"
	}
	return fmt.Sprintf("FieldType(%d)", int(t))
}

// ConfigField declares one configuration field.
type ConfigField struct {
	Name string // dotted, like Kafka Connect's ("file", "errors.tolerance")
	Type FieldType
	// Default is the value when the field is not set: a string, int64 (or
	// int), float64, bool, time.Duration, []string or map[string]string
	// according to Type. Ignored when Required.
	Default  any
	Required bool
	// Secret fields (passwords, tokens) are never logged or printed: their
	// values are read with Config.Secret (a map field's with Config.Map;
	// Redacted hides each of its values).
	Secret bool
	// Prefix (map fields only) also takes the map's entries as keys of
	// their own, "<Name>.<key>", the way Kafka Connect and Debezium write
	// pass-through settings (signal.consumer.security.protocol=SASL_SSL).
	// A configuration gives either the map or such keys, not both.
	Prefix bool
	// Allowed lists the accepted values of a string field (matched
	// case-insensitively, stored as written here).
	Allowed []string
	// Doc says what the field does; its first sentence is the short help.
	Doc string
	// Check validates a parsed value further (ranges, syntax); its error is
	// reported with the field's name.
	Check func(v any) error
}

// Spec is the configuration of a plugin.
type Spec struct {
	Fields []ConfigField
	// Check validates the parsed configuration as a whole (fields that
	// depend on each other). Return [*FieldError] values, joined with
	// errors.Join, so each problem names its field.
	Check func(cfg *Config) error
}

// Field returns the declared field named name.
func (s *Spec) Field(name string) (ConfigField, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return ConfigField{}, false
}

// claims reports whether key is a field of the spec or an entry of a
// Prefix map field.
func (s *Spec) claims(key string) bool {
	if _, ok := s.Field(key); ok {
		return true
	}
	_, _, ok := s.prefixField(key)
	return ok
}

// prefixField returns the Prefix map field that key is an entry of, and
// the entry's name.
func (s *Spec) prefixField(key string) (ConfigField, string, bool) {
	for _, f := range s.Fields {
		if f.Prefix && f.Type == FieldMap {
			if entry, ok := strings.CutPrefix(key, f.Name+"."); ok && entry != "" {
				return f, entry, true
			}
		}
	}
	return ConfigField{}, "", false
}

// foldPrefixed returns raw with the entries of Prefix map fields given as
// keys of their own ("signal.consumer.security.protocol") gathered into
// the field's map, and an error for a field given both ways.
func (s *Spec) foldPrefixed(prefix string, raw map[string]any) (map[string]any, []error) {
	var folded map[string]any
	var errs []error
	for k, v := range raw {
		f, entry, ok := s.prefixField(k)
		if !ok {
			continue
		}
		if folded == nil {
			folded = maps.Clone(raw)
		}
		delete(folded, k)
		if _, both := raw[f.Name]; both {
			errs = append(errs, &FieldError{Key: prefix + k, Err: fmt.Errorf("set either %s (a map) or %s.* keys, not both", f.Name, f.Name)})
			continue
		}
		m, _ := folded[f.Name].(map[string]any)
		if m == nil {
			m = map[string]any{}
			folded[f.Name] = m
		}
		m[entry] = v
	}
	if folded == nil {
		return raw, nil
	}
	return folded, errs
}

// FieldError is a configuration problem of one field. Key is the full key
// as the user wrote it, prefixes included ("transforms.mask.fields").
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %v", e.Key, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// Errorf returns a *FieldError for key.
func Errorf(key, format string, args ...any) error {
	return &FieldError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Secret is a configuration value that must not be shown: it prints, logs
// and marshals as "[hidden]". Reveal returns the value.
type Secret struct{ value string }

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{v} }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

const hidden = "[hidden]"

func (s Secret) String() string                { return hidden }
func (s Secret) GoString() string              { return hidden }
func (s Secret) LogValue() slog.Value          { return slog.StringValue(hidden) }
func (s Secret) MarshalJSON() ([]byte, error)  { return []byte(`"` + hidden + `"`), nil }
func (s Secret) MarshalText() ([]byte, error)  { return []byte(hidden), nil }
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(hidden)) }

// Config is a parsed, validated configuration: a value for every declared
// field (its default when unset). Getters panic on a field the spec does
// not declare or of another type: that is a programming error, not a
// configuration error.
type Config struct {
	spec   *Spec
	prefix string
	values map[string]any
	set    map[string]bool
}

// Parse validates raw (keys without prefix) against the spec and returns
// the parsed configuration, or every problem at once as [*FieldError]s
// joined with errors.Join: unknown keys (with a suggestion), wrong types,
// missing required fields, values not allowed. prefix is prepended to keys
// in errors ("transforms.mask.").
func (s *Spec) Parse(prefix string, raw map[string]any) (*Config, error) {
	c := &Config{spec: s, prefix: prefix, values: make(map[string]any, len(s.Fields)), set: map[string]bool{}}
	raw, errs := s.foldPrefixed(prefix, raw)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := s.Field(k)
		if !ok {
			errs = append(errs, &FieldError{Key: prefix + k, Err: unknownFieldError(k, s.names())})
			continue
		}
		v, err := parseValue(f, raw[k])
		if err != nil {
			errs = append(errs, &FieldError{Key: prefix + k, Err: err})
			continue
		}
		c.values[k] = v
		c.set[k] = true
	}
	for _, f := range s.Fields {
		if _, ok := c.values[f.Name]; ok {
			continue
		}
		if f.Required {
			if _, bad := raw[f.Name]; !bad {
				errs = append(errs, &FieldError{Key: prefix + f.Name, Err: fmt.Errorf("required (%s)", firstSentence(f.Doc))})
			}
			continue
		}
		c.values[f.Name] = zeroOr(f)
	}
	if len(errs) == 0 && s.Check != nil {
		if err := s.Check(c); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func (s *Spec) names() []string {
	out := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = f.Name
	}
	return out
}

// Key returns the full key of a field, prefix included, for errors.
func (c *Config) Key(name string) string { return c.prefix + name }

// IsSet reports whether the field was given explicitly.
func (c *Config) IsSet(name string) bool { return c.set[name] }

func (c *Config) get(name string, want FieldType) any {
	f, ok := c.spec.Field(name)
	if !ok {
		panic(fmt.Sprintf("connectors: config has no field %q", c.prefix+name))
	}
	if f.Type != want {
		panic(fmt.Sprintf("connectors: field %q is a %s, read as %s", c.prefix+name, f.Type, want))
	}
	return c.values[name]
}

// String returns a string field (for a Secret field use Secret).
func (c *Config) String(name string) string {
	if f, _ := c.spec.Field(name); f.Secret {
		panic(fmt.Sprintf("connectors: field %q is secret: read it with Secret", c.prefix+name))
	}
	v, _ := c.get(name, FieldString).(string)
	return v
}

// Secret returns a secret string field.
func (c *Config) Secret(name string) Secret {
	v, _ := c.get(name, FieldString).(string)
	return Secret{v}
}

// Int returns an int field.
func (c *Config) Int(name string) int { return int(c.Int64(name)) }

// Int64 returns an int field as int64.
func (c *Config) Int64(name string) int64 { v, _ := c.get(name, FieldInt).(int64); return v }

// Float returns a float field.
func (c *Config) Float(name string) float64 { v, _ := c.get(name, FieldFloat).(float64); return v }

// Bool returns a bool field.
func (c *Config) Bool(name string) bool { v, _ := c.get(name, FieldBool).(bool); return v }

// Duration returns a duration field.
func (c *Config) Duration(name string) time.Duration {
	v, _ := c.get(name, FieldDuration).(time.Duration)
	return v
}

// List returns a list field (never nil).
func (c *Config) List(name string) []string {
	v, _ := c.get(name, FieldList).([]string)
	if v == nil {
		return []string{}
	}
	return v
}

// Map returns a map field (never nil).
func (c *Config) Map(name string) map[string]string {
	v, _ := c.get(name, FieldMap).(map[string]string)
	if v == nil {
		return map[string]string{}
	}
	return v
}

// Redacted returns every field's value with secrets hidden, for printing.
func (c *Config) Redacted() map[string]any {
	out := make(map[string]any, len(c.values))
	for _, f := range c.spec.Fields {
		v := c.values[f.Name]
		if m, ok := v.(map[string]string); ok && f.Secret {
			shown := make(map[string]string, len(m))
			for k := range m {
				shown[k] = hidden
			}
			v = shown
		} else if f.Secret && v != "" {
			v = hidden
		}
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		out[c.prefix+f.Name] = v
	}
	return out
}

func zeroOr(f ConfigField) any {
	if f.Default == "" && f.Type == FieldString {
		return "" // unset, even where Allowed lists the values that may be set
	}
	if f.Default != nil {
		v, err := parseValue(f, f.Default)
		if err != nil {
			panic(fmt.Sprintf("connectors: default of field %q: %v", f.Name, err))
		}
		return v
	}
	switch f.Type {
	case FieldString:
		return ""
	case FieldInt:
		return int64(0)
	case FieldFloat:
		return float64(0)
	case FieldBool:
		return false
	case FieldDuration:
		return time.Duration(0)
	case FieldList:
		return []string{}
	case FieldMap:
		return map[string]string{}
	}
	return nil
}

// parseValue converts a raw value (YAML-decoded or a string) to the field's
// Go type and checks it.
func parseValue(f ConfigField, raw any) (any, error) {
	v, err := convertValue(f, raw)
	if err != nil {
		return nil, err
	}
	if f.Check != nil {
		if err := f.Check(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func convertValue(f ConfigField, raw any) (any, error) {
	if raw == nil {
		return nil, fmt.Errorf("null is not a %s", f.Type)
	}
	switch f.Type {
	case FieldString:
		s, ok := scalarString(raw)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", describeRaw(raw))
		}
		if len(f.Allowed) > 0 {
			for _, a := range f.Allowed {
				if strings.EqualFold(a, s) {
					return a, nil
				}
			}
			return nil, fmt.Errorf("%q is not allowed (want one of %s)", s, strings.Join(f.Allowed, ", "))
		}
		return s, nil
	case FieldInt:
		return toInt(raw)
	case FieldFloat:
		switch n := raw.(type) {
		case float64:
			return n, nil
		case float32:
			return float64(n), nil
		case json.Number:
			return n.Float64()
		case string:
			x, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", n)
			}
			return x, nil
		}
		if i, err := toInt(raw); err == nil {
			return float64(i.(int64)), nil
		}
		return nil, fmt.Errorf("want a number, got %s", describeRaw(raw))
	case FieldBool:
		switch b := raw.(type) {
		case bool:
			return b, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(b)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
			return nil, fmt.Errorf("%q is not a boolean (want true or false)", b)
		}
		return nil, fmt.Errorf("want true or false, got %s", describeRaw(raw))
	case FieldDuration:
		switch d := raw.(type) {
		case time.Duration:
			return d, nil
		case string:
			s := strings.TrimSpace(d)
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return time.Duration(n) * time.Millisecond, nil
			}
			x, err := time.ParseDuration(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a duration (want milliseconds or a duration like 10s, 1m30s)", d)
			}
			return x, nil
		}
		n, err := toInt(raw)
		if err != nil {
			return nil, fmt.Errorf("want milliseconds or a duration like 10s, got %s", describeRaw(raw))
		}
		return time.Duration(n.(int64)) * time.Millisecond, nil
	case FieldList:
		switch l := raw.(type) {
		case []string:
			return append([]string(nil), l...), nil
		case []any:
			out := make([]string, 0, len(l))
			for i, e := range l {
				s, ok := scalarString(e)
				if !ok {
					return nil, fmt.Errorf("item %d: want a string, got %s", i, describeRaw(e))
				}
				out = append(out, s)
			}
			return out, nil
		case string:
			out := []string{}
			for _, p := range strings.Split(l, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			return out, nil
		}
		return nil, fmt.Errorf("want a list or a comma-separated string, got %s", describeRaw(raw))
	case FieldMap:
		out := map[string]string{}
		switch m := raw.(type) {
		case map[string]string:
			for k, v := range m {
				out[k] = v
			}
			return out, nil
		case map[string]any:
			for k, e := range m {
				s, ok := scalarString(e)
				if !ok {
					return nil, fmt.Errorf("key %q: want a string, got %s", k, describeRaw(e))
				}
				out[k] = s
			}
			return out, nil
		case string:
			for _, p := range strings.Split(m, ",") {
				if p = strings.TrimSpace(p); p == "" {
					continue
				}
				k, v, ok := strings.Cut(p, "=")
				if !ok {
					return nil, fmt.Errorf("%q is not key=value", p)
				}
				out[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			return out, nil
		}
		return nil, fmt.Errorf("want a map or k1=v1,k2=v2, got %s", describeRaw(raw))
	}
	return nil, fmt.Errorf("unknown field type %v", f.Type)
}

func toInt(raw any) (any, error) {
	switch n := raw.(type) {
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case int32:
		return int64(n), nil
	case uint64:
		if n > math.MaxInt64 {
			return nil, fmt.Errorf("%d is too large", n)
		}
		return int64(n), nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return nil, fmt.Errorf("%v is not a whole number", n)
		}
		return int64(n), nil
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("%s is not a whole number", n)
		}
		return i, nil
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", n)
		}
		return i, nil
	}
	return nil, fmt.Errorf("want a whole number, got %s", describeRaw(raw))
}

func scalarString(raw any) (string, bool) {
	switch v := raw.(type) {
	case string:
		return v, true
	case bool, int, int32, int64, uint64, float64, float32, json.Number:
		return fmt.Sprint(v), true
	}
	return "", false
}

func describeRaw(raw any) string {
	switch raw.(type) {
	case []any, []string:
		return "a list"
	case map[string]any, map[string]string:
		return "a map"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T %v", raw, raw)
}

func firstSentence(doc string) string {
	if i := strings.Index(doc, ". "); i >= 0 {
		doc = doc[:i]
	}
	return strings.TrimSuffix(strings.TrimSpace(doc), ".")
}

// unknownFieldError names the closest known field as a suggestion.
func unknownFieldError(key string, known []string) error {
	if s := Suggest(key, known); s != "" {
		return fmt.Errorf("unknown field (did you mean %q?)", s)
	}
	return errors.New("unknown field")
}

// Suggest returns the candidate closest to s by edit distance, if it is
// close enough to be a likely typo ("" otherwise).
func Suggest(s string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) > 12 {
		limit = 3
	}
	if best != "" && bestD <= limit {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
