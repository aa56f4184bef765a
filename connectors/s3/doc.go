package s3

const sinkDoc = `The s3 sink writes the records of its topics into objects of an S3 bucket (AWS S3 or an
S3-compatible store through store.url), with the configuration names, key layout, partitioners
and rotation rules of Confluent's S3 sink connector, so a Confluent configuration carries over.

Objects. Each Kafka partition's records go into objects named
  <topics.dir>/<topic>/<encoded partition>/<topic>+<kafka partition>+<start offset><extension>
where the start offset (the offset of the object's first record) is zero-padded to
filename.offset.zero.pad.width digits and the extension is .json, .json.gz, .avro or
.<codec>.parquet. The encoded partition comes from partitioner.class:
  DefaultPartitioner    topics/orders/partition=0/orders+0+0000000000.json
  FieldPartitioner      topics/orders/region=eu/orders+0+0000000042.json (partition.field.name=region)
  HourlyPartitioner     topics/orders/year=2024/month=01/day=07/hour=15/orders+0+0000001000.json
  DailyPartitioner      topics/orders/year=2024/month=01/day=07/orders+0+0000001000.json
  TimeBasedPartitioner  the time bucket (partition.duration.ms) formatted with path.format
JSON objects hold one value per line as Kafka Connect's JsonConverter writes payloads
(schemas.enable=false); Avro and Parquet objects hold one schema each (a record of another
schema completes the objects and starts new ones, Confluent's schema.compatibility=NONE).
Record values only are written (not keys or headers: Confluent's store.kafka.keys and
store.kafka.headers are not implemented).

Rotation. The objects open for a Kafka partition (one per encoded partition) are completed
together, and new ones started, when flush.size records were written into them, when a record's
time is rotate.interval.ms past the first record's time (or, with rotate.file.on.partition.change,
its encoded partition changes), when rotate.schedule.interval.ms of wall-clock time comes round,
when a record needs an object beyond partitioner.max.open.files, or when the value schema
changes. Only then does the partition's committable offset move past
their records (PreCommit), so the consumer offset never passes a record that is not in a
completed object.

Uploads stream: an object's bytes go out in parts of s3.part.size through a multipart upload
as they are written, so memory is one part per open object at most, whatever the object's size
(a buffer grows with its object up to that; Parquet also holds one row group of at most
s3.part.size); an object smaller than one part is sent with a single PUT when completed. With
FieldPartitioner or a time-based partitioner a Kafka partition has one open object per encoded
partition in its current rotation, so memory grows with their number: bound it with
partitioner.max.open.files.

Failures: network failures, throttling and server errors (5xx) are retried by the S3 client
(s3.part.retries), then by the worker with backoff (errors.retry.*) without losing or repeating
a byte; a refused access (403) stops the task at once with a message naming the bucket and
endpoint. A record that cannot be written (a null value under behavior.on.null.values=fail, a
value the format cannot hold, a field the partitioner cannot read) goes to the error handler:
the task stops under errors.tolerance=none, the record is dead-lettered under all.

Exactly once. An object's key depends only on its records (topic, Kafka partition, encoded
partition, first offset), and a completed upload replaces any earlier object of the same key
atomically. Records are delivered again after a crash or rebalance from the last committed
offset, which is always the start of a rotation; so whenever rotation is deterministic, the
same records are cut into the same objects and overwrite what an earlier attempt wrote: every
record is in the bucket exactly once. Rotation is deterministic, as Confluent documents, with
flush.size, partitioner.max.open.files, with rotate.interval.ms when timestamp.extractor is Record
or RecordField, and with schema changes; it is not with rotate.schedule.interval.ms or with timestamp.extractor=Wallclock
(for time-based partitioning or rotate.interval.ms), which cut and place records by the time
they are written.

Beyond Confluent, each object records in its metadata the offset where its rotation group
starts (and, if it was sent in one PUT, the offset after the group and the group's object
count). When a task is assigned a partition it finds the partition's last objects in the bucket
(recovery.scan) and seeks the consumer to the start of the last group, or past it if the group
is provably complete. Records already in completed objects are then never written again, even
if the crash came between the upload and the offset commit; and rewriting the last group from
its start overwrites each of its objects even when rotation is not deterministic. So with
recovery (DefaultPartitioner, or recovery.scan=full for the other partitioners) the sink is
exactly-once also with rotate.schedule.interval.ms; only timestamp.extractor=Wallclock with a
time-based partitioner (which places the same record in another directory when it is written
again) is at least once. Without recovery (recovery.scan=none, or auto with a non-default
partitioner) exactly-once holds under deterministic rotation only.

Limits: the recovery search assumes start offsets below 10^filename.offset.zero.pad.width (it
falls back to a full listing of the partition's directory when it meets longer ones). If a topic
is deleted and created again, its offsets start over while old objects remain: use another
topics.dir (or delete the old objects), or recovery would skip the new records. A zombie task
(one that lost its partition but still uploads) can overwrite an object with the same records;
S3 has no fencing. With bucket versioning, each overwrite keeps an older version.

Set-up: the bucket must exist. The credentials need s3:PutObject, s3:GetObject, s3:ListBucket,
s3:AbortMultipartUpload and s3:ListMultipartUploadParts on it. Add a lifecycle rule that aborts
incomplete multipart uploads after a day: a task that crashes mid-object leaves its parts
behind (the sink aborts them itself when it stops or loses a partition).`

const sinkExample = `name: orders-to-s3
type: s3
topics: orders
s3.bucket.name: datalake
s3.region: eu-west-1
format.class: json
s3.compression.type: gzip
flush.size: 10000
rotate.interval.ms: 600000
partitioner.class: HourlyPartitioner
locale: en-US
timezone: UTC
timestamp.extractor: Record
`

const sourceDoc = `The s3 source reads objects of an S3 bucket into Kafka, in key order. By default
(mode=RESTORE_BACKUP) it reads what the s3 sink (or Confluent's S3 sink) wrote under topics.dir:
objects named <topics.dir>/<topic>/<encoded partition>/<topic>+<partition>+<offset><extension>
with the extension of format.class (.json or .json.gz, .avro, .parquet), each record going back
to its topic (or topic) and Kafka partition, in the original order within each directory (for
DefaultPartitioner, the whole partition in offset order). Other keys are skipped and counted in
a warning. mode=GENERIC reads every object under topics.dir, whatever its name, into topic or the
topic chosen by topic.regex.list, letting the producer choose the partition. (When partitions
are restored, the destination topic needs at least as many partitions as the source had.) Values are written
as read (JSON: schemaless; Avro and Parquet: with the file's schema); records have no key.

Offsets: the objects of one stream (one Kafka partition in one directory for the sink's layout,
one directory in GENERIC mode) form a source partition {"bucket", "prefix"}, whose offset
{"object", "position", "complete"} names the last object read and how many of its items are in
Kafka. A restarted task lists the bucket again, skips the objects of each stream up to the
committed one, and resumes inside it after the committed item: resume is exact, so the source
supports exactly-once delivery (KIP-618) with the worker's exactly_once_v2 guarantee. This
relies on new objects of a stream sorting after the ones read, which holds for the sink's keys
(zero-padded growing offsets) and for names that grow with time; an object added with a key
that sorts before the last one read in its directory is not read, and a changed object is not
read again.

Polling: every s3.poll.interval.ms the task lists the prefix again and reads new objects.
With s3.poll.new.objects=false it reads what is there when it starts and then finishes, so
a run with --until-done ends. tasks.max splits the streams between tasks by a hash of their
prefix (each task lists the whole prefix). An object that cannot be read in the format is
handed to the error handler (dead-lettered with its key under errors.tolerance=all, which also
takes single malformed JSON lines); network failures are retried.

Set-up: the credentials need s3:ListBucket and s3:GetObject.`

const sourceExample = `name: restore-orders
type: s3
s3.bucket.name: datalake
s3.region: eu-west-1
format.class: json
topics.dir: topics
s3.poll.new.objects: false
`
