package job

import "github.com/sluicehq/sluice/connectors"

// The job file format, as shapes. docs/jobs.md and the JSON Schema are
// generated from these (TestDocsUpToDate fails when they differ).

var (
	exprShape     = &Shape{Kind: ShapeExpr, Doc: "An expression (expr-lang syntax: `value.amount * 2`, `key + \"-x\"`, `value.name != nil ? upper(value.name) : \"\"`), compiled and type-checked at start."}
	durationShape = &Shape{Kind: ShapeDuration}
	nameShape     = &Shape{Kind: ShapeString}

	// serdeShape is a key or value format.
	serdeShape = &Shape{Kind: ShapeAnyOf, Name: "serde",
		Doc: "How keys or values are read and written: `string`, `bytes`, `long`, `int`, `double`, `json` (schemaless), `avro` (the Schema Registry's latest schema of the topic's subject, read at start), or a map: `{avro: {schema: FILE.avsc}}`, `{avro: {subject: NAME}}`, `{json: {schema: FILE.avsc}}` (JSON values with an Avro schema's record structure).",
		AnyOf: []*Shape{
			{Kind: ShapeString, Enum: []string{"string", "bytes", "long", "int", "double", "json", "avro"}},
			{Kind: ShapeOneOf, Name: "format", Variants: []*Field{
				{Name: "avro", Shape: &Shape{Kind: ShapeObject, Fields: []*Field{
					{Name: "schema", Shape: nameShape, Doc: "An .avsc file (relative to the job file): the type of the values, registered under the subject at first write."},
					{Name: "subject", Shape: nameShape, Doc: "A registry subject whose latest schema is the type (default `<topic>-key` / `<topic>-value`)."},
				}}, Doc: "Avro in the Confluent wire format through the Schema Registry."},
				{Name: "json", Shape: &Shape{Kind: ShapeObject, Fields: []*Field{
					{Name: "schema", Shape: nameShape, Doc: "An .avsc file describing the JSON objects' fields and types."},
				}}, Doc: "JSON objects with a declared record structure."},
			}},
		}}

	inputFields = []*Field{
		{Name: "topic", Shape: nameShape, Required: true, Doc: "The topic to read."},
		{Name: "key", Shape: serdeShape, Default: "string", Doc: "The key format."},
		{Name: "value", Shape: serdeShape, Default: "json", Doc: "The value format."},
		{Name: "timestamp", Shape: exprShape, Doc: "Event time in milliseconds computed from the record (`value.ordertime`); default: the record's timestamp."},
		{Name: "offset.reset", Shape: &Shape{Kind: ShapeString, Enum: []string{"earliest", "latest"}}, Default: "earliest", Doc: "Where to start when the application has no committed offset (auto.offset.reset)."},
	}

	streamShape = &Shape{Kind: ShapeObject, Name: "input", Fields: inputFields,
		Doc: "A stream (KStream), a table (KTable: the latest value per key, changelogged) or a global table (GlobalKTable: every partition on every instance) over a topic."}

	windowShape = &Shape{Kind: ShapeObject, Name: "window", Doc: "Windows for the following aggregation (Kafka Streams' windows). Exactly one of tumbling, hopping, sliding, session.",
		Fields: []*Field{
			{Name: "tumbling", Shape: durationShape, Doc: "Tumbling windows of this size."},
			{Name: "hopping", Shape: &Shape{Kind: ShapeObject, Fields: []*Field{
				{Name: "size", Shape: durationShape, Required: true, Doc: "Window size."},
				{Name: "advance", Shape: durationShape, Required: true, Doc: "Advance between window starts."},
			}}, Doc: "Hopping windows."},
			{Name: "sliding", Shape: durationShape, Doc: "Sliding windows with this maximum time difference between records."},
			{Name: "session", Shape: durationShape, Doc: "Session windows with this inactivity gap."},
			{Name: "grace", Shape: durationShape, Default: "0s", Doc: "How long after a window's end late records are still accepted."},
		}}

	// fieldsOrExpr is an expression or a map of output fields, each an
	// expression: the fields make a record whose types are inferred.
	fieldsOrExpr = &Shape{Kind: ShapeAnyOf, Name: "projection",
		Doc:   "An expression, or a map of field names to expressions that builds a record (its Avro schema is inferred from the expressions' types).",
		AnyOf: []*Shape{exprShape, {Kind: ShapeDict, Elem: exprShape}}}

	toShape = &Shape{Kind: ShapeAnyOf, AnyOf: []*Shape{nameShape, {Kind: ShapeObject, Fields: []*Field{
		{Name: "topic", Shape: nameShape, Required: true, Doc: "The topic to write."},
		{Name: "key", Shape: serdeShape, Doc: "The key format (default: the stream's)."},
		{Name: "value", Shape: serdeShape, Doc: "The value format (default: the stream's; `avro` registers the inferred schema)."},
	}}}}

	joinShape = &Shape{Kind: ShapeObject, Doc: "Join with a table, a global table or another stream. The value expression sees `left` and `right` (nil when unmatched in a left/outer join).",
		Fields: []*Field{
			{Name: "table", Shape: nameShape, Doc: "A table (stream-table join: each record looks up the table's current value of its key)."},
			{Name: "global.table", Shape: nameShape, Doc: "A global table (stream-global join, looked up with `key.expr`)."},
			{Name: "stream", Shape: nameShape, Doc: "Another stream (windowed stream-stream join, needs `within`)."},
			{Name: "type", Shape: &Shape{Kind: ShapeString, Enum: []string{"inner", "left", "outer"}}, Default: "inner", Doc: "Join type (outer only for stream-stream)."},
			{Name: "within", Shape: durationShape, Doc: "Stream-stream: records join when their timestamps differ by at most this."},
			{Name: "grace", Shape: durationShape, Doc: "Stream-stream: grace period for late records."},
			{Name: "key.expr", Shape: exprShape, Doc: "Global table: the table key to look up, from `key` and `value`."},
			{Name: "value", Shape: fieldsOrExpr, Required: true, Doc: "The joined value."},
		}}

	aggregateShape = &Shape{Kind: ShapeObject, Doc: "A general aggregation: a record built by `initial`, updated by `add` for every record (`aggregate` is the current record, `value` the new one, `key` its key).",
		Fields: []*Field{
			{Name: "initial", Shape: &Shape{Kind: ShapeDict, Elem: exprShape}, Required: true, Doc: "The fields of the initial aggregate (constant expressions)."},
			{Name: "add", Shape: &Shape{Kind: ShapeDict, Elem: exprShape}, Required: true, Doc: "The new value of each field."},
		}}

	stepShape = &Shape{Kind: ShapeOneOf, Name: "step", Doc: "One step of a pipeline: a map with exactly one of these keys.",
		Variants: []*Field{
			{Name: "filter", Shape: exprShape, Doc: "Keep records for which the expression is true (`key`, `value`, `timestamp`)."},
			{Name: "filterNot", Shape: exprShape, Doc: "Drop records for which the expression is true."},
			{Name: "mapValues", Shape: fieldsOrExpr, Doc: "Replace the value (key unchanged)."},
			{Name: "map", Shape: &Shape{Kind: ShapeObject, Fields: []*Field{
				{Name: "key", Shape: fieldsOrExpr, Required: true, Doc: "The new key: an expression, or fields building a record (an Avro record key with `key: avro`)."},
				{Name: "value", Shape: fieldsOrExpr, Required: true, Doc: "The new value."},
			}}, Doc: "Replace key and value (marks the stream for repartitioning before grouping or joining)."},
			{Name: "selectKey", Shape: exprShape, Doc: "Replace the key (marks the stream for repartitioning)."},
			{Name: "flatMapValues", Shape: exprShape, Doc: "One record per element of the list the expression returns."},
			{Name: "as", Shape: nameShape, Doc: "Name the stream here, so other pipelines can start `from` it."},
			{Name: "merge", Shape: &Shape{Kind: ShapeAnyOf, AnyOf: []*Shape{nameShape, {Kind: ShapeList, Elem: nameShape}}}, Doc: "Merge other streams (of the same key and value types) into this one."},
			{Name: "repartition", Shape: &Shape{Kind: ShapeObject, Fields: []*Field{
				{Name: "partitions", Shape: &Shape{Kind: ShapeInt}, Doc: "Partitions of the repartition topic (default: the input's)."},
			}}, Doc: "Write through an internal repartition topic (by the current key)."},
			{Name: "to", Shape: toShape, Doc: "Write to a topic (the pipeline may go on)."},
			{Name: "groupByKey", Shape: &Shape{Kind: ShapeAny}, Doc: "Group by the current key (`groupByKey: {}`)."},
			{Name: "groupBy", Shape: exprShape, Doc: "Group by a new key (repartitions)."},
			{Name: "window", Shape: windowShape, Doc: "Window the grouped stream."},
			{Name: "count", Shape: &Shape{Kind: ShapeAny}, Doc: "Count records per key (and window): value `{count}` (`count: {}`)."},
			{Name: "sum", Shape: exprShape, Doc: "Sum a numeric expression per key (and window): value `{sum}`."},
			{Name: "min", Shape: exprShape, Doc: "Minimum per key (and window): value `{min}`."},
			{Name: "max", Shape: exprShape, Doc: "Maximum per key (and window): value `{max}`."},
			{Name: "avg", Shape: exprShape, Doc: "Average per key (and window): value `{avg, sum, count}`."},
			{Name: "reduce", Shape: exprShape, Doc: "Combine values of a key: the expression sees `aggregate` and `value` and returns the new aggregate (same type as value)."},
			{Name: "aggregate", Shape: aggregateShape, Doc: "A general aggregation into a record."},
			{Name: "suppress", Shape: &Shape{Kind: ShapeAnyOf, AnyOf: []*Shape{
				{Kind: ShapeString, Enum: []string{"untilWindowCloses"}},
				{Kind: ShapeObject, Fields: []*Field{{Name: "untilTimeLimit", Shape: durationShape, Required: true, Doc: "Emit a key's latest value at most this often."}}},
			}}, Doc: "Emit final results only: `untilWindowCloses` (one result per window, after its grace) or `{untilTimeLimit: 10s}`."},
			{Name: "toStream", Shape: &Shape{Kind: ShapeAny}, Doc: "Turn a table (an aggregation's result) into its stream of updates; windowed results get `window_start` and `window_end` fields (`toStream: {}`)."},
			{Name: "join", Shape: joinShape, Doc: "Join with a table, global table or stream."},
		}}

	pipelineShape = &Shape{Kind: ShapeObject, Name: "pipeline", Doc: "Steps applied, in order, to the records of a stream or table.",
		Fields: []*Field{
			{Name: "name", Shape: nameShape, Doc: "The pipeline's name (processor names and inferred schema names derive from it; default: pipeline-N)."},
			{Name: "from", Shape: &Shape{Kind: ShapeAnyOf, AnyOf: []*Shape{nameShape, {Kind: ShapeList, Elem: nameShape}}}, Required: true, Doc: "The stream(s) or table to start from: inputs, or names given with `as`."},
			{Name: "steps", Shape: &Shape{Kind: ShapeList, Elem: stepShape}, Required: true, Doc: "The steps."},
		}}

	topicShape = &Shape{Kind: ShapeObject, Name: "topic", Doc: "A topic the job creates if missing.",
		Fields: []*Field{
			{Name: "partitions", Shape: &Shape{Kind: ShapeInt}, Default: "4", Doc: "Partitions."},
			{Name: "replication.factor", Shape: &Shape{Kind: ShapeInt}, Default: "-1", Doc: "Replication factor (-1: the broker's default)."},
			{Name: "config", Shape: &Shape{Kind: ShapeDict, Elem: &Shape{Kind: ShapeString}}, Doc: "Topic configs (cleanup.policy, retention.ms, ...)."},
		}}

	kafkaShape = &Shape{Kind: ShapeObject, Name: "kafka", Doc: "The Kafka cluster. Absent: an embedded broker runs in the process, keeping its data in `<state.dir>/kafka` so a restarted job resumes.",
		Fields: []*Field{
			{Name: "bootstrap.servers", Shape: nameShape, Doc: "Seed brokers, comma-separated host:port. Absent: the embedded broker."},
			{Name: "embedded.partitions", Shape: &Shape{Kind: ShapeInt}, Default: "4", Doc: "Embedded broker: partitions of auto-created topics."},
			{Name: "client.id", Shape: nameShape, Doc: "Client id prefix the brokers see."},
			{Name: "security.protocol", Shape: &Shape{Kind: ShapeString, Enum: []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}}, Default: "PLAINTEXT", Doc: "How to connect (Kafka's security.protocol)."},
			{Name: "sasl.mechanism", Shape: &Shape{Kind: ShapeString, Enum: []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "AWS_MSK_IAM"}}, Doc: "SASL mechanism, with SASL_PLAINTEXT or SASL_SSL."},
			{Name: "sasl.username", Shape: nameShape, Doc: "PLAIN and SCRAM user."},
			{Name: "sasl.password", Shape: nameShape, Doc: "PLAIN and SCRAM password; write `${VARIABLE}` to keep it out of the file (or set SLUICE_KAFKA_SASL_PASSWORD)."},
			{Name: "sasl.jaas.config", Shape: nameShape, Doc: "Java clients' JAAS line (PlainLoginModule or ScramLoginModule with username and password), instead of sasl.username and sasl.password."},
			{Name: "sasl.oauthbearer.token.file", Shape: nameShape, Doc: "OAUTHBEARER: a file holding the token, read at every authentication."},
			{Name: "sasl.oauthbearer.token.command", Shape: nameShape, Doc: "OAUTHBEARER: a shell command printing the token, run at every authentication."},
			{Name: "ssl.ca.location", Shape: nameShape, Doc: "PEM file of the CA certificates to trust (default: the system's)."},
			{Name: "ssl.certificate.location", Shape: nameShape, Doc: "PEM client certificate, for mutual TLS."},
			{Name: "ssl.key.location", Shape: nameShape, Doc: "PEM private key of the client certificate (unencrypted)."},
			{Name: "ssl.endpoint.identification.algorithm", Shape: &Shape{Kind: ShapeString, Enum: []string{"https", "none", ""}}, Default: "https", Doc: "https checks that the broker's certificate names its host; none (or empty) checks the chain only."},
		}}

	registryShape = &Shape{Kind: ShapeObject, Name: "registry", Doc: "The Schema Registry. Absent: an embedded registry runs in the process (stored in the `_schemas` topic of the cluster) when the job uses Avro. The settings apply to the topology's Avro serdes and are every connector's converter default (as schema.registry.url, basic.auth.*, bearer.auth.* and schema.registry.ssl.*).",
		Fields: []*Field{
			{Name: "url", Shape: nameShape, Doc: "The registry's URL, `http://` or `https://` (Confluent's schema.registry.url). The other keys need it: the embedded registry serves plain HTTP without authentication."},
			{Name: "basic.auth.user.info", Shape: nameShape, Doc: "`user:password` for the registry's HTTP basic auth (Confluent's basic.auth.user.info with basic.auth.credentials.source=USER_INFO); write `${VARIABLE}` to keep the password out of the file."},
			{Name: "bearer.auth.token", Shape: nameShape, Doc: "A token sent as `Authorization: Bearer <token>` (Confluent's bearer.auth.token with bearer.auth.credentials.source=STATIC_TOKEN); write `${VARIABLE}`. Not refreshed while the job runs. Not with basic.auth.user.info."},
			{Name: "ssl.ca.location", Shape: nameShape, Doc: "PEM file of the CA certificates to trust for an https url (default: the system's roots). Read when the job starts."},
			{Name: "ssl.certificate.location", Shape: nameShape, Doc: "PEM client certificate, for a registry that requires mutual TLS; with ssl.key.location."},
			{Name: "ssl.key.location", Shape: nameShape, Doc: "PEM private key (unencrypted) of ssl.certificate.location."},
		}}

	topologyShape = &Shape{Kind: ShapeObject, Name: "topology", Doc: "The streams topology: inputs over topics and pipelines of steps. It compiles onto Sluice's typed DSL (one engine).",
		Fields: []*Field{
			{Name: "streams", Shape: &Shape{Kind: ShapeDict, Elem: streamShape}, Doc: "Input streams by name."},
			{Name: "tables", Shape: &Shape{Kind: ShapeDict, Elem: streamShape}, Doc: "Input tables by name."},
			{Name: "global.tables", Shape: &Shape{Kind: ShapeDict, Elem: streamShape}, Doc: "Input global tables by name."},
			{Name: "pipelines", Shape: &Shape{Kind: ShapeList, Elem: pipelineShape}, Required: true, Doc: "The pipelines."},
		}}

	jobShape = &Shape{Kind: ShapeObject, Name: "job", Doc: "A job: sources, a streams topology and sinks, run by `sluice run` in one process.",
		Fields: []*Field{
			{Name: "job", Shape: nameShape, Required: true, Doc: "The job's name: its application id (consumer group, internal topic prefix, transactional ids) and the prefix of its connectors' names."},
			{Name: "description", Shape: nameShape, Doc: "What the job does."},
			{Name: "processing.guarantee", Shape: &Shape{Kind: ShapeString, Enum: []string{"at_least_once", "exactly_once_v2"}}, Default: "at_least_once", Doc: "at_least_once or exactly_once_v2 (sources that support it write records and offsets in Kafka transactions; sinks commit only durable output)."},
			{Name: "kafka", Shape: kafkaShape, Doc: kafkaShape.Doc},
			{Name: "registry", Shape: registryShape, Doc: registryShape.Doc},
			{Name: "state.dir", Shape: nameShape, Default: ".sluice/<job>", Doc: "Where state stores (and the embedded broker's data) live, relative to the job file."},
			{Name: "threads", Shape: &Shape{Kind: ShapeInt}, Default: "1", Doc: "Stream threads (num.stream.threads)."},
			{Name: "num.standby.replicas", Shape: &Shape{Kind: ShapeInt}, Default: "0", Doc: "Standby replicas of each stateful task on other instances of the job (num.standby.replicas): they keep a copy of the task's stores current from its changelogs, so a task moving to one of them restores only the tail. Useful when the job runs in several processes."},
			{Name: "max.warmup.replicas", Shape: &Shape{Kind: ShapeInt}, Default: "2", Doc: "Warm-up replicas assigned at once (max.warmup.replicas): a task the balancer would give to an instance without caught-up state stays where its state is, and that instance restores it as a warm-up first."},
			{Name: "probing.rebalance.interval.ms", Shape: durationShape, Default: "10m", Doc: "How long after assigning warm-up replicas the group rebalances to move warmed-up tasks (probing.rebalance.interval.ms)."},
			{Name: "acceptable.recovery.lag", Shape: &Shape{Kind: ShapeInt}, Default: "10000", Doc: "How many changelog records behind an instance's copy of a task's state may be for the instance to count as caught up (acceptable.recovery.lag): a task that needs a new owner goes to a caught-up instance when there is one."},
			{Name: "commit.interval.ms", Shape: durationShape, Doc: "How often progress is committed (default: 100 ms under exactly_once_v2, 30 s otherwise)."},
			{Name: "cache.max.bytes", Shape: &Shape{Kind: ShapeInt}, Default: "10485760", Doc: "Record cache size (statestore.cache.max.bytes)."},
			{Name: "statestore.block.cache.bytes", Shape: &Shape{Kind: ShapeInt}, Default: "67108864", Doc: "One Pebble block cache shared by every state store of the process (see DESIGN.md \"Memory budget\")."},
			{Name: "statestore.memtable.bytes", Shape: &Shape{Kind: ShapeInt}, Default: "16777216", Doc: "Pebble memtable size per task with persistent stores (up to two are held while one flushes)."},
			{Name: "fetch.max.bytes", Shape: &Shape{Kind: ShapeInt}, Default: "16777216", Doc: "Most bytes one fetch of a stream thread returns (the consumer's fetch.max.bytes)."},
			{Name: "max.partition.fetch.bytes", Shape: &Shape{Kind: ShapeInt}, Default: "262144", Doc: "Most bytes one fetch returns per partition (the consumer's max.partition.fetch.bytes); franz-go decodes whole fetches, so this bounds the decoded records held per partition."},
			{Name: "max.task.idle.ms", Shape: durationShape, Default: "0", Doc: "How long a task whose inputs are not all buffered waits for data before processing out of timestamp order (max.task.idle.ms): set it when a stream-table join must see table updates that arrive later than the stream's records."},
			{Name: "application.server", Shape: nameShape, Doc: "host:port where this instance's `--http` server is reachable by the job's other instances (Kafka Streams' application.server): a key query sent to any instance is then answered by the instance holding the key, and range queries fan out. Default: the `--http` address when it names a host and a port."},
			{Name: "topics", Shape: &Shape{Kind: ShapeDict, Elem: topicShape}, Doc: "Topics to create if missing (others are auto-created by the broker, if it allows)."},
			{Name: "sources", Shape: &Shape{Kind: ShapeDict, Elem: &Shape{Kind: ShapeConnector, Connector: connectors.KindSource}}, Doc: "Source connectors by name: `{type: TYPE, ...fields}` with Kafka Connect's keys (see `sluice connectors describe TYPE`)."},
			{Name: "topology", Shape: topologyShape, Doc: topologyShape.Doc},
			{Name: "sinks", Shape: &Shape{Kind: ShapeDict, Elem: &Shape{Kind: ShapeConnector, Connector: connectors.KindSink}}, Doc: "Sink connectors by name."},
		}}
)

// Format returns the shape of a job file (for docs and the JSON Schema).
func Format() *Shape { return jobShape }
