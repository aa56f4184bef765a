package console

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	havro "github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/internal/schematool"
)

// The Confluent wire format: magic byte 0, the writer schema id as a 4-byte
// big-endian integer, then the Avro binary body.
const headerSize = 5

func appendHeader(dst []byte, id int) []byte {
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint32(dst, uint32(id))
}

// maxReferenceDepth bounds schema-reference chains.
const maxReferenceDepth = 32

// parseRegistered parses a registry schema, with its references, into a
// cache of its own: hamba/avro's global cache keeps one schema per full
// name, so two versions of one record would collide in it.
func parseRegistered(ctx context.Context, c *schematool.Client, s *schematool.Schema) (havro.Schema, error) {
	if s.SchemaType != "" && s.SchemaType != "AVRO" {
		return nil, fmt.Errorf("schema id %d is %s, not AVRO", s.ID, s.SchemaType)
	}
	cache := &havro.SchemaCache{}
	if err := parseReferences(ctx, c, cache, s.References, map[string]bool{}, 0); err != nil {
		return nil, err
	}
	parsed, err := havro.ParseWithCache(s.Schema, "", cache)
	if err != nil {
		return nil, fmt.Errorf("schema id %d does not parse: %w", s.ID, err)
	}
	return parsed, nil
}

func parseReferences(ctx context.Context, c *schematool.Client, cache *havro.SchemaCache, refs []schematool.Reference, seen map[string]bool, depth int) error {
	if len(refs) > 0 && depth >= maxReferenceDepth {
		return fmt.Errorf("schema references nested deeper than %d", maxReferenceDepth)
	}
	for _, ref := range refs {
		key := ref.Subject + "\x00" + strconv.Itoa(ref.Version)
		if seen[key] {
			continue
		}
		seen[key] = true
		s, err := c.Version(ctx, ref.Subject, strconv.Itoa(ref.Version))
		if err != nil {
			return fmt.Errorf("reference %q: %w", ref.Name, err)
		}
		if err := parseReferences(ctx, c, cache, s.References, seen, depth+1); err != nil {
			return err
		}
		if _, err := havro.ParseWithCache(s.Schema, "", cache); err != nil {
			return fmt.Errorf("reference %q (subject %q version %d): %w", ref.Name, ref.Subject, ref.Version, err)
		}
	}
	return nil
}

// schemaCache fetches writer schemas by id once each. Not safe for
// concurrent use.
type schemaCache struct {
	client *schematool.Client
	byID   map[int]havro.Schema
}

func (c *schemaCache) get(ctx context.Context, id int) (havro.Schema, error) {
	if s, ok := c.byID[id]; ok {
		return s, nil
	}
	got, err := c.client.SchemaByID(ctx, id)
	if err != nil {
		return nil, err
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
