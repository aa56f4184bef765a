package httpconn

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// urlTemplate is http.api.url compiled once: literal text and the
// ${topic}, ${partition} and ${key} variables, so rendering a record's URL
// is a few appends and no parsing.
type urlTemplate struct {
	parts    []templatePart
	usesKey  bool
	constant bool // no variable at all: the URL is parts[0].literal
}

type templateVar uint8

const (
	varNone templateVar = iota
	varTopic
	varPartition
	varKey
)

type templatePart struct {
	literal  string
	variable templateVar
}

var templateVars = map[string]templateVar{"topic": varTopic, "partition": varPartition, "key": varKey}

// parseURLTemplate compiles and checks a URL template: every ${...} must be
// a known variable, and the URL with the variables filled in must be an
// absolute http or https URL.
func parseURLTemplate(s string) (*urlTemplate, error) {
	t := &urlTemplate{}
	rest := s
	var sample strings.Builder
	for rest != "" {
		i := strings.Index(rest, "${")
		if i < 0 {
			t.parts = append(t.parts, templatePart{literal: rest})
			sample.WriteString(rest)
			break
		}
		if i > 0 {
			t.parts = append(t.parts, templatePart{literal: rest[:i]})
			sample.WriteString(rest[:i])
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed ${ in %q", s)
		}
		name := rest[i+2 : i+end]
		v, ok := templateVars[name]
		if !ok {
			return nil, fmt.Errorf("unknown variable ${%s} (known: ${topic}, ${partition}, ${key})", name)
		}
		t.parts = append(t.parts, templatePart{variable: v})
		t.usesKey = t.usesKey || v == varKey
		sample.WriteString("x")
		rest = rest[i+end+1:]
	}
	u, err := url.Parse(sample.String())
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("want an http:// or https:// URL, got %q", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host in %q", s)
	}
	if len(t.parts) == 1 && t.parts[0].variable == varNone {
		t.constant = true
	} else if len(t.parts) == 0 {
		t.constant = true
		t.parts = []templatePart{{}}
	}
	return t, nil
}

// render fills in the variables. The key is rendered as text (see
// keyText) and escaped so that it is one path segment or query value.
func (t *urlTemplate) render(dst []byte, topic string, partition int32, key any) ([]byte, error) {
	for _, p := range t.parts {
		switch p.variable {
		case varNone:
			dst = append(dst, p.literal...)
		case varTopic:
			dst = append(dst, escapeComponent(topic)...)
		case varPartition:
			dst = strconv.AppendInt(dst, int64(partition), 10)
		case varKey:
			k, err := keyText(key)
			if err != nil {
				return dst, err
			}
			dst = append(dst, escapeComponent(k)...)
		}
	}
	return dst, nil
}

var errNullKey = errors.New("the record has a null key, but http.api.url uses ${key}")

// keyText renders a key for ${key}: strings as they are, numbers and
// booleans in decimal, bytes as text when they are UTF-8 and base64url
// otherwise. Structs, maps and arrays have no natural text form in a URL
// and are refused.
func keyText(key any) (string, error) {
	switch k := key.(type) {
	case nil:
		return "", errNullKey
	case string:
		return k, nil
	case []byte:
		if utf8.Valid(k) {
			return string(k), nil
		}
		return base64.RawURLEncoding.EncodeToString(k), nil
	case int8:
		return strconv.FormatInt(int64(k), 10), nil
	case int16:
		return strconv.FormatInt(int64(k), 10), nil
	case int32:
		return strconv.FormatInt(int64(k), 10), nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case int:
		return strconv.Itoa(k), nil
	case float32:
		return strconv.FormatFloat(float64(k), 'g', -1, 32), nil
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(k), nil
	case json.Number:
		return k.String(), nil
	}
	return "", fmt.Errorf("the record key is a %T, but http.api.url uses ${key}, which needs a string, number or bytes key (use a ValueToKey/ExtractField$Key transform to pick one field)", key)
}

// escapeComponent percent-encodes everything but RFC 3986's unreserved
// characters, so a value cannot add path segments or query parameters
// whether the variable sits in the path or in the query.
func escapeComponent(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
