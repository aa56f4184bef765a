package schematool

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// A Confluent verbose compatibility answer is a list of strings: one
// "{errorType:'...', description:'...', additionalInfo:'...'}" per
// problem, followed by notes about the schema it was checked against
// ("{oldSchemaVersion: 3}", "{oldSchema: '...'}") and the level
// ("{validateFields: 'false', compatibility: 'BACKWARD'}"). Descriptions
// contain unquoted single quotes, so the fields are cut at their known
// separators rather than parsed as a grammar.
var (
	errorTypeRe  = regexp.MustCompile(`^\{errorType:'([A-Z_]+)', description:'(.*)', additionalInfo:'(.*)'\}$`)
	oldVersionRe = regexp.MustCompile(`^\{oldSchemaVersion: (\d+)\}$`)
	levelRe      = regexp.MustCompile(`compatibility: '([A-Z_]+)'`)
	// Confluent before 7.0 wrote "Incompatibility{type:..., location:...,
	// message:..., reader:..., writer:...}".
	legacyRe  = regexp.MustCompile(`^Incompatibility\{type:([A-Z_]+), location:([^,]*), message:(.*?), reader:`)
	pathRe    = regexp.MustCompile(`path '([^']*)'`)
	readerRe  = regexp.MustCompile(`in the (new|old) schema`)
	typesRe   = regexp.MustCompile(`reader type: (\S+) not compatible with writer type: (\S+)`)
	symbolsRe = regexp.MustCompile(`^\[?(.*?)\]?$`)
)

type problem struct {
	kind, description, info, path string
}

// Explain turns Confluent's verbose compatibility messages for newSchema
// under level into one readable line per problem, such as
//
//	field "email" added without a default: BACKWARD requires one (at /fields/2, checked against version 1)
//
// Messages it does not recognise are kept as they are.
func Explain(level, newSchema string, messages []string) []string {
	var (
		problems   []problem
		oldVersion = 0
		out        []string
		flush      = func() {
			for _, p := range problems {
				out = append(out, explainOne(level, newSchema, p, oldVersion))
			}
			problems, oldVersion = nil, 0
		}
	)
	for _, m := range messages {
		m = strings.TrimSpace(m)
		if l := levelRe.FindStringSubmatch(m); l != nil && strings.HasPrefix(m, "{validateFields") {
			if level == "" {
				level = l[1]
			}
			continue
		}
		switch {
		case errorTypeRe.MatchString(m):
			if oldVersion != 0 { // a new group of problems (transitive checks)
				flush()
			}
			g := errorTypeRe.FindStringSubmatch(m)
			p := problem{kind: g[1], description: g[2], info: g[3]}
			if pm := pathRe.FindStringSubmatch(p.description); pm != nil {
				p.path = pm[1]
			}
			problems = append(problems, p)
		case legacyRe.MatchString(m):
			g := legacyRe.FindStringSubmatch(m)
			problems = append(problems, problem{kind: g[1], path: g[2], info: g[3]})
		case oldVersionRe.MatchString(m):
			oldVersion, _ = strconv.Atoi(oldVersionRe.FindStringSubmatch(m)[1])
		case strings.HasPrefix(m, "{oldSchema:"):
		default:
			flush()
			out = append(out, m)
		}
	}
	flush()
	return out
}

func explainOne(level, newSchema string, p problem, oldVersion int) string {
	if level == "" {
		level = "the compatibility level"
	}
	against := "the previous version"
	if oldVersion > 0 {
		against = "version " + strconv.Itoa(oldVersion)
	}
	where := func() string {
		parts := []string{}
		if p.path != "" {
			parts = append(parts, "at "+p.path)
		}
		if oldVersion > 0 {
			parts = append(parts, "checked against version "+strconv.Itoa(oldVersion))
		}
		if len(parts) == 0 {
			return ""
		}
		return " (" + strings.Join(parts, ", ") + ")"
	}
	newReads := readerIsNew(level, p)
	switch p.kind {
	case "READER_FIELD_MISSING_DEFAULT_VALUE":
		field := p.info
		// Which schema lacks the default is told by where the field is:
		// Confluent words forward checks as if the old schema were new.
		inNew := newReads
		if p.path != "" && newSchema != "" {
			inNew = fieldAt(newSchema, p.path) == field
		}
		if inNew {
			return fmt.Sprintf("field %q added without a default: %s requires one, so that the new schema can read records written with %s%s", field, level, against, where())
		}
		return fmt.Sprintf("field %q removed, but it has no default in %s: %s requires that old readers can fill it in; keep the field or add a default to it first%s", field, against, level, where())
	case "TYPE_MISMATCH":
		reader, writer := "", ""
		if t := typesRe.FindStringSubmatch(p.info); t != nil {
			reader, writer = t[1], t[2]
		}
		if reader == "" {
			return fmt.Sprintf("type changed incompatibly: %s%s", p.info, where())
		}
		if newReads {
			return fmt.Sprintf("type changed from %s to %s: %s requires the new schema to read %s data written with %s (allowed promotions: int→long→float→double, string↔bytes)%s", writer, reader, level, writer, against, where())
		}
		return fmt.Sprintf("type changed from %s to %s: %s requires readers using %s to read the new %s data (allowed promotions: int→long→float→double, string↔bytes)%s", reader, writer, level, against, writer, where())
	case "NAME_MISMATCH":
		return fmt.Sprintf("named type renamed (%s): %s requires the same full name, or an alias for the old name%s", p.info, level, where())
	case "MISSING_ENUM_SYMBOLS":
		syms := symbolsRe.FindStringSubmatch(p.info)[1]
		if newReads {
			return fmt.Sprintf("enum symbols [%s] removed: %s requires the new schema to read them from records written with %s; keep them or give the enum a default%s", syms, level, against, where())
		}
		return fmt.Sprintf("enum symbols [%s] added: %s requires readers using %s to understand them; give the old enum a default first%s", syms, level, against, where())
	case "MISSING_UNION_BRANCH":
		if newReads {
			return fmt.Sprintf("union branch removed (%s): %s requires the new schema to read every branch %s may have written%s", p.info, level, against, where())
		}
		return fmt.Sprintf("union branch added (%s): %s requires readers using %s to read it%s", p.info, level, against, where())
	case "FIXED_SIZE_MISMATCH":
		return fmt.Sprintf("fixed size changed (%s): %s does not allow it%s", p.info, level, where())
	}
	d := p.description
	if d == "" {
		d = p.info
	}
	return fmt.Sprintf("%s: %s%s", strings.ToLower(strings.ReplaceAll(p.kind, "_", " ")), d, where())
}

// readerIsNew says whether the problem is one of the new schema reading old
// data (a backward check) rather than old schemas reading new data.
func readerIsNew(level string, p problem) bool {
	switch {
	case strings.HasPrefix(level, "BACKWARD"):
		return true
	case strings.HasPrefix(level, "FORWARD"):
		return false
	}
	if m := readerRe.FindStringSubmatch(p.description); m != nil {
		return m[1] == "new"
	}
	return true
}

// fieldAt returns the name of the record field at a Confluent path such as
// "/fields/2" or "/fields/1/type/fields/0" in schema, or "".
func fieldAt(schema, path string) string {
	if path == "" {
		return ""
	}
	var node any
	if json.Unmarshal([]byte(schema), &node) != nil {
		return ""
	}
	for _, step := range strings.Split(strings.Trim(path, "/"), "/") {
		switch n := node.(type) {
		case map[string]any:
			node = n[step]
		case []any:
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 || i >= len(n) {
				return ""
			}
			node = n[i]
		default:
			return ""
		}
	}
	if f, ok := node.(map[string]any); ok {
		name, _ := f["name"].(string)
		return name
	}
	return ""
}
