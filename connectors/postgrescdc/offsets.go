package postgrescdc

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// position is a point in the change stream that a crash can resume from
// exactly: every transaction committing before lsn is done, and so are
// the first events of the one committing at lsn (pgoutput sends a
// transaction's changes in order, each time it is streamed, so counting
// them identifies a prefix). A position between transactions has
// events 0 and an lsn that no transaction commits at: the end of the last
// commit record, or just after a logical message or a keepalive's WAL end.
type position struct {
	lsn    uint64
	events int64
}

func (p position) less(q position) bool {
	return p.lsn < q.lsn || (p.lsn == q.lsn && p.events < q.events)
}

// Offset keys. Debezium's (lsn, txId, ts_usec, lsn_proc, lsn_commit,
// snapshot, last_snapshot_record, incremental_snapshot_*) keep their
// meaning for tools that read them; resume_lsn and resume_events are the
// exact resume point (position).
const (
	keyLSN             = "lsn"
	keyTxID            = "txId"
	keyTsUsec          = "ts_usec"
	keyLSNProc         = "lsn_proc"
	keyLSNCommit       = "lsn_commit"
	keyResumeLSN       = "resume_lsn"
	keyResumeEvents    = "resume_events"
	keySnapshot        = "snapshot"
	keyLastSnapshot    = "last_snapshot_record"
	keySnapshotTables  = "snapshot_tables"
	keySnapshotKey     = "snapshot_key"
	keyIncCollections  = "incremental_snapshot_collections"
	keyIncPrimaryKey   = "incremental_snapshot_primary_key"
	keyIncMaximumKey   = "incremental_snapshot_maximum_key"
	keyIncContinuation = "incremental_snapshot_continuation"
	keySnapshotVisible = "snapshot_visibility"
	// The next offset to read from the signal topic (Debezium keeps the
	// Kafka signal channel's position under this name too).
	keySignalOffset     = "incremental_snapshot_signal_offset"
	snapshotInitialType = "INITIAL"
)

// savedOffset is a decoded offset.
type savedOffset struct {
	pos        position
	snapshot   bool     // an initial snapshot was in progress
	tables     []string // its remaining tables, the current one first
	key        []string // the last key read of the current table; nil: none yet
	visible    string   // the snapshot's pg_current_snapshot()
	inc        *incrementalSaved
	lastTxID   int64
	lastLSN    uint64
	lastCommit uint64
	hasResume  bool

	signalOffset    int64 // the signal topic's next offset
	hasSignalOffset bool
}

type incrementalSaved struct {
	collections []incCollection
	key, maxKey []string
	visibility  string // continuing an initial snapshot: its pg_current_snapshot()
}

type incCollection struct {
	ID        string `json:"id"`
	Condition string `json:"additional_condition,omitempty"`
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		return int64(x), true
	case json.Number:
		i, err := x.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(x, 10, 64)
		return i, err == nil
	}
	return 0, false
}

func toStrings(v any) ([]string, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case []string:
		return x, true
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	case string:
		// Stored as JSON text.
		var out []string
		if err := json.Unmarshal([]byte(x), &out); err != nil {
			return nil, false
		}
		return out, true
	}
	return nil, false
}

// decodeOffset reads a committed offset (nil: none).
func decodeOffset(m map[string]any) (*savedOffset, error) {
	if m == nil {
		return nil, nil
	}
	o := &savedOffset{}
	if v, ok := m[keyResumeLSN]; ok {
		l, ok := toInt64(v)
		if !ok {
			return nil, fmt.Errorf("postgres-cdc: offset %s=%v is not a number", keyResumeLSN, v)
		}
		o.pos.lsn, o.hasResume = uint64(l), true
		if e, ok := m[keyResumeEvents]; ok {
			n, ok := toInt64(e)
			if !ok || n < 0 {
				return nil, fmt.Errorf("postgres-cdc: offset %s=%v is not a count", keyResumeEvents, e)
			}
			o.pos.events = n
		}
	} else {
		// An offset written by Debezium: resume at its last commit (or
		// its LSN); changes of a transaction it had partly sent come
		// again.
		for _, k := range []string{keyLSNCommit, keyLSN} {
			if v, ok := m[k]; ok {
				if l, ok := toInt64(v); ok {
					o.pos.lsn = uint64(l)
					break
				}
			}
		}
		if o.pos.lsn == 0 {
			return nil, fmt.Errorf("postgres-cdc: offset %v has no position (%s or %s)", m, keyResumeLSN, keyLSN)
		}
	}
	if v, ok := m[keyLSN]; ok {
		if l, ok := toInt64(v); ok {
			o.lastLSN = uint64(l)
		}
	}
	if v, ok := m[keyLSNCommit]; ok {
		if l, ok := toInt64(v); ok {
			o.lastCommit = uint64(l)
		}
	}
	if v, ok := m[keyTxID]; ok {
		o.lastTxID, _ = toInt64(v)
	}
	if s, ok := m[keySnapshot].(string); ok && s != "" && s != "false" {
		o.snapshot = true
		var ok bool
		if o.tables, ok = toStrings(m[keySnapshotTables]); !ok {
			return nil, fmt.Errorf("postgres-cdc: offset %s=%v is not a list of tables", keySnapshotTables, m[keySnapshotTables])
		}
		if o.key, ok = toStrings(m[keySnapshotKey]); !ok {
			return nil, fmt.Errorf("postgres-cdc: offset %s=%v is not a key", keySnapshotKey, m[keySnapshotKey])
		}
		o.visible, _ = m[keySnapshotVisible].(string)
	}
	if v, ok := m[keySignalOffset]; ok && v != nil {
		n, ok := toInt64(v)
		if !ok || n < 0 {
			return nil, fmt.Errorf("postgres-cdc: offset %s=%v is not a Kafka offset", keySignalOffset, v)
		}
		o.signalOffset, o.hasSignalOffset = n, true
	}
	if v, ok := m[keyIncCollections]; ok && v != nil {
		inc := &incrementalSaved{}
		text, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("postgres-cdc: offset %s=%v is not JSON text", keyIncCollections, v)
		}
		if err := json.Unmarshal([]byte(text), &inc.collections); err != nil {
			return nil, fmt.Errorf("postgres-cdc: offset %s: %w", keyIncCollections, err)
		}
		if inc.key, ok = toStrings(m[keyIncPrimaryKey]); !ok {
			return nil, fmt.Errorf("postgres-cdc: offset %s=%v is not a key", keyIncPrimaryKey, m[keyIncPrimaryKey])
		}
		if inc.maxKey, ok = toStrings(m[keyIncMaximumKey]); !ok {
			return nil, fmt.Errorf("postgres-cdc: offset %s=%v is not a key", keyIncMaximumKey, m[keyIncMaximumKey])
		}
		inc.visibility, _ = m[keyIncContinuation].(string)
		if len(inc.collections) > 0 {
			o.inc = inc
		}
	}
	return o, nil
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
