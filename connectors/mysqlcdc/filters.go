package mysqlcdc

import (
	"regexp"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

// filters decides what is captured: Debezium's include and exclude lists,
// anchored regular expressions matched against the whole name.
type filters struct {
	dbInclude, dbExclude       []*regexp.Regexp
	tableInclude, tableExclude []*regexp.Regexp
	colInclude, colExclude     []*regexp.Regexp
	gtidInclude, gtidExclude   []*regexp.Regexp
	ignoreBuiltin              bool
}

func compileAll(patterns []string) []*regexp.Regexp {
	out := make([]*regexp.Regexp, 0, len(patterns))
	for _, p := range patterns {
		// Checked by the spec already.
		out = append(out, regexp.MustCompile("^(?:"+p+")$"))
	}
	return out
}

func matchAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func newFilters(c *connectors.Config) (*filters, error) {
	return &filters{
		dbInclude:     compileAll(c.List("database.include.list")),
		dbExclude:     compileAll(c.List("database.exclude.list")),
		tableInclude:  compileAll(c.List("table.include.list")),
		tableExclude:  compileAll(c.List("table.exclude.list")),
		colInclude:    compileAll(c.List("column.include.list")),
		colExclude:    compileAll(c.List("column.exclude.list")),
		gtidInclude:   compileAll(c.List("gtid.source.includes")),
		gtidExclude:   compileAll(c.List("gtid.source.excludes")),
		ignoreBuiltin: c.Bool("table.ignore.builtin"),
	}, nil
}

var builtinDatabases = map[string]bool{"mysql": true, "sys": true, "information_schema": true, "performance_schema": true}

// database reports whether tables of db may be captured.
func (f *filters) database(db string) bool {
	if f.ignoreBuiltin && builtinDatabases[strings.ToLower(db)] {
		return false
	}
	if len(f.dbInclude) > 0 && !matchAny(f.dbInclude, db) {
		return false
	}
	return !matchAny(f.dbExclude, db)
}

// table reports whether db.table is captured.
func (f *filters) table(db, table string) bool {
	if !f.database(db) {
		return false
	}
	id := db + "." + table
	if len(f.tableInclude) > 0 && !matchAny(f.tableInclude, id) {
		return false
	}
	return !matchAny(f.tableExclude, id)
}

// column reports whether a column goes into change event values.
func (f *filters) column(db, table, column string) bool {
	if len(f.colInclude) == 0 && len(f.colExclude) == 0 {
		return true
	}
	id := db + "." + table + "." + column
	if len(f.colInclude) > 0 && !matchAny(f.colInclude, id) {
		return false
	}
	return !matchAny(f.colExclude, id)
}

// gtidSource reports whether transactions of a GTID source (a MySQL server
// UUID, a MariaDB domain id) are followed.
func (f *filters) gtidSource(source string) bool {
	if len(f.gtidInclude) > 0 && !matchAny(f.gtidInclude, source) {
		return false
	}
	return !matchAny(f.gtidExclude, source)
}

func (f *filters) gtidFiltered() bool { return len(f.gtidInclude) > 0 || len(f.gtidExclude) > 0 }
