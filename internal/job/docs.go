package job

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

// JSONSchema returns the JSON Schema (draft 2020-12) of job files,
// generated from the same shapes that validate them, with each connector
// type's fields from its spec. Editors with a YAML language server use it
// (`# yaml-language-server: $schema=...`).
func JSONSchema(reg *connectors.Registry) ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}, reg: reg}
	root := g.shape(jobShape)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["title"] = "Sluice job"
	root["$defs"] = g.defs
	return json.MarshalIndent(root, "", "  ")
}

type schemaGen struct {
	defs map[string]any
	reg  *connectors.Registry
}

func (g *schemaGen) shape(s *Shape) map[string]any {
	out := map[string]any{}
	if s.Doc != "" {
		out["description"] = s.Doc
	}
	switch s.Kind {
	case ShapeString, ShapeExpr:
		out["type"] = "string"
		if len(s.Enum) > 0 {
			out["enum"] = s.Enum
		}
	case ShapeInt:
		out["type"] = "integer"
	case ShapeNumber:
		out["type"] = "number"
	case ShapeBool:
		out["type"] = "boolean"
	case ShapeDuration:
		out["type"] = []string{"string", "integer"}
	case ShapeObject:
		out["type"] = "object"
		props := map[string]any{}
		var req []string
		for _, f := range s.Fields {
			p := g.ref(f.Shape)
			if f.Doc != "" {
				p = withDoc(p, f.Doc, f.Default)
			}
			props[f.Name] = p
			if f.Required {
				req = append(req, f.Name)
			}
		}
		out["properties"] = props
		out["additionalProperties"] = false
		if len(req) > 0 {
			out["required"] = req
		}
	case ShapeDict:
		out["type"] = "object"
		out["additionalProperties"] = g.ref(s.Elem)
	case ShapeList:
		out["type"] = "array"
		out["items"] = g.ref(s.Elem)
	case ShapeOneOf:
		var alts []any
		for _, v := range s.Variants {
			alts = append(alts, map[string]any{
				"type": "object", "required": []string{v.Name}, "additionalProperties": false,
				"properties": map[string]any{v.Name: withDoc(g.ref(v.Shape), v.Doc, "")},
			})
		}
		out["oneOf"] = alts
	case ShapeAnyOf:
		var alts []any
		for _, a := range s.AnyOf {
			alts = append(alts, g.ref(a))
		}
		out["anyOf"] = alts
	case ShapeConnector:
		out["type"] = "object"
		out["required"] = []string{"type"}
		out["properties"] = map[string]any{"type": map[string]any{"type": "string"}}
		if g.reg != nil {
			out["allOf"] = g.connectorRules(s.Connector)
		}
	}
	return out
}

// ref emits named shapes once under $defs.
func (g *schemaGen) ref(s *Shape) map[string]any {
	if s.Name == "" {
		return g.shape(s)
	}
	if _, ok := g.defs[s.Name]; !ok {
		g.defs[s.Name] = map[string]any{} // break cycles
		g.defs[s.Name] = g.shape(s)
	}
	return map[string]any{"$ref": "#/$defs/" + s.Name}
}

func withDoc(m map[string]any, doc, def string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	if doc != "" {
		out["description"] = doc
		if def != "" {
			out["description"] = doc + " Default: " + def + "."
		}
	}
	return out
}

// connectorRules: if type is X then its fields (spec and common ones).
func (g *schemaGen) connectorRules(kind connectors.Kind) []any {
	var rules []any
	common := connectors.CommonSpec(kind)
	for _, p := range g.reg.List() {
		if p.Kind != kind {
			continue
		}
		props := map[string]any{"type": map[string]any{"const": p.Name}}
		for _, f := range append(append([]connectors.ConfigField(nil), common.Fields...), p.Spec.Fields...) {
			if f.Name == "name" || f.Name == "type" {
				continue
			}
			props[f.Name] = map[string]any{"description": f.Doc}
		}
		rules = append(rules, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"type": map[string]any{"const": p.Name}}},
			"then": map[string]any{"properties": props},
		})
	}
	return rules
}

// Markdown returns the reference of the job format (docs/jobs.md), from
// the shapes.
func Markdown(reg *connectors.Registry) string {
	var b strings.Builder
	b.WriteString("# Job files\n\n")
	b.WriteString("<!-- Generated from internal/job/format.go by `go test ./internal/job -run TestDocsUpToDate -update`; do not edit. -->\n\n")
	b.WriteString(jobShape.Doc + " Run one with `sluice run JOB.yaml`, check it with `sluice lint JOB.yaml`.\n\n")
	b.WriteString("Values may use `${VAR}` or `${VAR:-default}` from the environment (for secrets). Relative paths are relative to the job file.\n\n")
	seen := map[string]bool{}
	writeObject(&b, "Top level", jobShape, seen)
	var named []*Shape
	collectNamed(jobShape, map[*Shape]bool{}, &named)
	for _, s := range named {
		if s == jobShape || seen[s.Name] {
			continue
		}
		switch s.Kind {
		case ShapeObject:
			writeObject(&b, "`"+s.Name+"`", s, seen)
		case ShapeOneOf:
			writeOneOf(&b, s)
		case ShapeAnyOf:
			fmt.Fprintf(&b, "## `%s`\n\n%s\n\n", s.Name, s.Doc)
		}
	}
	b.WriteString("## Test files\n\n`sluice test JOB.test.yaml` runs a job's tests on the engine's test driver: no broker and no registry (records are JSON inside the test). Record types come from the job's .avsc files and the schemas its sources declare.\n\n")
	for _, s := range []*Shape{testFileShape, testCaseShape, testRecordShape} {
		writeObject(&b, "`"+s.Name+"`", s, seen)
	}
	if reg != nil {
		b.WriteString("## Connectors\n\n")
		b.WriteString("Sources and sinks take Kafka Connect's flat keys (nested YAML maps are flattened with dots: `value.converter: {type: avro, ...}` is `value.converter: avro` plus `value.converter.*`). `sluice connectors describe TYPE` lists every field.\n\n")
		b.WriteString("| kind | type | summary |\n| --- | --- | --- |\n")
		for _, p := range reg.List() {
			if p.Kind == connectors.KindSource || p.Kind == connectors.KindSink {
				fmt.Fprintf(&b, "| %s | `%s` | %s |\n", p.Kind, p.Name, p.Summary)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func collectNamed(s *Shape, visited map[*Shape]bool, out *[]*Shape) {
	if s == nil || visited[s] {
		return
	}
	visited[s] = true
	if s.Name != "" {
		*out = append(*out, s)
	}
	for _, f := range s.Fields {
		collectNamed(f.Shape, visited, out)
	}
	for _, f := range s.Variants {
		collectNamed(f.Shape, visited, out)
	}
	for _, a := range s.AnyOf {
		collectNamed(a, visited, out)
	}
	collectNamed(s.Elem, visited, out)
}

func writeObject(b *strings.Builder, title string, s *Shape, seen map[string]bool) {
	seen[s.Name] = true
	fmt.Fprintf(b, "## %s\n\n%s\n\n| key | type | default | description |\n| --- | --- | --- | --- |\n", title, s.Doc)
	for _, f := range s.Fields {
		def := f.Default
		if f.Required {
			def = "required"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", f.Name, typeName(f.Shape), def, oneLine(f.Doc))
	}
	b.WriteString("\n")
}

func writeOneOf(b *strings.Builder, s *Shape) {
	fmt.Fprintf(b, "## `%s`\n\n%s\n\n| %s | argument | description |\n| --- | --- | --- |\n", s.Name, s.Doc, s.Name)
	vs := append([]*Field(nil), s.Variants...)
	sort.SliceStable(vs, func(i, j int) bool { return false })
	for _, v := range vs {
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", v.Name, typeName(v.Shape), oneLine(v.Doc))
	}
	b.WriteString("\n")
}

func typeName(s *Shape) string {
	if s.Name != "" {
		return "`" + s.Name + "`"
	}
	switch s.Kind {
	case ShapeDict:
		return "map of " + typeName(s.Elem)
	case ShapeList:
		return "list of " + typeName(s.Elem)
	case ShapeAnyOf:
		var alts []string
		for _, a := range s.AnyOf {
			alts = append(alts, typeName(a))
		}
		return strings.Join(alts, " or ")
	case ShapeObject:
		return "map (" + fieldList(s.Fields) + ")"
	case ShapeConnector:
		return "connector"
	case ShapeAny:
		return "any"
	}
	return s.describe()
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
