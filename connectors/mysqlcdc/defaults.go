package mysqlcdc

import (
	"database/sql"
	"regexp"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
)

// Column defaults.
//
// Debezium puts a column's constant DEFAULT into its field's schema (the
// Connect default, the Avro "default"). Besides matching Debezium's
// schemas, this is what keeps a NOT NULL column added with a DEFAULT a
// BACKWARD-compatible change in a Schema Registry: a new required field
// without a default is not. Only constants are kept: expressions
// (CURRENT_TIMESTAMP, functions) and NULL leave the field without a
// default; a constant the column's converter cannot read (a zero date)
// too.

var numericLiteral = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// charsetIntroducer is a string literal's character set prefix
// (_utf8mb4'x'), which TiDB's parser restores.
var charsetIntroducer = regexp.MustCompile(`^_[A-Za-z0-9]+'`)

// constantDefault reads a default as MariaDB's information_schema and the
// DDL parser's restored text show it: string literals quoted ('abc', with
// ” for a quote), numbers bare, NULL, TRUE and FALSE bare, expressions
// as text. It returns the constant as text, or nil.
func constantDefault(s string) *string {
	s = strings.TrimSpace(s)
	if loc := charsetIntroducer.FindStringIndex(s); loc != nil {
		s = s[loc[1]-1:]
	}
	switch {
	case s == "" || strings.EqualFold(s, "null"):
		return nil
	case strings.EqualFold(s, "true"):
		v := "1"
		return &v
	case strings.EqualFold(s, "false"):
		v := "0"
		return &v
	case len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'':
		v := unquoteSQL(s[1 : len(s)-1])
		return &v
	case numericLiteral.MatchString(s):
		return &s
	}
	return nil
}

// unquoteSQL undoes the escapes of a single-quoted SQL string's body.
func unquoteSQL(s string) string {
	if !strings.ContainsAny(s, `'\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' && i+1 < len(s) && s[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(unescapeSQL(s[i]))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// catalogDefault reads information_schema.COLUMNS.COLUMN_DEFAULT: MariaDB
// (10.2.7+) quotes literals and shows expressions bare; MySQL shows
// literals bare and marks expressions DEFAULT_GENERATED in EXTRA.
func catalogDefault(v sql.NullString, extra string, mariadb bool) *string {
	if !v.Valid {
		return nil
	}
	if mariadb {
		return constantDefault(v.String)
	}
	lower := strings.ToLower(v.String)
	if strings.Contains(strings.ToLower(extra), "default_generated") || strings.HasPrefix(lower, "current_timestamp") {
		return nil
	}
	s := v.String
	return &s
}

// ddlDefault reads a DEFAULT clause of a parsed CREATE or ALTER TABLE.
func ddlDefault(e ast.ExprNode) *string {
	if e == nil {
		return nil
	}
	var b strings.Builder
	if err := e.Restore(format.NewRestoreCtx(format.RestoreStringSingleQuotes|format.RestoreKeyWordUppercase, &b)); err != nil {
		return nil
	}
	return constantDefault(b.String())
}

// withDefault gives the column's field the default value, converted as
// the snapshot converts the column's text; a default it cannot convert is
// left out.
func (p *columnPlan) withDefault(text *string) {
	if text == nil || p.fromSQL == nil {
		return
	}
	v, err := p.fromSQL([]byte(*text))
	if err != nil || v == nil {
		return
	}
	s := *p.schema
	s.Default = v
	p.schema = &s
}
