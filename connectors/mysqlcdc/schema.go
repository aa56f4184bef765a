package mysqlcdc

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

// Schema history.
//
// Row events carry values but no column names, and without binlog row
// metadata (MariaDB's default) not even signedness or ENUM values: decoding
// them needs the table's structure as of the event's binlog position, which
// is not the structure in the catalog once later DDL ran. The connector
// keeps that structure itself, as Debezium does with its schema history
// topic:
//
//   - The snapshot reads every captured table's structure from
//     information_schema at the snapshot's binlog position, under the
//     snapshot's locks (see snapshot.go).
//   - While streaming, each DDL statement of the binlog is parsed (TiDB's
//     MySQL grammar) and applied to the in-memory structures: CREATE,
//     ALTER (add, drop, modify, change, rename column, primary key,
//     CONVERT TO CHARACTER SET), RENAME, DROP, DROP DATABASE. A statement
//     the parser cannot read marks the tables it names stale.
//   - Every table map event of a captured table is checked against the
//     structure (column count, types and the metadata that changes
//     decoding). A mismatch, a stale or unknown table falls back to the
//     catalog, accepted only if it matches the table map; otherwise
//     inconsistent.schema.handling.mode applies.
//
// Persistence. Each structure change is a schema version, numbered (seq)
// within a snapshot epoch. A version is written as the source offset of a
// table partition {"server": prefix, "table": "db.t"} carried by the
// version's record in the schema history topic; the main offset carries
// schema_seq, the number of the last version at its position. Under
// exactly-once the records, the table offsets and the main offset commit in
// one transaction. After a restart the structure of each table is its
// latest version with seq <= schema_seq: versions written after the
// position the connector restarts from are ignored (and recognised when
// the DDL is read again, so that their records are not written twice).
//
// Under at-least-once the offsets of one commit are not atomic, so each
// table partition keeps the versions from the one valid at the last
// committed main offset on (a main offset that did not land still finds
// its version), and the main offset carries the versions not yet confirmed
// durable in their table partitions (schemas_pending; a table offset that
// did not land is covered). Commit confirms them.

// tableState is one table's schema history.
type tableState struct {
	id        string
	partition map[string]any
	versions  []storedVersion // retained, ascending seq
	confirmed int64           // highest seq durable in the table partition
	schema    *tableSchema    // compiled latest version (nil: dropped)
	stale     bool            // an unparsable DDL may have changed it
}

func (t *tableState) current() *tableDef {
	if len(t.versions) == 0 {
		return nil
	}
	return t.versions[len(t.versions)-1].Def
}

// schemaState is the structure of every captured table at the position
// being processed, with its version history.
type schemaState struct {
	cfg    *config
	modes  valueModes
	epoch  string
	seq    int64
	tables map[string]*tableState
	// committedMainSeq is schema_seq of the last committed main offset: no
	// restart can need a version older than the one valid there.
	committedMainSeq int64
	// recorded are versions found in table partitions beyond the restart
	// position: written before a crash, to be produced again identically.
	recorded map[string]*tableDef // "<id>#<seq>"
	// dbCharsets caches databases' default character sets.
	dbCharsets map[string]string
}

func newSchemaState(cfg *config, modes valueModes, epoch string) *schemaState {
	return &schemaState{cfg: cfg, modes: modes, epoch: epoch, tables: map[string]*tableState{},
		recorded: map[string]*tableDef{}, dbCharsets: map[string]string{}}
}

func (s *schemaState) table(id string) *tableState {
	t := s.tables[id]
	if t == nil {
		t = &tableState{id: id, partition: map[string]any{"server": s.cfg.prefix, "table": id}}
		s.tables[id] = t
	}
	return t
}

// lookup returns the current structure of a table, or nil.
func (s *schemaState) lookup(id string) *tableDef {
	if t := s.tables[id]; t != nil {
		return t.current()
	}
	return nil
}

// addVersion records a new structure of table id (nil: dropped) and
// compiles its schemas. dup reports that the same version was already
// written before a restart: its records need not be written again.
func (s *schemaState) addVersion(id string, def *tableDef) (t *tableState, dup bool, err error) {
	t = s.table(id)
	var schema *tableSchema
	if def != nil {
		if schema, err = buildTableSchema(s.cfg, s.modes, def); err != nil {
			return nil, false, err
		}
	}
	s.seq++
	v := storedVersion{Table: id, Epoch: s.epoch, Seq: s.seq, Def: def}
	t.versions = append(t.versions, v)
	t.schema = schema
	t.stale = false
	key := fmt.Sprintf("%s#%d", id, s.seq)
	if old, ok := s.recorded[key]; ok {
		delete(s.recorded, key)
		if (old == nil && def == nil) || (old != nil && def != nil && old.equal(def)) {
			t.confirmed = s.seq
			dup = true
		}
	}
	s.prune(t)
	return t, dup, nil
}

// prune drops versions older than the one valid at the last committed main
// offset.
func (s *schemaState) prune(t *tableState) {
	base := -1
	for i, v := range t.versions {
		if v.Seq <= s.committedMainSeq {
			base = i
		}
	}
	if base > 0 {
		t.versions = append(t.versions[:0], t.versions[base:]...)
	}
}

// tableOffset is table t's partition offset: its retained versions.
func (s *schemaState) tableOffset(t *tableState) (map[string]any, error) {
	return tableOffset(t.versions)
}

// pendingJSON lists the versions not yet confirmed durable in their table
// partitions, for the main offset.
func (s *schemaState) pendingJSON() string {
	var out []storedVersion
	for _, t := range s.tables {
		for _, v := range t.versions {
			if v.Seq > t.confirmed {
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	b, _ := json.Marshal(out)
	return string(b)
}

// committed takes what the worker committed: table partitions confirm
// their versions, the main offset moves the pruning base.
func (s *schemaState) committed(offsets []connectors.SourceOffset) {
	for _, so := range offsets {
		if id, ok := so.Partition["table"].(string); ok {
			t := s.tables[id]
			if t == nil {
				continue
			}
			versions, err := parseTableOffset(so.Offset)
			if err != nil {
				continue
			}
			for _, v := range versions {
				if v.Epoch == s.epoch && v.Seq > t.confirmed {
					t.confirmed = v.Seq
				}
			}
			continue
		}
		if seq, err := offsetInt(so.Offset, "schema_seq"); err == nil && seq > s.committedMainSeq {
			if ep, _ := so.Offset["schema_epoch"].(string); ep == s.epoch {
				s.committedMainSeq = seq
			}
		}
	}
}

// load rebuilds the state at a committed main offset from the table
// partitions' versions and the offset's pending versions.
func (s *schemaState) load(main mainOffset, all []connectors.SourceOffset) error {
	s.seq = main.Seq
	s.committedMainSeq = main.Seq
	add := func(v storedVersion, confirmed bool) {
		if v.Epoch != s.epoch {
			return
		}
		if v.Seq > main.Seq {
			s.recorded[fmt.Sprintf("%s#%d", v.Table, v.Seq)] = v.Def
			return
		}
		t := s.table(v.Table)
		for _, have := range t.versions {
			if have.Seq == v.Seq {
				if confirmed && v.Seq > t.confirmed {
					t.confirmed = v.Seq
				}
				return
			}
		}
		t.versions = append(t.versions, v)
		if confirmed && v.Seq > t.confirmed {
			t.confirmed = v.Seq
		}
	}
	for _, so := range all {
		if server, _ := so.Partition["server"].(string); server != s.cfg.prefix {
			continue
		}
		id, ok := so.Partition["table"].(string)
		if !ok {
			continue
		}
		versions, err := parseTableOffset(so.Offset)
		if err != nil {
			return fmt.Errorf("mysql-cdc: schema history of %s: %w", id, err)
		}
		for _, v := range versions {
			v.Table = id
			add(v, true)
		}
	}
	for _, v := range main.Pending {
		add(v, false)
	}
	for _, t := range s.tables {
		sort.Slice(t.versions, func(i, j int) bool { return t.versions[i].Seq < t.versions[j].Seq })
		if def := t.current(); def != nil {
			schema, err := buildTableSchema(s.cfg, s.modes, def)
			if err != nil {
				return err
			}
			t.schema = schema
		}
	}
	return nil
}

// staleByName marks the known captured tables a query text names (an
// unparsable DDL): their structure is checked against the catalog at
// their next row event.
func (s *schemaState) staleByName(defaultDB, query string) []string {
	lower := strings.ToLower(query)
	var out []string
	for id, t := range s.tables {
		def := t.current()
		if def == nil {
			continue
		}
		name := strings.ToLower(def.Name)
		if !containsWord(lower, name) {
			continue
		}
		if def.DB != defaultDB && !containsWord(lower, strings.ToLower(def.DB)) {
			continue
		}
		t.stale = true
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isWordByte(s[j-1])
		after := j+len(w) >= len(s) || !isWordByte(s[j+len(w)])
		if before && after {
			return true
		}
		i = j + 1
	}
}
