package registry

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hamba/avro/v2"
)

// SchemaTypeAvro is the only schema type this registry accepts. Confluent
// omits "schemaType" from responses for Avro; so do we.
const SchemaTypeAvro = "AVRO"

// Reference is a Confluent schema reference: the Avro full name Name is
// defined by version Version of subject Subject.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Schema is a parsed Avro schema with what a compatibility message needs to
// name it. Build one with [ParseSchema] or through the registry.
type Schema struct {
	// Text is the schema as stored (compact JSON of what was submitted).
	Text string
	// References are the schema's references, in the submitted order.
	References []Reference
	// Version is the subject version the schema was registered as, 0 for a
	// candidate that is not registered.
	Version int

	parsed avro.Schema
}

// Avro returns the parsed schema with references resolved.
func (s *Schema) Avro() avro.Schema { return s.parsed }

// ErrInvalidSchema is wrapped by ParseSchema and by registration when a
// schema does not parse, names an unsupported type or has a dangling
// reference (Confluent error code 42201).
var ErrInvalidSchema = errors.New("registry: invalid schema")

// ReferenceLookup returns the stored text and references of version
// version of subject, or ok=false when it does not exist.
type ReferenceLookup func(subject string, version int) (text string, refs []Reference, ok bool)

// ParseSchema parses an Avro schema whose references (if any) are resolved
// through lookup (which may be nil when refs is empty). Every call parses
// into a fresh avro.SchemaCache: hamba/avro's package-global cache keeps one
// schema per full name, so two versions of the same record would otherwise
// shadow each other.
func ParseSchema(schemaType, text string, refs []Reference, lookup ReferenceLookup) (*Schema, error) {
	if schemaType != "" && !strings.EqualFold(schemaType, SchemaTypeAvro) {
		return nil, fmt.Errorf("%w: schema type %q is not supported, this registry only stores AVRO schemas", ErrInvalidSchema, schemaType)
	}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("%w: empty schema", ErrInvalidSchema)
	}
	cache := &avro.SchemaCache{}
	type subjectVersion struct {
		subject string
		version int
	}
	loaded := map[subjectVersion]bool{}
	var load func(refs []Reference, depth int) error
	load = func(refs []Reference, depth int) error {
		if depth > 32 {
			return fmt.Errorf("%w: references nested deeper than 32 levels", ErrInvalidSchema)
		}
		for _, ref := range refs {
			key := subjectVersion{ref.Subject, ref.Version}
			if loaded[key] {
				continue
			}
			loaded[key] = true
			if lookup == nil {
				return fmt.Errorf("%w: reference %q: subject %q version %d not found", ErrInvalidSchema, ref.Name, ref.Subject, ref.Version)
			}
			refText, refRefs, ok := lookup(ref.Subject, ref.Version)
			if !ok {
				return fmt.Errorf("%w: reference %q: subject %q version %d not found", ErrInvalidSchema, ref.Name, ref.Subject, ref.Version)
			}
			if err := load(refRefs, depth+1); err != nil {
				return err
			}
			if _, err := avro.ParseWithCache(refText, "", cache); err != nil {
				return fmt.Errorf("%w: reference %q (subject %q version %d): %v", ErrInvalidSchema, ref.Name, ref.Subject, ref.Version, err)
			}
		}
		return nil
	}
	if err := load(refs, 0); err != nil {
		return nil, err
	}
	parsed, err := avro.ParseWithCache(text, "", cache)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	stored := text
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(text)) == nil {
		stored = buf.String()
	}
	return &Schema{Text: stored, References: append([]Reference(nil), refs...), parsed: parsed}, nil
}

// identity is what makes two registrations "the same schema": the full
// normalized form (hamba's JSON form, which keeps defaults, aliases, docs
// and custom properties but not whitespace or attribute order) plus the
// references. The Parsing Canonical Form is not enough: it drops defaults
// and aliases, which change compatibility.
func (s *Schema) identity() string {
	h := sha256.New()
	full, err := json.Marshal(s.parsed)
	if err != nil {
		full = []byte(s.parsed.String())
	}
	h.Write([]byte(SchemaTypeAvro))
	h.Write([]byte{0})
	h.Write(full)
	h.Write([]byte{0})
	refs, _ := json.Marshal(s.References)
	h.Write(refs)
	return hex.EncodeToString(h.Sum(nil))
}

// normalized returns the schema in Confluent's "normalize" sense: one
// canonical text for every way of writing the same schema, and the
// references sorted and without duplicates. Without references the text
// is hamba's full JSON form (attribute order and whitespace fixed;
// defaults, docs, aliases, logical types and custom properties kept);
// with references that form would inline the referenced types, so the
// submitted JSON is re-encoded with sorted keys instead.
func (s *Schema) normalized() (string, []Reference) {
	refs := slices.Clone(s.References)
	slices.SortFunc(refs, func(a, b Reference) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.Version, b.Version))
	})
	refs = slices.Compact(refs)
	if len(refs) == 0 {
		if b, err := json.Marshal(s.parsed); err == nil {
			return string(b), refs
		}
		return s.Text, refs
	}
	var generic any
	if err := json.Unmarshal([]byte(s.Text), &generic); err != nil {
		return s.Text, refs
	}
	b, err := json.Marshal(generic) // maps encode with sorted keys
	if err != nil {
		return s.Text, refs
	}
	return string(b), refs
}

// resolvedIdentity identifies the schema with every reference inlined, so
// that a look-up with a fully inlined schema finds a registration that
// used references (Confluent's canLookup).
func (s *Schema) resolvedIdentity() string {
	h := sha256.New()
	full, err := json.Marshal(s.parsed)
	if err != nil {
		full = []byte(s.parsed.String())
	}
	h.Write([]byte(SchemaTypeAvro))
	h.Write([]byte{0})
	h.Write(full)
	return hex.EncodeToString(h.Sum(nil))
}
