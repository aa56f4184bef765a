package avro

import (
	"errors"
	"fmt"

	havro "github.com/hamba/avro/v2"
)

// validateBody walks a record body with the writer schema before hamba/avro
// decodes it, because hamba/avro trusts lengths and counts in the data:
//   - it allocates a string, bytes value or array of the encoded length or
//     count before reading it, so a corrupt length costs up to its limits
//     (64 MiB, or a million array items times the item size) per record;
//   - its skip decoders, which pass over the writer's fields that the reader
//     schema lacks, loop over an array's or map's item count without
//     stopping at the end of the data: a corrupt count of 2^62 in a removed
//     array field keeps a task busy for centuries.
//
// After validateBody, every length is within the data and every count is
// bounded by the data (items of at least one byte) or by
// maxCollectionLength (items of zero bytes), so decoding allocates in
// proportion to the record and ends. It costs a small fraction of decoding:
// no allocations, one pass over the bytes.

var errTruncated = errors.New("unexpected end of data")

type bodyValidator struct {
	data  []byte
	pos   int
	items int // zero-size items seen, bounded by maxCollectionLength
}

// validateBody checks that body is exactly one well-formed value of schema.
func validateBody(schema havro.Schema, body []byte) error {
	v := bodyValidator{data: body}
	if err := v.value(schema); err != nil {
		return fmt.Errorf("at body byte %d: %w", v.pos, err)
	}
	if v.pos != len(body) {
		return errors.New("bytes left over after the value")
	}
	return nil
}

func (v *bodyValidator) varint(maxBytes int) (int64, error) {
	var u uint64
	for i := 0; i < maxBytes; i++ {
		if v.pos >= len(v.data) {
			return 0, errTruncated
		}
		b := v.data[v.pos]
		v.pos++
		u |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errors.New("varint too long")
}

func (v *bodyValidator) skip(n int64) error {
	if n < 0 || n > int64(len(v.data)-v.pos) {
		return errTruncated
	}
	v.pos += int(n)
	return nil
}

func (v *bodyValidator) lengthPrefixed() error {
	n, err := v.varint(10)
	if err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("negative length %d", n)
	}
	return v.skip(n)
}

func (v *bodyValidator) value(schema havro.Schema) error {
	switch s := schema.(type) {
	case *havro.NullSchema:
		return nil
	case *havro.RefSchema:
		return v.value(s.Schema())
	case *havro.PrimitiveSchema:
		switch s.Type() {
		case havro.Null:
			return nil
		case havro.Boolean:
			return v.skip(1)
		case havro.Int:
			_, err := v.varint(5)
			return err
		case havro.Long:
			_, err := v.varint(10)
			return err
		case havro.Float:
			return v.skip(4)
		case havro.Double:
			return v.skip(8)
		case havro.String, havro.Bytes:
			return v.lengthPrefixed()
		}
	case *havro.FixedSchema:
		return v.skip(int64(s.Size()))
	case *havro.EnumSchema:
		i, err := v.varint(5)
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(s.Symbols())) {
			return fmt.Errorf("enum index %d out of range for %s", i, s.FullName())
		}
		return nil
	case *havro.UnionSchema:
		i, err := v.varint(10)
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(s.Types())) {
			return fmt.Errorf("union index %d out of range", i)
		}
		return v.value(s.Types()[i])
	case *havro.RecordSchema:
		for _, f := range s.Fields() {
			if err := v.value(f.Type()); err != nil {
				return err
			}
		}
		return nil
	case *havro.ArraySchema:
		return v.blocks(func() error { return v.value(s.Items()) })
	case *havro.MapSchema:
		return v.blocks(func() error {
			if err := v.lengthPrefixed(); err != nil { // the key
				return err
			}
			return v.value(s.Values())
		})
	}
	return fmt.Errorf("unsupported schema type %s", schema.Type())
}

// blocks walks the blocks of an array or map, calling item per item.
func (v *bodyValidator) blocks(item func() error) error {
	for {
		count, err := v.varint(10)
		if err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		if count < 0 {
			if count == -count { // math.MinInt64
				return errors.New("invalid block count")
			}
			count = -count
			if _, err := v.varint(10); err != nil { // block size in bytes
				return err
			}
		}
		for range count {
			start := v.pos
			if err := item(); err != nil {
				return err
			}
			if v.pos == start { // zero-size items do not run out of data
				if v.items++; v.items > maxCollectionLength {
					return fmt.Errorf("more than %d zero-size items", maxCollectionLength)
				}
			}
		}
	}
}
