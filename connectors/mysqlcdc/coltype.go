package mysqlcdc

import (
	"fmt"
	"strconv"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// colType is a parsed column type, from information_schema.COLUMNS'
// COLUMN_TYPE ("int(10) unsigned", "decimal(10,2)", "enum('a','b')") or
// rendered from a DDL statement in the same form.
type colType struct {
	base     string // lower-case type name: "int", "varchar", "enum", "json", ...
	unsigned bool
	length   int      // the first argument (display width, length, precision, fsp); -1 if none
	scale    int      // the second argument (decimal digits); -1 if none
	elems    []string // ENUM and SET values
}

// parseColumnType parses a COLUMN_TYPE text.
func parseColumnType(s string) (colType, error) {
	t := colType{length: -1, scale: -1}
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && isWordByte(s[i]) {
		i++
	}
	name := strings.ToLower(s[:i])
	if name == "" {
		return t, fmt.Errorf("column type %q has no name", s)
	}
	if name == "double" || name == "long" {
		// "double precision", "long varchar", "long varbinary".
		trimmed := strings.TrimLeft(s[i:], " ")
		for _, w := range []string{"precision", "varchar", "varbinary"} {
			if len(trimmed) >= len(w) && strings.EqualFold(trimmed[:len(w)], w) {
				name += " " + w
				i = len(s) - len(trimmed) + len(w)
				break
			}
		}
	}
	switch name {
	case "double precision", "real":
		name = "double"
	case "long varchar":
		name = "mediumtext"
	case "long varbinary":
		name = "mediumblob"
	case "long":
		name = "mediumtext"
	}
	t.base = name
	rest := s[i:]
	if strings.HasPrefix(rest, "(") {
		args, n, err := parseTypeArgs(rest)
		if err != nil {
			return t, fmt.Errorf("column type %q: %v", s, err)
		}
		rest = rest[n:]
		if t.base == "enum" || t.base == "set" {
			t.elems = args
		} else {
			for j, a := range args {
				v, err := strconv.Atoi(strings.TrimSpace(a))
				if err != nil {
					return t, fmt.Errorf("column type %q: argument %q is not a number", s, a)
				}
				switch j {
				case 0:
					t.length = v
				case 1:
					t.scale = v
				}
			}
		}
	}
	for _, w := range strings.Fields(strings.ToLower(rest)) {
		switch w {
		case "unsigned":
			t.unsigned = true
		case "zerofill":
			// ZEROFILL implies UNSIGNED.
			t.unsigned = true
		case "signed", "binary":
		default:
			// Attributes information_schema does not show (NOT NULL, a
			// charset) are not part of COLUMN_TYPE; ignore other words.
		}
	}
	return t, nil
}

func isWordByte(b byte) bool {
	return b == '_' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

// parseTypeArgs parses "(a,b)" or "('x','y”z')" and returns the arguments
// and the number of bytes read.
func parseTypeArgs(s string) ([]string, int, error) {
	var args []string
	i := 1
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			return nil, 0, fmt.Errorf("unterminated argument list")
		}
		if s[i] == ')' && len(args) == 0 {
			return args, i + 1, nil
		}
		if s[i] == '\'' || s[i] == '"' {
			q := s[i]
			i++
			var b strings.Builder
			for {
				if i >= len(s) {
					return nil, 0, fmt.Errorf("unterminated string")
				}
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(unescapeSQL(s[i+1]))
					i += 2
					continue
				}
				if c == q {
					if i+1 < len(s) && s[i+1] == q {
						b.WriteByte(q)
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			args = append(args, b.String())
		} else {
			j := i
			for j < len(s) && s[j] != ',' && s[j] != ')' {
				j++
			}
			args = append(args, strings.TrimSpace(s[i:j]))
			i = j
		}
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			return nil, 0, fmt.Errorf("unterminated argument list")
		}
		switch s[i] {
		case ',':
			i++
		case ')':
			return args, i + 1, nil
		default:
			return nil, 0, fmt.Errorf("unexpected %q in argument list", s[i])
		}
	}
}

func unescapeSQL(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case '0':
		return 0
	}
	return c
}

// String renders the type as COLUMN_TYPE would.
func (t colType) String() string {
	var b strings.Builder
	b.WriteString(t.base)
	switch {
	case t.base == "enum" || t.base == "set":
		b.WriteByte('(')
		for i, e := range t.elems {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('\'')
			b.WriteString(strings.ReplaceAll(e, "'", "''"))
			b.WriteByte('\'')
		}
		b.WriteByte(')')
	case t.length >= 0 && t.scale >= 0:
		fmt.Fprintf(&b, "(%d,%d)", t.length, t.scale)
	case t.length >= 0:
		fmt.Fprintf(&b, "(%d)", t.length)
	}
	if t.unsigned {
		b.WriteString(" unsigned")
	}
	return b.String()
}

// kind is the connector's classification of a column type.
type kind int

const (
	kindUnknown kind = iota
	kindTinyInt
	kindSmallInt
	kindMediumInt
	kindInt
	kindBigInt
	kindDecimal
	kindFloat
	kindDouble
	kindBit
	kindChar   // CHAR, VARCHAR, TEXT types: text in a character set
	kindBinary // BINARY, VARBINARY, BLOB types
	kindJSON   // MySQL JSON, MariaDB JSON (LONGTEXT with a json_valid check)
	kindEnum
	kindSet
	kindDate
	kindTime
	kindDateTime
	kindTimestamp
	kindYear
	kindGeometry
)

func (t colType) kind() kind {
	switch t.base {
	case "tinyint", "int1", "bool", "boolean":
		return kindTinyInt
	case "smallint", "int2":
		return kindSmallInt
	case "mediumint", "int3", "middleint":
		return kindMediumInt
	case "int", "integer", "int4":
		return kindInt
	case "bigint", "int8":
		return kindBigInt
	case "decimal", "numeric", "dec", "fixed":
		return kindDecimal
	case "float":
		return kindFloat
	case "double", "float8":
		return kindDouble
	case "bit":
		return kindBit
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "nchar", "nvarchar", "long", "long varchar":
		return kindChar
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "long varbinary":
		return kindBinary
	case "json":
		return kindJSON
	case "enum":
		return kindEnum
	case "set":
		return kindSet
	case "date":
		return kindDate
	case "time":
		return kindTime
	case "datetime":
		return kindDateTime
	case "timestamp":
		return kindTimestamp
	case "year":
		return kindYear
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection", "geomcollection":
		return kindGeometry
	}
	return kindUnknown
}

// fsp is the fractional seconds precision of a temporal type (0 when none).
func (t colType) fsp() int {
	if t.length > 0 {
		return t.length
	}
	return 0
}

// isBlobLike reports whether the type is logged as a BLOB in row events
// (TEXT and BLOB types, MariaDB's JSON).
func (t colType) isBlobLike() bool {
	switch t.base {
	case "tinytext", "text", "mediumtext", "longtext", "tinyblob", "blob", "mediumblob", "longblob", "long", "long varchar", "long varbinary":
		return true
	}
	return false
}

// binlogTypeOK reports whether a table map column type (with its metadata)
// fits this column type: the check that the connector's schema of a table
// agrees with the row events it decodes. mariadbJSON: MariaDB logs JSON as
// a BLOB.
func (t colType) binlogTypeOK(tp byte, meta uint16, mariadbJSON bool) bool {
	real := tp
	if tp == gomysql.MYSQL_TYPE_STRING && meta >= 256 {
		b0 := byte(meta >> 8)
		if b0&0x30 != 0x30 {
			real = b0 | 0x30
		} else {
			real = b0
		}
	}
	switch t.kind() {
	case kindTinyInt:
		return tp == gomysql.MYSQL_TYPE_TINY
	case kindSmallInt:
		return tp == gomysql.MYSQL_TYPE_SHORT
	case kindMediumInt:
		return tp == gomysql.MYSQL_TYPE_INT24
	case kindInt:
		return tp == gomysql.MYSQL_TYPE_LONG
	case kindBigInt:
		return tp == gomysql.MYSQL_TYPE_LONGLONG
	case kindDecimal:
		if tp != gomysql.MYSQL_TYPE_NEWDECIMAL {
			return false
		}
		prec, scale := t.decimalPrecisionScale()
		return int(meta>>8) == prec && int(meta&0xff) == scale
	case kindFloat:
		if t.scale < 0 && t.length > 24 {
			return tp == gomysql.MYSQL_TYPE_DOUBLE
		}
		return tp == gomysql.MYSQL_TYPE_FLOAT
	case kindDouble:
		return tp == gomysql.MYSQL_TYPE_DOUBLE
	case kindBit:
		n := t.length
		if n < 0 {
			n = 1
		}
		return tp == gomysql.MYSQL_TYPE_BIT && int(meta>>8)*8+int(meta&0xff) == n
	case kindChar, kindBinary:
		if t.isBlobLike() {
			return tp == gomysql.MYSQL_TYPE_BLOB
		}
		switch t.base {
		case "char", "binary", "nchar":
			return real == gomysql.MYSQL_TYPE_STRING
		}
		return tp == gomysql.MYSQL_TYPE_VARCHAR || tp == gomysql.MYSQL_TYPE_VAR_STRING
	case kindJSON:
		if mariadbJSON {
			return tp == gomysql.MYSQL_TYPE_BLOB
		}
		return tp == gomysql.MYSQL_TYPE_JSON
	case kindEnum:
		return real == gomysql.MYSQL_TYPE_ENUM
	case kindSet:
		return real == gomysql.MYSQL_TYPE_SET
	case kindDate:
		return tp == gomysql.MYSQL_TYPE_DATE || tp == gomysql.MYSQL_TYPE_NEWDATE
	case kindTime:
		return (tp == gomysql.MYSQL_TYPE_TIME2 && int(meta) == t.fsp()) || (tp == gomysql.MYSQL_TYPE_TIME && t.fsp() == 0)
	case kindDateTime:
		return (tp == gomysql.MYSQL_TYPE_DATETIME2 && int(meta) == t.fsp()) || (tp == gomysql.MYSQL_TYPE_DATETIME && t.fsp() == 0)
	case kindTimestamp:
		return (tp == gomysql.MYSQL_TYPE_TIMESTAMP2 && int(meta) == t.fsp()) || (tp == gomysql.MYSQL_TYPE_TIMESTAMP && t.fsp() == 0)
	case kindYear:
		return tp == gomysql.MYSQL_TYPE_YEAR
	case kindGeometry:
		return tp == gomysql.MYSQL_TYPE_GEOMETRY
	}
	return false
}

// decimalPrecisionScale returns M and D of DECIMAL(M,D) with MySQL's
// defaults (10, 0).
func (t colType) decimalPrecisionScale() (int, int) {
	p, s := t.length, t.scale
	if p < 0 {
		p = 10
	}
	if s < 0 {
		s = 0
	}
	return p, s
}

// typeName is Debezium's typeName of the column in schema change events
// ("INT UNSIGNED", "VARCHAR").
func (t colType) typeName() string {
	n := strings.ToUpper(t.base)
	if t.unsigned {
		n += " UNSIGNED"
	}
	return n
}
