package s3

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/recordformat"
)

// formatClasses maps the accepted format.class values (case-insensitive) to
// formats: the short names and Confluent's class names, so a Confluent
// configuration works unchanged.
var formatClasses = map[string]recordformat.Format{
	"json":       recordformat.JSON,
	"jsonformat": recordformat.JSON,
	"io.confluent.connect.s3.format.json.jsonformat": recordformat.JSON,
	"avro":       recordformat.Avro,
	"avroformat": recordformat.Avro,
	"io.confluent.connect.s3.format.avro.avroformat": recordformat.Avro,
	"parquet":       recordformat.Parquet,
	"parquetformat": recordformat.Parquet,
	"io.confluent.connect.s3.format.parquet.parquetformat": recordformat.Parquet,
}

const formatClassDoc = "json (JSON lines, one value per line, as Kafka Connect's JsonConverter writes payloads), avro (Avro object container files) or parquet; Confluent's class names (io.confluent.connect.s3.format.json.JsonFormat, AvroFormat, ParquetFormat) are accepted too."

func parseFormat(s string) (recordformat.Format, bool) {
	f, ok := formatClasses[strings.ToLower(strings.TrimSpace(s))]
	return f, ok
}

func checkFormat(v any) error {
	s := v.(string)
	if _, ok := parseFormat(s); !ok {
		if strings.Contains(strings.ToLower(s), "bytearray") {
			return fmt.Errorf("%q is not supported: use json (or avro, parquet)", s)
		}
		return fmt.Errorf("unknown format %q (want json, avro or parquet, or Confluent's JsonFormat, AvroFormat, ParquetFormat)", s)
	}
	return nil
}

// parquetCodecExtensions are the file name infixes Parquet's codec names
// give Confluent's object keys (t+0+0000000000.snappy.parquet).
var parquetCodecExtensions = map[string]string{
	"none":   "",
	"snappy": ".snappy",
	"gzip":   ".gz",
	"zstd":   ".zstd",
}

func contentType(f recordformat.Format, gzip bool) string {
	switch {
	case gzip:
		return "application/gzip"
	case f == recordformat.JSON:
		return "application/x-ndjson"
	case f == recordformat.Avro:
		return "application/avro"
	case f == recordformat.Parquet:
		return "application/vnd.apache.parquet"
	}
	return "application/octet-stream"
}
