package job

import (
	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectavro"
)

// topicSchemas are the Avro schemas (JSON text) a source of the job
// declares for a topic, as the avro converter would register them.
type topicSchemas struct{ key, value string }

// declaredSchemas asks the job's sources for the schemas they write
// (connectors.SchemaDeclarer). Sources with transforms are skipped: their
// output schemas are only known at run time.
func (j *Job) declaredSchemas(reg *connectors.Registry) map[string]topicSchemas {
	out := map[string]topicSchemas{}
	if reg == nil {
		return out
	}
	for _, c := range j.Sources {
		cc, err := connectors.ParseConnector(reg, connectors.KindSource, c.Config, connectors.ParseOptions{ConverterDefaults: j.converterDefaults("")})
		if err != nil || len(cc.Transforms) > 0 {
			continue
		}
		src, err := cc.Source.New(cc.Config)
		if err != nil {
			continue
		}
		d, ok := src.(connectors.SchemaDeclarer)
		if !ok {
			continue
		}
		for topic, s := range d.Schemas() {
			var ts topicSchemas
			if s.Key != nil && s.Key.Type == connectors.TypeStruct {
				ts.key, _ = connectavro.FromConnect(s.Key)
			}
			if s.Value != nil && s.Value.Type == connectors.TypeStruct {
				ts.value, _ = connectavro.FromConnect(s.Value)
			}
			out[topic] = ts
		}
	}
	return out
}

// declaredSchema is the Avro schema a source declares for a topic's keys
// or values ("" if none).
func (c *compiler) declaredSchema(topic string, isKey bool) string {
	ts := c.sources[topic]
	if isKey {
		return ts.key
	}
	return ts.value
}
