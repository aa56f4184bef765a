package console

import (
	"context"
	"fmt"

	havro "github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/internal/schematool"
	"github.com/sluicehq/sluice/serde/avro"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// parseRegistered parses a registry schema, with its references, into a
// cache of its own (serde/avro's resolver): hamba/avro's global cache keeps
// one schema per full name, so two versions of one record would collide
// in it.
func parseRegistered(ctx context.Context, c *schemaregistry.Client, s sr.SubjectSchema) (havro.Schema, error) {
	if s.Type != sr.TypeAvro {
		return nil, fmt.Errorf("schema id %d is %s, not AVRO", s.ID, s.Type)
	}
	parsed, err := avro.ParseWithReferences(ctx, c, s.Schema)
	if err != nil {
		return nil, fmt.Errorf("schema id %d does not parse: %w", s.ID, schematool.Hint(err))
	}
	return parsed, nil
}

// schemaCache keeps writer schemas parsed by id (the client caches the
// registry's answers; this keeps the parsed form). Not safe for
// concurrent use.
type schemaCache struct {
	client *schemaregistry.Client
	byID   map[int]havro.Schema
}

func (c *schemaCache) get(ctx context.Context, id int) (havro.Schema, error) {
	if s, ok := c.byID[id]; ok {
		return s, nil
	}
	got, err := c.client.SchemaByID(ctx, id)
	if err != nil {
		return nil, schematool.Hint(err)
	}
	parsed, err := parseRegistered(ctx, c.client, got)
	if err != nil {
		return nil, err
	}
	if c.byID == nil {
		c.byID = map[int]havro.Schema{}
	}
	c.byID[id] = parsed
	return parsed, nil
}
