package mysqlcdc

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// binlogPos is a restart point in the binlog with Debezium's offset fields:
// File and Pos are where reading restarts (the start of the transaction in
// progress, or the event after the last complete one), GTIDs the set of
// transactions completely processed (the transaction in progress excluded),
// Event the number of events of the transaction in progress already
// processed, Row the number of rows of the next event already emitted.
type binlogPos struct {
	File     string
	Pos      uint32
	GTIDs    string
	Event    int64
	Row      int
	ServerID uint32
	TsSec    int64
}

// mainOffset is the offset of the connector's main source partition
// {"server": topic.prefix}: the binlog position with Debezium's keys, the
// snapshot flag while a snapshot runs, and the schema history bookkeeping
// (see schema.go): the snapshot epoch, the number of the last schema
// version at this position and the versions not yet confirmed durable in
// their table partitions.
type mainOffset struct {
	binlogPos
	Snapshot bool
	Epoch    string
	Seq      int64
	Pending  []storedVersion
}

// storedVersion is a schema version as offsets store it.
type storedVersion struct {
	Table string    `json:"table"`
	Epoch string    `json:"epoch"`
	Seq   int64     `json:"seq"`
	Def   *tableDef `json:"def,omitempty"` // nil: dropped
}

func (o mainOffset) toMap(pendingJSON string) map[string]any {
	m := map[string]any{
		"file": o.File,
		"pos":  int64(o.Pos),
	}
	if o.GTIDs != "" {
		m["gtids"] = o.GTIDs
	}
	if o.Event != 0 {
		m["event"] = o.Event
	}
	if o.Row != 0 {
		m["row"] = int64(o.Row)
	}
	if o.ServerID != 0 {
		m["server_id"] = int64(o.ServerID)
	}
	if o.TsSec != 0 {
		m["ts_sec"] = o.TsSec
	}
	if o.Snapshot {
		m["snapshot"] = true
	}
	m["schema_epoch"] = o.Epoch
	m["schema_seq"] = o.Seq
	if pendingJSON != "" {
		m["schemas_pending"] = pendingJSON
	}
	return m
}

func parseMainOffset(m map[string]any) (mainOffset, error) {
	var o mainOffset
	var err error
	o.File, _ = m["file"].(string)
	if o.File == "" {
		return o, fmt.Errorf("offset %v has no binlog file", m)
	}
	pos, err := offsetInt(m, "pos")
	if err != nil {
		return o, err
	}
	o.Pos = uint32(pos)
	o.GTIDs, _ = m["gtids"].(string)
	if o.Event, err = offsetInt(m, "event"); err != nil {
		return o, err
	}
	row, err := offsetInt(m, "row")
	if err != nil {
		return o, err
	}
	o.Row = int(row)
	sid, err := offsetInt(m, "server_id")
	if err != nil {
		return o, err
	}
	o.ServerID = uint32(sid)
	if o.TsSec, err = offsetInt(m, "ts_sec"); err != nil {
		return o, err
	}
	switch v := m["snapshot"].(type) {
	case bool:
		o.Snapshot = v
	case string:
		o.Snapshot = v == "true"
	}
	o.Epoch, _ = m["schema_epoch"].(string)
	if o.Seq, err = offsetInt(m, "schema_seq"); err != nil {
		return o, err
	}
	if p, _ := m["schemas_pending"].(string); p != "" {
		if err := json.Unmarshal([]byte(p), &o.Pending); err != nil {
			return o, fmt.Errorf("offset field schemas_pending: %w", err)
		}
	}
	return o, nil
}

// offsetInt reads a whole number of an offset (0 when absent): offsets come
// back from the offsets topic with int64 numbers, or as text from tools.
func offsetInt(m map[string]any, key string) (int64, error) {
	switch v := m[key].(type) {
	case nil:
		return 0, nil
	case int64:
		return v, nil
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case float64:
		return int64(v), nil
	case json.Number:
		return v.Int64()
	case string:
		return strconv.ParseInt(v, 10, 64)
	}
	return 0, fmt.Errorf("offset field %q is %T, not a number", key, m[key])
}

// tableOffset is the offset of a table partition {"server", "table"}: the
// retained schema versions of the table.
func tableOffset(versions []storedVersion) (map[string]any, error) {
	b, err := json.Marshal(versions)
	if err != nil {
		return nil, err
	}
	return map[string]any{"schema_versions": string(b)}, nil
}

func parseTableOffset(m map[string]any) ([]storedVersion, error) {
	s, _ := m["schema_versions"].(string)
	if s == "" {
		return nil, nil
	}
	var out []storedVersion
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("offset field schema_versions: %w", err)
	}
	return out, nil
}
