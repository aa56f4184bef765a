package mysqlcdc

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	tmysql "github.com/pingcap/tidb/pkg/parser/mysql"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // literal values in parsed statements

	"github.com/sluicehq/sluice/connectors"
)

// Change types of schema change events, Debezium's.
const (
	changeCreate = "CREATE"
	changeAlter  = "ALTER"
	changeDrop   = "DROP"
)

// tableChange is one table's structure change by a DDL statement.
type tableChange struct {
	kind  string
	id    string // the table after the change ("db.table")
	oldID string // a renamed table's old id
	def   *tableDef
}

// ddlResult is what a DDL statement did to the captured tables.
type ddlResult struct {
	changes   []tableChange
	truncated []string    // captured tables truncated
	databases []string    // databases the statement is about (schema change events)
	stale     []string    // tables to check against the catalog (unparsable statement)
	catalog   [][2]string // tables whose new structure must come from the catalog
}

// catalogAccess is what DDL processing may ask the server: the structure
// of tables (CREATE TABLE ... SELECT, LIKE of an unknown table) and
// default character sets.
type catalogAccess interface {
	tableDefs(ctx context.Context, tables [][2]string) (map[string]*tableDef, error)
	databaseCharset(ctx context.Context, db string) (string, error)
}

// ddlApplier applies DDL statements to the schema state.
type ddlApplier struct {
	state             *schemaState
	filters           *filters
	mariadb           bool
	explicitTimestamp bool
	parser            *parser.Parser
}

func newDDLApplier(state *schemaState, f *filters, mariadb, explicitTimestamp bool) *ddlApplier {
	return &ddlApplier{state: state, filters: f, mariadb: mariadb, explicitTimestamp: explicitTimestamp, parser: parser.New()}
}

// isSchemaStatement reports whether a query event may change table
// structures (a quick test before parsing).
func isSchemaStatement(q string) bool {
	q = strings.TrimLeft(stripLeadingComments(q), " \t\r\n(")
	if len(q) < 4 {
		return false
	}
	for _, kw := range []string{"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"} {
		if len(q) >= len(kw) && strings.EqualFold(q[:len(kw)], kw) {
			return true
		}
	}
	return false
}

func stripLeadingComments(q string) string {
	for {
		q = strings.TrimLeft(q, " \t\r\n")
		switch {
		case strings.HasPrefix(q, "/*") && !strings.HasPrefix(q, "/*!"):
			end := strings.Index(q, "*/")
			if end < 0 {
				return q
			}
			q = q[end+2:]
		case strings.HasPrefix(q, "/*!"):
			// Versioned comments are statements for MySQL: keep the body.
			q = q[3:]
			for len(q) > 0 && q[0] >= '0' && q[0] <= '9' {
				q = q[1:]
			}
		case strings.HasPrefix(q, "-- ") || strings.HasPrefix(q, "#"):
			end := strings.IndexByte(q, '\n')
			if end < 0 {
				return ""
			}
			q = q[end+1:]
		default:
			return q
		}
	}
}

// mariadbSyntax rewrites MariaDB-only DDL syntax that does not change
// table structures into what the MySQL grammar reads.
var mariadbSyntax = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)^(\s*CREATE\s+)OR\s+REPLACE\s+(TABLE\b)`), "${1}${2}"},
	{regexp.MustCompile(`(?i)^(\s*ALTER\s+)ONLINE\s+((IGNORE\s+)?TABLE\b)`), "${1}${2}"},
	{regexp.MustCompile(`(?i)\bALGORITHM\s*=\s*NOCOPY\b`), "ALGORITHM=INPLACE"},
	{regexp.MustCompile(`(?i)\s+(WAIT\s+\d+|NOWAIT)\b`), ""},
	{regexp.MustCompile(`(?i)\s+INVISIBLE\b`), ""},
}

// normalizeMariaDB applies mariadbSyntax outside quoted text.
func normalizeMariaDB(q string) string {
	var b strings.Builder
	start := 0
	flush := func(end int) {
		seg := q[start:end]
		for _, r := range mariadbSyntax {
			if start > 0 && strings.HasPrefix(r.re.String(), "(?i)^") {
				continue
			}
			seg = r.re.ReplaceAllString(seg, r.with)
		}
		b.WriteString(seg)
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c != '\'' && c != '"' && c != '`' {
			continue
		}
		flush(i)
		j := i + 1
		for j < len(q) {
			if q[j] == '\\' && c != '`' {
				j += 2
				continue
			}
			if q[j] == c {
				if j+1 < len(q) && q[j+1] == c {
					j += 2
					continue
				}
				break
			}
			j++
		}
		if j >= len(q) {
			j = len(q) - 1
		}
		b.WriteString(q[i : j+1])
		start = j + 1
		i = j
	}
	if start < len(q) {
		flush(len(q))
	}
	return b.String()
}

// apply parses and applies one query event's DDL. defaultDB is the
// session's database when the statement ran.
func (a *ddlApplier) apply(ctx context.Context, cat catalogAccess, defaultDB, query string) (ddlResult, error) {
	var res ddlResult
	if a.mariadb {
		query = normalizeMariaDB(query)
	}
	stmts, _, err := a.parser.Parse(query, "", "")
	if err != nil {
		res.stale = a.state.staleByName(defaultDB, query)
		return res, nil
	}
	for _, stmt := range stmts {
		if err := a.applyStmt(ctx, cat, defaultDB, stmt, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func dbOf(tn *ast.TableName, defaultDB string) string {
	if tn.Schema.O != "" {
		return tn.Schema.O
	}
	return defaultDB
}

func (a *ddlApplier) addDatabase(res *ddlResult, db string) {
	for _, d := range res.databases {
		if d == db {
			return
		}
	}
	res.databases = append(res.databases, db)
}

func (a *ddlApplier) applyStmt(ctx context.Context, cat catalogAccess, defaultDB string, stmt ast.StmtNode, res *ddlResult) error {
	st := a.state
	switch s := stmt.(type) {
	case *ast.CreateTableStmt:
		if s.TemporaryKeyword != ast.TemporaryNone {
			return nil
		}
		db, name := dbOf(s.Table, defaultDB), s.Table.Name.O
		if !a.filters.table(db, name) {
			return nil
		}
		id := db + "." + name
		if st.lookup(id) != nil && s.IfNotExists {
			return nil
		}
		a.addDatabase(res, db)
		var def *tableDef
		switch {
		case s.ReferTable != nil:
			if src := st.lookup(dbOf(s.ReferTable, defaultDB) + "." + s.ReferTable.Name.O); src != nil {
				def = src.clone()
				def.DB, def.Name = db, name
			}
		case s.Select != nil:
			// CREATE TABLE ... SELECT: the columns come from the query.
		default:
			d, err := a.defFromCreate(ctx, cat, db, name, s)
			if err != nil {
				return err
			}
			def = d
		}
		if def == nil {
			res.catalog = append(res.catalog, [2]string{db, name})
			return nil
		}
		res.changes = append(res.changes, tableChange{kind: changeCreate, id: id, def: def})
	case *ast.AlterTableStmt:
		db, name := dbOf(s.Table, defaultDB), s.Table.Name.O
		id := db + "." + name
		cur := st.lookup(id)
		if cur == nil {
			if a.filters.table(db, name) {
				// Captured but unknown (created while the connector did
				// not follow it): the catalog at the next row event.
				a.addDatabase(res, db)
				res.stale = append(res.stale, id)
			}
			for _, spec := range s.Specs {
				if spec.Tp == ast.AlterTableRenameTable && spec.NewTable != nil {
					ndb := dbOf(spec.NewTable, db)
					if a.filters.table(ndb, spec.NewTable.Name.O) {
						a.addDatabase(res, ndb)
						res.catalog = append(res.catalog, [2]string{ndb, spec.NewTable.Name.O})
					}
				}
			}
			return nil
		}
		a.addDatabase(res, db)
		def, err := a.applyAlter(cur.clone(), s.Specs)
		if err != nil {
			// The statement ran on the server, so the connector's
			// structure is wrong: check it against the catalog.
			res.stale = append(res.stale, id)
			return nil
		}
		newID := def.id()
		switch {
		case newID == id:
			if !def.equal(cur) {
				res.changes = append(res.changes, tableChange{kind: changeAlter, id: id, def: def})
			}
		case a.filters.table(def.DB, def.Name):
			a.addDatabase(res, def.DB)
			res.changes = append(res.changes, tableChange{kind: changeDrop, id: id, def: cur})
			res.changes = append(res.changes, tableChange{kind: changeCreate, id: newID, oldID: id, def: def})
		default:
			res.changes = append(res.changes, tableChange{kind: changeDrop, id: id, def: cur})
		}
	case *ast.DropTableStmt:
		if s.IsView || s.TemporaryKeyword != ast.TemporaryNone {
			return nil
		}
		for _, tn := range s.Tables {
			db := dbOf(tn, defaultDB)
			id := db + "." + tn.Name.O
			if cur := st.lookup(id); cur != nil {
				a.addDatabase(res, db)
				res.changes = append(res.changes, tableChange{kind: changeDrop, id: id, def: cur})
			}
		}
	case *ast.RenameTableStmt:
		// Pairs apply in order (RENAME TABLE a TO b, b TO c): track the
		// structures as the statement goes.
		moved := map[string]*tableDef{}
		lookup := func(id string) *tableDef {
			if d, ok := moved[id]; ok {
				return d
			}
			return st.lookup(id)
		}
		for _, p := range s.TableToTables {
			odb, ndb := dbOf(p.OldTable, defaultDB), dbOf(p.NewTable, defaultDB)
			oldID, newID := odb+"."+p.OldTable.Name.O, ndb+"."+p.NewTable.Name.O
			cur := lookup(oldID)
			moved[oldID] = nil
			if cur != nil {
				a.addDatabase(res, odb)
				res.changes = append(res.changes, tableChange{kind: changeDrop, id: oldID, def: cur})
			}
			if !a.filters.table(ndb, p.NewTable.Name.O) {
				continue
			}
			a.addDatabase(res, ndb)
			if cur == nil {
				res.catalog = append(res.catalog, [2]string{ndb, p.NewTable.Name.O})
				continue
			}
			def := cur.clone()
			def.DB, def.Name = ndb, p.NewTable.Name.O
			moved[newID] = def
			res.changes = append(res.changes, tableChange{kind: changeCreate, id: newID, oldID: oldID, def: def})
		}
	case *ast.TruncateTableStmt:
		db := dbOf(s.Table, defaultDB)
		id := db + "." + s.Table.Name.O
		if st.lookup(id) != nil {
			res.truncated = append(res.truncated, id)
		}
	case *ast.DropDatabaseStmt:
		db := s.Name.O
		delete(st.dbCharsets, db)
		for id, t := range st.tables {
			if def := t.current(); def != nil && def.DB == db {
				a.addDatabase(res, db)
				res.changes = append(res.changes, tableChange{kind: changeDrop, id: id, def: def})
			}
		}
	case *ast.CreateDatabaseStmt:
		a.databaseOptions(s.Name.O, s.Options)
		if a.filters.database(s.Name.O) {
			a.addDatabase(res, s.Name.O)
		}
	case *ast.AlterDatabaseStmt:
		db := s.Name.O
		if s.AlterDefaultDatabase || db == "" {
			db = defaultDB
		}
		a.databaseOptions(db, s.Options)
		if a.filters.database(db) {
			a.addDatabase(res, db)
		}
	}
	return nil
}

func (a *ddlApplier) databaseOptions(db string, opts []*ast.DatabaseOption) {
	for _, o := range opts {
		switch o.Tp {
		case ast.DatabaseOptionCharset:
			a.state.dbCharsets[db] = strings.ToLower(o.Value)
		case ast.DatabaseOptionCollate:
			if _, ok := a.state.dbCharsets[db]; !ok {
				a.state.dbCharsets[db] = charsetOfCollation(strings.ToLower(o.Value))
			}
		}
	}
}

// tableCharset is the default character set a new table gets: its own
// option, else its database's.
func (a *ddlApplier) defaultCharset(ctx context.Context, cat catalogAccess, db string) (string, error) {
	if cs, ok := a.state.dbCharsets[db]; ok {
		return cs, nil
	}
	cs, err := cat.databaseCharset(ctx, db)
	if err != nil {
		return "", connectors.Retriable(fmt.Errorf("mysql-cdc: default character set of database %q: %w", db, err))
	}
	a.state.dbCharsets[db] = cs
	return cs, nil
}

func tableOptionsCharset(opts []*ast.TableOption) (cs string, convert bool) {
	for _, o := range opts {
		switch o.Tp {
		case ast.TableOptionCharset:
			cs = strings.ToLower(o.StrValue)
			if o.UintValue == ast.TableOptionCharsetWithConvertTo {
				convert = true
			}
		case ast.TableOptionCollate:
			if cs == "" {
				cs = charsetOfCollation(strings.ToLower(o.StrValue))
			}
		}
	}
	return cs, convert
}

func (a *ddlApplier) defFromCreate(ctx context.Context, cat catalogAccess, db, name string, s *ast.CreateTableStmt) (*tableDef, error) {
	def := &tableDef{DB: db, Name: name}
	cs, _ := tableOptionsCharset(s.Options)
	if cs == "" {
		var err error
		if cs, err = a.defaultCharset(ctx, cat, db); err != nil {
			return nil, err
		}
	}
	def.Charset = cs
	for _, cd := range s.Cols {
		c, pk, err := a.columnFromDef(cd, cs)
		if err != nil {
			// A type the parser does not map: the catalog decides.
			return nil, nil
		}
		def.Columns = append(def.Columns, c)
		if pk {
			def.PK = []string{c.Name}
		}
	}
	for _, con := range s.Constraints {
		if con.Tp == ast.ConstraintPrimaryKey {
			setPrimaryKey(def, con)
		}
	}
	return def, nil
}

func setPrimaryKey(def *tableDef, con *ast.Constraint) {
	def.PK = nil
	for _, k := range con.Keys {
		if k.Column == nil {
			continue
		}
		if i := def.columnIndex(k.Column.Name.O); i >= 0 {
			def.PK = append(def.PK, def.Columns[i].Name)
			def.Columns[i].Nullable = false
		}
	}
}

// columnFromDef converts a parsed column definition; pk reports an inline
// PRIMARY KEY.
func (a *ddlApplier) columnFromDef(cd *ast.ColumnDef, tableCharset string) (column, bool, error) {
	c := column{Name: cd.Name.Name.O, Nullable: true}
	ft := cd.Tp
	if ft == nil {
		return c, false, fmt.Errorf("column %q has no type", c.Name)
	}
	ct := colType{length: -1, scale: -1}
	cs := strings.ToLower(ft.GetCharset())
	if cs == "" && ft.GetCollate() != "" {
		cs = charsetOfCollation(strings.ToLower(ft.GetCollate()))
	}
	binary := cs == "binary"
	flen, dec := ft.GetFlen(), ft.GetDecimal()
	ct.unsigned = tmysql.HasUnsignedFlag(ft.GetFlag())
	text := false
	switch ft.GetType() {
	case tmysql.TypeTiny:
		ct.base = "tinyint"
		if flen == 1 {
			ct.length = 1
		}
	case tmysql.TypeShort:
		ct.base = "smallint"
	case tmysql.TypeInt24:
		ct.base = "mediumint"
	case tmysql.TypeLong:
		ct.base = "int"
	case tmysql.TypeLonglong:
		ct.base = "bigint"
	case tmysql.TypeNewDecimal:
		ct.base = "decimal"
		ct.length, ct.scale = flen, dec
		if ct.length < 0 {
			ct.length = 10
		}
		if ct.scale < 0 {
			ct.scale = 0
		}
	case tmysql.TypeFloat:
		ct.base = "float"
		if flen >= 0 && dec >= 0 {
			ct.length, ct.scale = flen, dec
		} else if flen > 24 {
			ct.base = "double"
		}
	case tmysql.TypeDouble:
		ct.base = "double"
		if flen >= 0 && dec >= 0 {
			ct.length, ct.scale = flen, dec
		}
	case tmysql.TypeBit:
		ct.base = "bit"
		ct.length = flen
		if ct.length < 0 {
			ct.length = 1
		}
	case tmysql.TypeString:
		ct.base, text = "char", !binary
		if binary {
			ct.base = "binary"
		}
		ct.length = flen
		if ct.length < 0 {
			ct.length = 1
		}
	case tmysql.TypeVarchar, tmysql.TypeVarString:
		ct.base, text = "varchar", !binary
		if binary {
			ct.base = "varbinary"
		}
		ct.length = flen
	case tmysql.TypeTinyBlob, tmysql.TypeBlob, tmysql.TypeMediumBlob, tmysql.TypeLongBlob:
		size := map[byte]string{tmysql.TypeTinyBlob: "tiny", tmysql.TypeBlob: "", tmysql.TypeMediumBlob: "medium", tmysql.TypeLongBlob: "long"}[ft.GetType()]
		if binary {
			ct.base = size + "blob"
		} else {
			ct.base, text = size+"text", true
		}
	case tmysql.TypeDate, tmysql.TypeNewDate:
		ct.base = "date"
	case tmysql.TypeDuration:
		ct.base = "time"
		if dec > 0 {
			ct.length = dec
		}
	case tmysql.TypeDatetime:
		ct.base = "datetime"
		if dec > 0 {
			ct.length = dec
		}
	case tmysql.TypeTimestamp:
		ct.base = "timestamp"
		if dec > 0 {
			ct.length = dec
		}
	case tmysql.TypeYear:
		ct.base = "year"
	case tmysql.TypeEnum:
		ct.base, text = "enum", true
		ct.elems = append([]string(nil), ft.GetElems()...)
	case tmysql.TypeSet:
		ct.base, text = "set", true
		ct.elems = append([]string(nil), ft.GetElems()...)
	case tmysql.TypeJSON:
		ct.base = "json"
		if a.mariadb {
			// MariaDB's JSON is LONGTEXT utf8mb4_bin.
			cs, text = "utf8mb4", true
		}
	case tmysql.TypeGeometry:
		ct.base = "geometry"
	default:
		return c, false, fmt.Errorf("column %q: type code %d is not supported", c.Name, ft.GetType())
	}
	c.Type = ct.String()
	pk := false
	explicitNull := false
	for _, o := range cd.Options {
		switch o.Tp {
		case ast.ColumnOptionNotNull:
			c.Nullable = false
			explicitNull = true
		case ast.ColumnOptionNull:
			c.Nullable = true
			explicitNull = true
		case ast.ColumnOptionPrimaryKey:
			c.Nullable = false
			pk = true
		case ast.ColumnOptionAutoIncrement:
			c.AutoIncrement = true
		case ast.ColumnOptionDefaultValue:
			c.Default = ddlDefault(o.Expr)
		case ast.ColumnOptionGenerated:
			c.Generated = true
		case ast.ColumnOptionCollate:
			if cs == "" {
				cs = charsetOfCollation(strings.ToLower(o.StrValue))
			}
		}
	}
	if ct.base == "timestamp" && !explicitNull && !a.explicitTimestamp {
		// explicit_defaults_for_timestamp=OFF: TIMESTAMP columns are NOT
		// NULL unless declared NULL.
		c.Nullable = false
	}
	if text {
		if cs == "" {
			cs = tableCharset
		}
		c.Charset = cs
	}
	return c, pk, nil
}

// applyAlter applies ALTER TABLE specifications to a copy of a table.
func (a *ddlApplier) applyAlter(def *tableDef, specs []*ast.AlterTableSpec) (*tableDef, error) {
	place := func(c column, pos *ast.ColumnPosition, at int) error {
		// at: the index the column had (modify/change), -1 for new ones.
		if at >= 0 && (pos == nil || pos.Tp == ast.ColumnPositionNone) {
			def.Columns[at] = c
			return nil
		}
		if at >= 0 {
			def.Columns = append(def.Columns[:at], def.Columns[at+1:]...)
		}
		switch {
		case pos == nil || pos.Tp == ast.ColumnPositionNone:
			def.Columns = append(def.Columns, c)
		case pos.Tp == ast.ColumnPositionFirst:
			def.Columns = append([]column{c}, def.Columns...)
		default:
			i := def.columnIndex(pos.RelativeColumn.Name.O)
			if i < 0 {
				return fmt.Errorf("AFTER %s: no such column", pos.RelativeColumn.Name.O)
			}
			def.Columns = append(def.Columns[:i+1], append([]column{c}, def.Columns[i+1:]...)...)
		}
		return nil
	}
	renamePK := func(old, new string) {
		for i, k := range def.PK {
			if equalFoldASCII(k, old) {
				def.PK[i] = new
			}
		}
	}
	for _, spec := range specs {
		switch spec.Tp {
		case ast.AlterTableAddColumns:
			for _, cd := range spec.NewColumns {
				if spec.IfNotExists && def.columnIndex(cd.Name.Name.O) >= 0 {
					continue
				}
				c, pk, err := a.columnFromDef(cd, def.Charset)
				if err != nil {
					return nil, err
				}
				if err := place(c, spec.Position, -1); err != nil {
					return nil, err
				}
				if pk {
					def.PK = []string{c.Name}
				}
			}
			for _, con := range spec.NewConstraints {
				if con.Tp == ast.ConstraintPrimaryKey {
					setPrimaryKey(def, con)
				}
			}
		case ast.AlterTableDropColumn:
			name := spec.OldColumnName.Name.O
			i := def.columnIndex(name)
			if i < 0 {
				if spec.IfExists {
					continue
				}
				return nil, fmt.Errorf("DROP COLUMN %s: no such column", name)
			}
			def.Columns = append(def.Columns[:i], def.Columns[i+1:]...)
			pk := def.PK[:0]
			for _, k := range def.PK {
				if !equalFoldASCII(k, name) {
					pk = append(pk, k)
				}
			}
			def.PK = pk
		case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
			if len(spec.NewColumns) == 0 {
				continue
			}
			cd := spec.NewColumns[0]
			old := cd.Name.Name.O
			if spec.Tp == ast.AlterTableChangeColumn && spec.OldColumnName != nil {
				old = spec.OldColumnName.Name.O
			}
			i := def.columnIndex(old)
			if i < 0 {
				if spec.IfExists {
					continue
				}
				return nil, fmt.Errorf("%s: no such column", old)
			}
			c, pk, err := a.columnFromDef(cd, def.Charset)
			if err != nil {
				return nil, err
			}
			wasPK := false
			for _, k := range def.PK {
				if equalFoldASCII(k, old) {
					wasPK = true
				}
			}
			if wasPK {
				c.Nullable = false
			}
			if err := place(c, spec.Position, i); err != nil {
				return nil, err
			}
			renamePK(old, c.Name)
			if pk {
				def.PK = []string{c.Name}
			}
		case ast.AlterTableAlterColumn:
			// ALTER COLUMN c SET DEFAULT v / DROP DEFAULT.
			if len(spec.NewColumns) == 0 {
				continue
			}
			nc := spec.NewColumns[0]
			i := def.columnIndex(nc.Name.Name.O)
			if i < 0 {
				return nil, fmt.Errorf("ALTER COLUMN %s: no such column", nc.Name.Name.O)
			}
			def.Columns[i].Default = nil
			// TiDB's grammar gives SET DEFAULT's value an option of no
			// type (ColumnOptionNoOption); DROP DEFAULT none.
			for _, o := range nc.Options {
				if o.Tp == ast.ColumnOptionDefaultValue || (o.Tp == ast.ColumnOptionNoOption && o.Expr != nil) {
					def.Columns[i].Default = ddlDefault(o.Expr)
				}
			}
		case ast.AlterTableRenameColumn:
			old, nw := spec.OldColumnName.Name.O, spec.NewColumnName.Name.O
			i := def.columnIndex(old)
			if i < 0 {
				return nil, fmt.Errorf("RENAME COLUMN %s: no such column", old)
			}
			def.Columns[i].Name = nw
			renamePK(old, nw)
		case ast.AlterTableAddConstraint:
			if spec.Constraint != nil && spec.Constraint.Tp == ast.ConstraintPrimaryKey {
				setPrimaryKey(def, spec.Constraint)
			}
		case ast.AlterTableDropPrimaryKey:
			def.PK = nil
		case ast.AlterTableRenameTable:
			if spec.NewTable != nil {
				def.DB = dbOf(spec.NewTable, def.DB)
				def.Name = spec.NewTable.Name.O
			}
		case ast.AlterTableOption:
			cs, convert := tableOptionsCharset(spec.Options)
			if cs == "" {
				continue
			}
			def.Charset = cs
			if convert {
				for i := range def.Columns {
					c := &def.Columns[i]
					ct, err := parseColumnType(c.Type)
					if err != nil {
						return nil, err
					}
					switch ct.kind() {
					case kindChar, kindEnum, kindSet:
						c.Charset = cs
					}
				}
			}
		}
	}
	return def, nil
}
