package mysqlcdc

import (
	"github.com/sluicehq/sluice/connectors"
)

// Schemas of schema change events (the topic named topic.prefix) and of
// the schema history topic's records, Debezium's
// io.debezium.connector.mysql.SchemaChangeKey/Value with its
// io.debezium.connector.schema.Change, Table and Column structs.
var (
	schemaChangeKeySchema = connectors.NewStruct("io.debezium.connector.mysql.SchemaChangeKey").Version(1).
				Field("databaseName", connectors.StringSchema()).MustBuild()

	historyColumnSchema = func() *connectors.Schema {
		optStr := connectors.OptionalOf(connectors.StringSchema())
		optI32 := connectors.OptionalOf(connectors.Int32Schema())
		optBool := connectors.OptionalOf(connectors.BooleanSchema())
		return connectors.NewStruct("io.debezium.connector.schema.Column").Version(1).
			Field("name", connectors.StringSchema()).
			Field("jdbcType", connectors.Int32Schema()).
			Field("nativeType", optI32).
			Field("typeName", connectors.StringSchema()).
			Field("typeExpression", optStr).
			Field("charsetName", optStr).
			Field("length", optI32).
			Field("scale", optI32).
			Field("position", connectors.Int32Schema()).
			Field("optional", optBool).
			Field("autoIncremented", optBool).
			Field("generated", optBool).
			Field("comment", optStr).
			Field("defaultValueExpression", optStr).
			Field("enumValues", connectors.OptionalOf(connectors.ArraySchema(connectors.StringSchema()))).
			MustBuild()
	}()

	historyTableSchema = connectors.NewStruct("io.debezium.connector.schema.Table").Version(1).Optional().
				Field("defaultCharsetName", connectors.OptionalOf(connectors.StringSchema())).
				Field("primaryKeyColumnNames", connectors.OptionalOf(connectors.ArraySchema(connectors.StringSchema()))).
				Field("columns", connectors.ArraySchema(historyColumnSchema)).
				Field("comment", connectors.OptionalOf(connectors.StringSchema())).
				MustBuild()

	historyChangeSchema = connectors.NewStruct("io.debezium.connector.schema.Change").Version(1).
				Field("type", connectors.StringSchema()).
				Field("id", connectors.StringSchema()).
				Field("table", historyTableSchema).
				MustBuild()

	schemaChangeValueSchema = connectors.NewStruct("io.debezium.connector.mysql.SchemaChangeValue").Version(1).
				Field("source", sourceSchema).
				Field("ts_ms", connectors.Int64Schema()).
				Field("databaseName", connectors.OptionalOf(connectors.StringSchema())).
				Field("schemaName", connectors.OptionalOf(connectors.StringSchema())).
				Field("ddl", connectors.OptionalOf(connectors.StringSchema())).
				Field("tableChanges", connectors.ArraySchema(historyChangeSchema)).
				MustBuild()

	heartbeatKeySchema = connectors.NewStruct("io.debezium.connector.common.ServerNameKey").Version(1).
				Field("serverName", connectors.StringSchema()).MustBuild()
	heartbeatValueSchema = connectors.NewStruct("io.debezium.connector.common.Heartbeat").Version(1).
				Field("ts_ms", connectors.Int64Schema()).MustBuild()
)

// java.sql.Types codes, as Debezium's MySQL DDL parser assigns them.
const (
	jdbcBit                   = -7
	jdbcTinyInt               = -6
	jdbcSmallInt              = 5
	jdbcInteger               = 4
	jdbcBigInt                = -5
	jdbcFloat                 = 6
	jdbcDouble                = 8
	jdbcDecimal               = 3
	jdbcChar                  = 1
	jdbcVarchar               = 12
	jdbcBinary                = -2
	jdbcVarbinary             = -3
	jdbcBlob                  = 2004
	jdbcDate                  = 91
	jdbcTime                  = 92
	jdbcTimestamp             = 93
	jdbcTimestampWithTimezone = 2014
	jdbcOther                 = 1111
)

func jdbcType(ct colType) int32 {
	switch ct.kind() {
	case kindTinyInt:
		return jdbcTinyInt
	case kindSmallInt:
		return jdbcSmallInt
	case kindMediumInt, kindInt, kindYear:
		return jdbcInteger
	case kindBigInt:
		return jdbcBigInt
	case kindDecimal:
		return jdbcDecimal
	case kindFloat:
		return jdbcFloat
	case kindDouble:
		return jdbcDouble
	case kindBit:
		return jdbcBit
	case kindChar:
		if ct.base == "char" || ct.base == "nchar" {
			return jdbcChar
		}
		return jdbcVarchar
	case kindEnum, kindSet:
		return jdbcChar
	case kindBinary:
		switch ct.base {
		case "binary":
			return jdbcBinary
		case "varbinary":
			return jdbcVarbinary
		}
		return jdbcBlob
	case kindDate:
		return jdbcDate
	case kindTime:
		return jdbcTime
	case kindDateTime:
		return jdbcTimestamp
	case kindTimestamp:
		return jdbcTimestampWithTimezone
	}
	return jdbcOther
}

// tableStruct renders a table's structure as Debezium's
// io.debezium.connector.schema.Table.
func tableStruct(def *tableDef) *connectors.Struct {
	if def == nil {
		return nil
	}
	t := connectors.NewStructValue(historyTableSchema)
	if def.Charset != "" {
		t.Put("defaultCharsetName", def.Charset)
	}
	pk := make([]any, len(def.PK))
	for i, k := range def.PK {
		pk[i] = k
	}
	t.Put("primaryKeyColumnNames", pk)
	cols := make([]any, len(def.Columns))
	for i, c := range def.Columns {
		ct, _ := parseColumnType(c.Type)
		s := connectors.NewStructValue(historyColumnSchema)
		s.Put("name", c.Name)
		s.Put("jdbcType", jdbcType(ct))
		s.Put("typeName", ct.typeName())
		s.Put("typeExpression", ct.typeName())
		if c.Charset != "" {
			s.Put("charsetName", c.Charset)
		}
		switch {
		case ct.kind() == kindDecimal:
			p, sc := ct.decimalPrecisionScale()
			s.Put("length", int32(p))
			s.Put("scale", int32(sc))
		case ct.length >= 0:
			s.Put("length", int32(ct.length))
			if ct.scale >= 0 {
				s.Put("scale", int32(ct.scale))
			}
		}
		s.Put("position", int32(i+1))
		s.Put("optional", c.Nullable)
		s.Put("autoIncremented", c.AutoIncrement)
		s.Put("generated", c.Generated)
		if c.Default != nil {
			s.Put("defaultValueExpression", *c.Default)
		}
		if len(ct.elems) > 0 {
			ev := make([]any, len(ct.elems))
			for k, e := range ct.elems {
				ev[k] = e
			}
			s.Put("enumValues", ev)
		}
		cols[i] = s
	}
	t.Put("columns", cols)
	return t
}

// tableIDText is Debezium's quoted table id ("db"."table").
func tableIDText(id string, def *tableDef) string {
	if def != nil {
		return `"` + def.DB + `"."` + def.Name + `"`
	}
	return id
}

// schemaChangeValue builds a schema change event (or history record).
func schemaChangeValue(source *connectors.Struct, tsMs int64, db, ddl string, changes []tableChange) *connectors.Struct {
	v := connectors.NewStructValue(schemaChangeValueSchema)
	v.Put("source", source)
	v.Put("ts_ms", tsMs)
	if db != "" {
		v.Put("databaseName", db)
	}
	if ddl != "" {
		v.Put("ddl", ddl)
	}
	list := make([]any, 0, len(changes))
	for _, c := range changes {
		ch := connectors.NewStructValue(historyChangeSchema)
		ch.Put("type", c.kind)
		id := tableIDText(c.id, c.def)
		if c.oldID != "" {
			// Debezium's id of a renamed table: old and new, comma-separated.
			id = `"` + dotted(c.oldID) + `",` + id
		}
		ch.Put("id", id)
		if t := tableStruct(c.def); t != nil {
			ch.Put("table", t)
		}
		list = append(list, ch)
	}
	v.Put("tableChanges", list)
	return v
}

func dotted(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] == '.' {
			return id[:i] + `"."` + id[i+1:]
		}
	}
	return id
}

func schemaChangeKey(db string) *connectors.Struct {
	return connectors.NewStructValue(schemaChangeKeySchema).Put("databaseName", db)
}
