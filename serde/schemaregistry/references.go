package schemaregistry

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/sr"
)

// MaxReferenceDepth bounds schema-reference chains, which a registry
// should never make cyclic but a misbehaving one could.
const MaxReferenceDepth = 32

// ReferenceError is a failure to fetch a referenced schema. It unwraps to
// the registry error, so the failure stays classified.
type ReferenceError struct {
	Ref sr.SchemaReference
	Err error
}

func (e *ReferenceError) Error() string {
	return fmt.Sprintf("fetch reference %q (subject %q version %d): %v", e.Ref.Name, e.Ref.Subject, e.Ref.Version, e.Err)
}

func (e *ReferenceError) Unwrap() error { return e.Err }

// References fetches the schemas that schema references, transitively,
// and returns them dependencies first, each once: parsing them in that
// order and then schema itself resolves every named type. Failures to
// fetch are [*ReferenceError]s; chains deeper than [MaxReferenceDepth]
// are an error of kind [ErrRejected].
func (c *Client) References(ctx context.Context, schema sr.Schema) ([]sr.SubjectSchema, error) {
	var out []sr.SubjectSchema
	if err := c.references(ctx, schema.References, map[string]bool{}, 0, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) references(ctx context.Context, refs []sr.SchemaReference, seen map[string]bool, depth int, out *[]sr.SubjectSchema) error {
	if len(refs) > 0 && depth >= MaxReferenceDepth {
		return &Error{Kind: ErrRejected, Err: fmt.Errorf("schema references nested deeper than %d", MaxReferenceDepth)}
	}
	for _, ref := range refs {
		key := ref.Subject + "\x00" + strconv.Itoa(ref.Version)
		if seen[key] {
			continue
		}
		seen[key] = true
		got, err := c.SchemaByVersion(ctx, ref.Subject, ref.Version)
		if err != nil {
			return &ReferenceError{Ref: ref, Err: err}
		}
		if err := c.references(ctx, got.References, seen, depth+1, out); err != nil {
			return err
		}
		*out = append(*out, got)
	}
	return nil
}
