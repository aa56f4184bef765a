package s3

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// The partitioners, as Confluent's storage-common names them.
const (
	partitionerDefault = "DefaultPartitioner"
	partitionerField   = "FieldPartitioner"
	partitionerTime    = "TimeBasedPartitioner"
	partitionerHourly  = "HourlyPartitioner"
	partitionerDaily   = "DailyPartitioner"
)

var partitionerNames = []string{partitionerDefault, partitionerField, partitionerTime, partitionerHourly, partitionerDaily}

// normalizePartitioner accepts a short name or Confluent's class name
// (io.confluent.connect.storage.partitioner.DailyPartitioner).
func normalizePartitioner(s string) (string, bool) {
	short := s
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		if s[:i] != "io.confluent.connect.storage.partitioner" {
			return "", false
		}
		short = s[i+1:]
	}
	for _, n := range partitionerNames {
		if strings.EqualFold(n, short) {
			return n, true
		}
	}
	return "", false
}

// The timestamp extractors.
const (
	extractorWallclock   = "Wallclock"
	extractorRecord      = "Record"
	extractorRecordField = "RecordField"
)

// timestampExtractor gets a record's time for time-based partitioning and
// rotate.interval.ms, as Confluent's TimestampExtractor implementations.
type timestampExtractor struct {
	kind  string
	field []string // RecordField: the dotted path, split
	name  string   // the field as configured, for errors
}

// errPartition marks a record the partitioner cannot place (Confluent's
// PartitionException); the record is reported, not the task failed.
var errPartition = errors.New("s3: cannot partition record")

func (e *timestampExtractor) extract(rec *connectors.Record, now time.Time) (int64, error) {
	switch e.kind {
	case extractorWallclock:
		return now.UnixMilli(), nil
	case extractorRecord:
		if rec.Timestamp.IsZero() {
			return 0, fmt.Errorf("%w: timestamp.extractor=Record but the record has no timestamp", errPartition)
		}
		return rec.Timestamp.UnixMilli(), nil
	}
	v, schema, err := nestedValue(rec.ValueSchema, rec.Value, e.field)
	if err != nil {
		return 0, fmt.Errorf("%w: timestamp.field %q: %v", errPartition, e.name, err)
	}
	if v == nil {
		return 0, fmt.Errorf("%w: timestamp.field %q is null", errPartition, e.name)
	}
	if schema != nil {
		switch {
		case schema.Name == connectors.TimestampName:
		case schema.Type == connectors.TypeInt32, schema.Type == connectors.TypeInt64, schema.Type == connectors.TypeString:
		default:
			return 0, fmt.Errorf("%w: timestamp.field %q has unsupported type %s (want a Timestamp, int32, int64 or string)", errPartition, e.name, schema)
		}
	}
	switch t := v.(type) {
	case time.Time:
		return t.UnixMilli(), nil
	case int32:
		return int64(t), nil
	case int64:
		return t, nil
	case int:
		return int64(t), nil
	case float64:
		return int64(t), nil
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i, nil
		}
		f, err := t.Float64()
		if err != nil {
			return 0, fmt.Errorf("%w: timestamp.field %q: %q is not a number", errPartition, e.name, t)
		}
		return int64(f), nil
	case string:
		ms, err := parseTimestampString(t)
		if err != nil {
			return 0, fmt.Errorf("%w: timestamp.field %q: %v", errPartition, e.name, err)
		}
		return ms, nil
	}
	return 0, fmt.Errorf("%w: timestamp.field %q holds %T, not a timestamp", errPartition, e.name, v)
}

var numericTimestamp = regexp.MustCompile(`^-?[0-9]{1,19}$`)

// parseTimestampString reads epoch milliseconds or an ISO-8601 date-time,
// as Confluent's RecordFieldTimestampExtractor (Joda's dateTimeParser):
// without a zone, the time is taken as UTC.
func parseTimestampString(s string) (int64, error) {
	if numericTimestamp.MatchString(s) {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return v, nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("%q is neither epoch milliseconds nor an ISO-8601 date-time", s)
}

// nestedValue follows a dotted field path through structs (with their
// schemas) or maps (schemaless values), as Confluent's DataUtils. It
// returns the value and, for structs, its field schema. A path through a
// struct whose schema lacks a field is an error; a missing map key or a
// null on the way gives nil.
func nestedValue(schema *connectors.Schema, value any, path []string) (any, *connectors.Schema, error) {
	v, s := value, schema
	for i, name := range path {
		switch x := v.(type) {
		case *connectors.Struct:
			f, ok := x.Schema().Field(name)
			if !ok {
				return nil, nil, fmt.Errorf("field %q is not present in the schema", strings.Join(path[:i+1], "."))
			}
			v, s = x.At(f.Index), f.Schema
		case map[string]any:
			v, s = x[name], nil
		case nil:
			if s != nil && s.Type == connectors.TypeStruct {
				f, ok := s.Field(name)
				if !ok {
					return nil, nil, fmt.Errorf("field %q is not present in the schema", strings.Join(path[:i+1], "."))
				}
				return nil, f.Schema, nil
			}
			return nil, nil, nil
		default:
			return nil, nil, fmt.Errorf("%q is %T, not a struct or map", strings.Join(path[:i], "."), v)
		}
	}
	return v, s, nil
}

// partitioner maps records to encoded partitions (the directory part of an
// object key below the topic), as Confluent's partitioners do.
type partitioner struct {
	kind       string // one of the partitioner names; Hourly and Daily become TimeBased
	delim      string // directory.delim
	fieldPaths [][]string
	fieldNames []string
	durationMs int64
	format     *jodaFormat
	loc        *time.Location
}

// timeBased reports whether the encoded partition depends on a timestamp.
func (p *partitioner) timeBased() bool { return p.kind == partitionerTime }

// encode appends rec's encoded partition to dst. ts is the extracted
// timestamp (used by time-based partitioners only).
func (p *partitioner) encode(dst []byte, rec *connectors.Record, ts int64) ([]byte, error) {
	switch p.kind {
	case partitionerDefault:
		dst = append(dst, "partition="...)
		return strconv.AppendInt(dst, int64(rec.Partition), 10), nil
	case partitionerTime:
		return p.format.appendFormat(dst, timeBucket(p.durationMs, ts, p.loc)), nil
	}
	// FieldPartitioner. Confluent accepts Struct values only; schemaless
	// maps (JSON without schemas) are accepted here too.
	switch rec.Value.(type) {
	case *connectors.Struct, map[string]any:
	default:
		return dst, fmt.Errorf("%w: FieldPartitioner needs a struct or map value, got %T", errPartition, rec.Value)
	}
	for i, path := range p.fieldPaths {
		if i > 0 {
			dst = append(dst, p.delim...)
		}
		name := p.fieldNames[i]
		v, schema, err := nestedValue(rec.ValueSchema, rec.Value, path)
		if err != nil {
			return dst, fmt.Errorf("%w: partition.field.name %q: %v", errPartition, name, err)
		}
		dst = append(dst, name...)
		dst = append(dst, '=')
		if v == nil {
			dst = append(dst, "null"...)
			continue
		}
		if schema != nil {
			switch schema.Type {
			case connectors.TypeInt8, connectors.TypeInt16, connectors.TypeInt32, connectors.TypeInt64,
				connectors.TypeString, connectors.TypeBoolean:
			default:
				return dst, fmt.Errorf("%w: partition.field.name %q has type %s, which is not supported as a partition key (want an integer, string or boolean)", errPartition, name, schema.Type)
			}
		}
		switch x := v.(type) {
		case string:
			dst = append(dst, x...)
		case bool:
			dst = strconv.AppendBool(dst, x)
		case int8:
			dst = strconv.AppendInt(dst, int64(x), 10)
		case int16:
			dst = strconv.AppendInt(dst, int64(x), 10)
		case int32:
			dst = strconv.AppendInt(dst, int64(x), 10)
		case int64:
			dst = strconv.AppendInt(dst, x, 10)
		case int:
			dst = strconv.AppendInt(dst, int64(x), 10)
		case json.Number:
			i, err := x.Int64()
			if err != nil {
				return dst, fmt.Errorf("%w: partition.field.name %q is %s, not an integer", errPartition, name, x)
			}
			dst = strconv.AppendInt(dst, i, 10)
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return dst, fmt.Errorf("%w: partition.field.name %q is %v, not an integer", errPartition, name, x)
			}
			dst = strconv.AppendInt(dst, int64(x), 10)
		default:
			return dst, fmt.Errorf("%w: partition.field.name %q holds %T, which is not supported as a partition key (want an integer, string or boolean)", errPartition, name, v)
		}
	}
	return dst, nil
}

// newPartitioner builds the configured partitioner, checking the settings
// it needs as Confluent does (with the same field names in errors).
func newPartitioner(cfg *connectors.Config) (*partitioner, error) {
	kind, ok := normalizePartitioner(cfg.String("partitioner.class"))
	if !ok {
		return nil, connectors.Errorf(cfg.Key("partitioner.class"), "unknown partitioner %q (want one of %s)", cfg.String("partitioner.class"), strings.Join(partitionerNames, ", "))
	}
	p := &partitioner{kind: kind, delim: cfg.String("directory.delim")}
	switch kind {
	case partitionerDefault:
		return p, nil
	case partitionerField:
		names := cfg.List("partition.field.name")
		if len(names) == 0 {
			return nil, connectors.Errorf(cfg.Key("partition.field.name"), "required by FieldPartitioner: the value field(s) to partition by")
		}
		for _, n := range names {
			p.fieldNames = append(p.fieldNames, n)
			p.fieldPaths = append(p.fieldPaths, strings.Split(n, "."))
		}
		return p, nil
	}
	var errs []error
	durationMs := cfg.Duration("partition.duration.ms").Milliseconds()
	pathFormat := cfg.String("path.format")
	switch kind {
	case partitionerHourly:
		durationMs = time.Hour.Milliseconds()
		pathFormat = "'year'=YYYY" + p.delim + "'month'=MM" + p.delim + "'day'=dd" + p.delim + "'hour'=HH"
	case partitionerDaily:
		durationMs = 24 * time.Hour.Milliseconds()
		pathFormat = "'year'=YYYY" + p.delim + "'month'=MM" + p.delim + "'day'=dd"
	default:
		if durationMs <= 0 {
			errs = append(errs, connectors.Errorf(cfg.Key("partition.duration.ms"), "required by TimeBasedPartitioner: a positive duration of each time partition in milliseconds"))
		}
		if strings.TrimSpace(pathFormat) == "" || pathFormat == p.delim {
			errs = append(errs, connectors.Errorf(cfg.Key("path.format"), "required by TimeBasedPartitioner: a Joda-Time pattern such as 'year'=YYYY/'month'=MM/'day'=dd"))
		} else if p.delim != "" && strings.HasSuffix(pathFormat, p.delim) {
			pathFormat = strings.TrimSuffix(pathFormat, p.delim)
		}
	}
	locale := cfg.String("locale")
	if strings.TrimSpace(locale) == "" {
		errs = append(errs, connectors.Errorf(cfg.Key("locale"), "required by time-based partitioners (for example en-US)"))
	}
	zoneID := cfg.String("timezone")
	var loc *time.Location
	if strings.TrimSpace(zoneID) == "" {
		errs = append(errs, connectors.Errorf(cfg.Key("timezone"), "required by time-based partitioners (a zone id such as UTC or America/New_York)"))
	} else if l, err := loadZone(zoneID); err != nil {
		errs = append(errs, connectors.Errorf(cfg.Key("timezone"), "%v", err))
	} else {
		loc = l
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	english := strings.HasPrefix(strings.ToLower(locale), "en")
	f, err := compileJoda(pathFormat, loc, zoneID, english)
	if err != nil {
		return nil, connectors.Errorf(cfg.Key("path.format"), "%v", err)
	}
	p.kind, p.durationMs, p.format, p.loc = partitionerTime, durationMs, f, loc
	return p, nil
}

// newExtractor builds the timestamp.extractor; it is used by time-based
// partitioners and, with any partitioner, by rotate.interval.ms.
func newExtractor(cfg *connectors.Config) (*timestampExtractor, error) {
	kind := cfg.String("timestamp.extractor")
	e := &timestampExtractor{kind: kind}
	if kind == extractorRecordField {
		name := cfg.String("timestamp.field")
		if name == "" {
			return nil, connectors.Errorf(cfg.Key("timestamp.field"), "required by timestamp.extractor=RecordField")
		}
		e.name, e.field = name, strings.Split(name, ".")
	}
	return e, nil
}
