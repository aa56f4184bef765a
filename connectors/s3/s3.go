// Package s3 is the s3 connector: a sink that writes Kafka records into
// objects of an S3-compatible store with the layout, partitioners and
// rotation settings of Confluent's S3 sink connector, exactly once; and a
// source that reads such objects (or any objects under a prefix) back
// into Kafka with exact offsets.
//
// Register adds both to a registry; the connector type is "s3" for the
// source and the sink. The S3 client is minio-go.
package s3

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // timezone ids work without the system's zoneinfo

	"github.com/sluicehq/sluice/connectors"
)

// Register registers the s3 source and sink.
func Register(reg *connectors.Registry) error {
	if err := reg.AddSink(SinkPlugin()); err != nil {
		return err
	}
	return reg.AddSource(SourcePlugin())
}

// SinkPlugin returns the s3 sink's plugin declaration.
func SinkPlugin() connectors.SinkPlugin {
	return connectors.SinkPlugin{
		Info: connectors.Info{
			Name:    "s3",
			Aliases: []string{"io.confluent.connect.s3.S3SinkConnector", "S3SinkConnector"},
			Summary: "Writes records into S3 objects (JSON lines, Avro, Parquet), partitioned and rotated as Confluent's S3 sink, exactly once.",
			Doc:     sinkDoc,
			Spec:    connectors.Spec{Fields: sinkFields(), Check: checkSinkConfig},
			Example: sinkExample,
		},
		ExactlyOnce: true,
		New: func(cfg *connectors.Config) (connectors.Sink, error) {
			c, err := newSinkConfig(cfg)
			if err != nil {
				return nil, err
			}
			return &sink{cfg: c}, nil
		},
	}
}

// SourcePlugin returns the s3 source's plugin declaration.
func SourcePlugin() connectors.SourcePlugin {
	return connectors.SourcePlugin{
		Info: connectors.Info{
			Name:    "s3",
			Aliases: []string{"io.confluent.connect.s3.source.S3SourceConnector", "S3SourceConnector"},
			Summary: "Reads S3 objects written by the s3 sink (restoring topics and partitions) or any objects under a prefix, with exact offsets.",
			Doc:     sourceDoc,
			Spec:    connectors.Spec{Fields: sourceFields(), Check: checkSourceConfig},
			Example: sourceExample,
		},
		ExactlyOnce: true,
		New: func(cfg *connectors.Config) (connectors.Source, error) {
			c, err := newSourceConfig(cfg)
			if err != nil {
				return nil, err
			}
			return &source{cfg: c}, nil
		},
	}
}

func sinkFields() []connectors.ConfigField {
	fields := connectionFields()
	return append(fields, []connectors.ConfigField{
		{Name: "format.class", Type: connectors.FieldString, Required: true, Check: checkFormat,
			Doc: "The object format: " + formatClassDoc},
		{Name: "flush.size", Type: connectors.FieldInt, Required: true, Check: connectors.AtLeast(1),
			Doc: "Records written into a Kafka partition's objects before they are completed (committed) and new ones started. Deterministic: objects cut by it are the same when records are delivered again, which exactly-once relies on."},
		{Name: "rotate.interval.ms", Type: connectors.FieldDuration, Default: -1,
			Doc: "Complete a partition's objects when a record's time (by timestamp.extractor) is this much later than the time of the first record in them, or (with rotate.file.on.partition.change) when a record belongs to another encoded partition than the previous one. Deterministic with timestamp.extractor Record or RecordField. Unlike Confluent, which ignores it unless the partitioner is time based, it applies with every partitioner. -1: off."},
		{Name: "rotate.schedule.interval.ms", Type: connectors.FieldDuration, Default: -1,
			Doc: "Complete a partition's open objects at every multiple of this interval of wall-clock time, counted from midnight in timezone (which is then required), whatever their size; when a rotation is due the task asks the worker for a commit, so objects complete on time even when no records come and offset.flush.interval.ms is longer. Not deterministic: see the connector's exactly-once conditions. -1: off."},
		{Name: "rotate.file.on.partition.change", Type: connectors.FieldBool, Default: true,
			Doc: "With rotate.interval.ms: complete the open objects when a record's encoded partition differs from the previous record's (one open object at a time), as Confluent does."},
		{Name: "partitioner.class", Type: connectors.FieldString, Default: partitionerDefault, Check: checkPartitioner,
			Doc: "How records are placed in directories below <topics.dir>/<topic>/: DefaultPartitioner (partition=<kafka partition>), FieldPartitioner (<field>=<value> for each partition.field.name), TimeBasedPartitioner (path.format of the record's time bucket), HourlyPartitioner ('year'=YYYY/'month'=MM/'day'=dd/'hour'=HH), DailyPartitioner ('year'=YYYY/'month'=MM/'day'=dd). Confluent's class names (io.confluent.connect.storage.partitioner.*) are accepted."},
		{Name: "partitioner.max.open.files", Type: connectors.FieldInt, Default: -1,
			Doc: "The most objects open at once for one Kafka partition (one per encoded partition): a record for another encoded partition first completes the open ones, as in Confluent. It bounds memory with FieldPartitioner and time-based partitioners; deterministic. -1: no limit."},
		{Name: "partition.field.name", Type: connectors.FieldList,
			Doc: "FieldPartitioner: the value fields to partition by, in order (dotted paths reach nested fields). Integer, string and boolean fields of struct values, and of schemaless map values (JSON without schema; an extension of Confluent's)."},
		{Name: "partition.duration.ms", Type: connectors.FieldDuration, Default: -1,
			Doc: "TimeBasedPartitioner: the length of a time partition; buckets are aligned to local time in timezone."},
		{Name: "path.format", Type: connectors.FieldString,
			Doc: "TimeBasedPartitioner: the directory of a time bucket as a Joda-Time DateTimeFormat pattern, as in Confluent: 'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH gives year=2024/month=01/day=07/hour=15. Quoted text is literal; text fields (MMM, EEE, a) need an English locale."},
		{Name: "locale", Type: connectors.FieldString,
			Doc: "Time-based partitioners: the locale of dates (required, as in Confluent; en-US for example). Only English month and day names are available."},
		{Name: "timezone", Type: connectors.FieldString,
			Doc: "Time-based partitioners and rotate.schedule.interval.ms: the time zone, as a zone id (UTC, America/New_York) or an offset (+01:00). Required by them, as in Confluent."},
		{Name: "timestamp.extractor", Type: connectors.FieldString, Default: extractorWallclock,
			Allowed: []string{extractorWallclock, extractorRecord, extractorRecordField},
			Doc:     "Where a record's time comes from, for time-based partitioners and rotate.interval.ms: Wallclock (the time it is written: not deterministic), Record (the Kafka record timestamp) or RecordField (timestamp.field of the value)."},
		{Name: "timestamp.field", Type: connectors.FieldString, Default: "timestamp",
			Doc: "RecordField: the value field holding the time (dotted path for nested fields): a Timestamp, an int32/int64 of epoch milliseconds, or a string of epoch milliseconds or an ISO-8601 date-time."},
		{Name: "topics.dir", Type: connectors.FieldString, Default: "topics",
			Doc: "The top directory (key prefix) of the objects; empty: the bucket's root."},
		{Name: "directory.delim", Type: connectors.FieldString, Default: "/", Check: nonEmpty,
			Doc: "The separator of directories in object keys."},
		{Name: "file.delim", Type: connectors.FieldString, Default: "+", Check: nonEmpty,
			Doc: "The separator of topic, partition and offset in object names."},
		{Name: "filename.offset.zero.pad.width", Type: connectors.FieldInt, Default: 10, Check: connectors.AtLeast(1),
			Doc: "Digits the start offset in object names is zero-padded to, so that names sort by offset."},
		{Name: "s3.part.size", Type: connectors.FieldInt, Default: 25 << 20, Check: checkPartSize,
			Doc: "The part size of multipart uploads, in bytes (5 MiB to 2 GiB). Objects are streamed: each open object holds at most one part in memory (Parquet also buffers one row group of at most this size, uncompressed), and objects smaller than a part are uploaded with one PUT."},
		{Name: "s3.compression.type", Type: connectors.FieldString, Default: "none", Allowed: []string{"none", "gzip"},
			Doc: "Compression of JSON objects: gzip writes <name>.json.gz. Avro and Parquet compress inside the file (avro.codec, parquet.codec)."},
		{Name: "s3.compression.level", Type: connectors.FieldInt, Default: -1, Check: gzipLevel,
			Doc: "The gzip level, 0 (none) to 9 (best); -1: the default (6)."},
		{Name: "avro.codec", Type: connectors.FieldString, Default: "null", Allowed: []string{"null", "deflate", "snappy", "zstandard"},
			Doc: "The compression codec of Avro container files."},
		{Name: "parquet.codec", Type: connectors.FieldString, Default: "snappy", Allowed: []string{"none", "snappy", "gzip", "zstd"},
			Doc: "The compression codec of Parquet files; it appears in their names as in Confluent (.snappy.parquet, .gz.parquet, .zstd.parquet, .parquet for none)."},
		{Name: "json.decimal.format", Type: connectors.FieldString, Default: "BASE64", Allowed: []string{"BASE64", "NUMERIC"},
			Doc: "How JSON objects write Decimal values: BASE64 (the unscaled bytes, Kafka Connect's default) or NUMERIC (a number)."},
		{Name: "behavior.on.null.values", Type: connectors.FieldString, Default: "fail", Allowed: []string{"fail", "ignore"},
			Doc: "Records with a null value (tombstones): fail hands them to the error handler (the task stops under errors.tolerance=none, the record is dead-lettered under all); ignore skips them."},
		{Name: "recovery.scan", Type: connectors.FieldString, Default: "auto", Allowed: []string{"auto", "full", "none"},
			Doc: "How a task finds, when it is assigned a partition, where the partition's output in the bucket ends, to resume after complete objects whatever the committed offset says (see the exactly-once section). auto: with DefaultPartitioner, search the partition's directory (a few small listings); with other partitioners, no scan. full: with other partitioners, list every object of the topic's directory (cost grows with the topic's history). none: never; rely on deterministic object keys."},
	}...)
}

func sourceFields() []connectors.ConfigField {
	fields := connectionFields()
	return append(fields, []connectors.ConfigField{
		{Name: "format.class", Type: connectors.FieldString, Required: true, Check: checkFormat,
			Doc: "The object format: " + formatClassDoc + " JSON objects whose key ends in .gz are decompressed."},
		{Name: "mode", Type: connectors.FieldString, Default: modeRestore, Allowed: []string{modeRestore, modeGeneric},
			Doc: "RESTORE_BACKUP: read objects written by the s3 sink (or Confluent's) under topics.dir, with the format's extension, restoring each record's topic and Kafka partition from the key. GENERIC: read every object under topics.dir (any key layout) into topic, or into the topic of the first topic.regex.list entry matching the key."},
		{Name: "topics.dir", Type: connectors.FieldString, Default: "topics",
			Doc: "The directory (key prefix) to read; empty: the whole bucket."},
		{Name: "topic", Type: connectors.FieldString,
			Doc: "The topic to write every record to. RESTORE_BACKUP: overrides the topic from the key (the partition is kept). GENERIC: required unless topic.regex.list is set."},
		{Name: "topic.regex.list", Type: connectors.FieldList,
			Doc: "GENERIC: topic:regex pairs; an object goes to the topic of the first regular expression (Go RE2 syntax) that matches its whole key somewhere; objects matching none are not read."},
		{Name: "directory.delim", Type: connectors.FieldString, Default: "/", Check: nonEmpty,
			Doc: "The separator of directories in object keys."},
		{Name: "file.delim", Type: connectors.FieldString, Default: "+", Check: nonEmpty,
			Doc: "RESTORE_BACKUP: the separator of topic, partition and offset in object names."},
		{Name: "s3.poll.interval.ms", Type: connectors.FieldDuration, Default: 60000, Check: positiveDuration,
			Doc: "How often the prefix is listed again for new objects (each listing reads every key under it, 1,000 per request)."},
		{Name: "s3.poll.new.objects", Type: connectors.FieldBool, Default: true,
			Doc: "true: keep polling for new objects. false: bounded; read the objects present when the task starts, then finish (with --until-done, the run ends)."},
		{Name: "record.batch.max.size", Type: connectors.FieldInt, Default: 500, Check: connectors.AtLeast(1),
			Doc: "The most records one poll returns."},
	}...)
}

func nonEmpty(v any) error {
	if v.(string) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func positiveDuration(v any) error {
	if v.(time.Duration) <= 0 {
		return fmt.Errorf("must be positive, got %v", v)
	}
	return nil
}

func gzipLevel(v any) error {
	if n := v.(int64); n < -1 || n > 9 {
		return fmt.Errorf("%d is not a gzip level (-1 to 9)", n)
	}
	return nil
}

func checkPartitioner(v any) error {
	if _, ok := normalizePartitioner(v.(string)); !ok {
		return fmt.Errorf("unknown partitioner %q (want one of %s, or Confluent's io.confluent.connect.storage.partitioner.* class names)", v, strings.Join(partitionerNames, ", "))
	}
	return nil
}

// checkSinkConfig validates settings that depend on each other, with
// the same code that builds the sink, so `sluice validate` finds every
// problem without connecting anywhere.
func checkSinkConfig(cfg *connectors.Config) error {
	var errs []error
	if _, err := newPartitioner(cfg); err != nil {
		errs = append(errs, err)
	}
	if _, err := newExtractor(cfg); err != nil {
		errs = append(errs, err)
	}
	if f, _ := parseFormat(cfg.String("format.class")); cfg.String("s3.compression.type") == "gzip" && f != "json" {
		errs = append(errs, connectors.Errorf(cfg.Key("s3.compression.type"), "gzip applies to format.class=json; set avro.codec or parquet.codec instead"))
	}
	if cfg.Duration("rotate.schedule.interval.ms") > 0 {
		if _, err := loadZone(cfg.String("timezone")); err != nil {
			errs = append(errs, connectors.Errorf(cfg.Key("timezone"), "required by rotate.schedule.interval.ms: %v", err))
		}
	}
	if d := cfg.Duration("rotate.interval.ms"); d > 0 && d < time.Millisecond {
		errs = append(errs, connectors.Errorf(cfg.Key("rotate.interval.ms"), "must be at least 1 ms"))
	}
	if err := checkCredentials(cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkSourceConfig(cfg *connectors.Config) error {
	var errs []error
	if _, err := parseTopicRegexes(cfg); err != nil {
		errs = append(errs, err)
	}
	if cfg.String("mode") == modeGeneric && cfg.String("topic") == "" && len(cfg.List("topic.regex.list")) == 0 {
		errs = append(errs, connectors.Errorf(cfg.Key("topic"), "mode=GENERIC needs topic or topic.regex.list"))
	}
	if err := checkCredentials(cfg); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkCredentials(cfg *connectors.Config) error {
	id, secret := cfg.String("aws.access.key.id"), cfg.Secret("aws.secret.access.key")
	switch {
	case id != "" && secret.IsZero():
		return connectors.Errorf(cfg.Key("aws.secret.access.key"), "required with aws.access.key.id")
	case id == "" && !secret.IsZero():
		return connectors.Errorf(cfg.Key("aws.access.key.id"), "required with aws.secret.access.key")
	}
	return nil
}
