package schematool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	havro "github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluicehq/sluice/serde/registry"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// ReadSchemaFile reads and validates an .avsc file and returns it compacted
// (insignificant whitespace removed), as the avro serdes register schemas.
func ReadSchemaFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("schematool: %w", err)
	}
	return ParseSchemaText(path, data)
}

// ParseSchemaText validates Avro schema JSON read from name and returns it
// compacted.
func ParseSchemaText(name string, data []byte) (string, error) {
	var compact bytes.Buffer
	var probe any
	err := json.Unmarshal(data, &probe) // json.Compact reports no offsets
	if err == nil {
		err = json.Compact(&compact, data)
	}
	if err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line := 1 + bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n"))
			return "", fmt.Errorf("schematool: %s:%d: not valid JSON: %v", name, line, err)
		}
		return "", fmt.Errorf("schematool: %s: not valid JSON: %v", name, err)
	}
	// A fresh cache per schema: hamba/avro's global one keeps one schema
	// per full name across versions.
	if _, err := havro.ParseWithCache(compact.String(), "", &havro.SchemaCache{}); err != nil {
		return "", fmt.Errorf("schematool: %s: not a valid Avro schema: %v", name, err)
	}
	return compact.String(), nil
}

// Registered is the result of Register.
type Registered struct {
	Subject string
	ID      int
	Version int
}

// Register registers schema under subject and returns its id and version.
func Register(ctx context.Context, c *schemaregistry.Client, subject, schema string) (Registered, error) {
	id, err := c.Register(ctx, subject, sr.Schema{Schema: schema})
	if err != nil {
		var re *schemaregistry.Error
		if errors.As(err, &re) && re.Status == 409 {
			// The registry's message is one long line of verbose details;
			// a check gives them readably.
			if res, cerr := Check(ctx, c, CheckRequest{Subject: subject, Schema: schema}); cerr == nil && len(res.Problems) > 0 {
				return Registered{}, fmt.Errorf("schematool: schema is incompatible with subject %q at %s:\n  - %s", subject, res.Level, strings.Join(res.Problems, "\n  - "))
			}
			return Registered{}, fmt.Errorf("schematool: schema is incompatible with subject %q: %s (run `sluice schemas check` for details)", subject, re.Message)
		}
		return Registered{}, Hint(err)
	}
	out := Registered{Subject: subject, ID: id}
	if looked, err := c.Lookup(ctx, subject, sr.Schema{Schema: schema}); err == nil {
		out.Version = looked.Version
	}
	return out, nil
}

// CheckRequest says what Check checks.
type CheckRequest struct {
	Subject string
	Schema  string // Avro schema JSON
	// Level overrides the subject's compatibility level. The registry API
	// cannot check at another level than the subject's, so Check then
	// fetches the subject's versions and runs Sluice's own checker (the
	// embedded registry's) locally; schemas with references are not
	// supported that way. Default "": the subject's level, checked by the
	// registry itself.
	Level string
}

// CheckResult is the outcome of Check.
type CheckResult struct {
	Subject    string
	Level      string
	Compatible bool
	// Versions is how many registered versions exist (0: a new subject,
	// always compatible).
	Versions int
	// Problems are readable lines, one per incompatibility.
	Problems []string
	// Messages are the registry's verbose messages, unchanged.
	Messages []string
}

// Check tests whether req.Schema may be registered under req.Subject.
// Incompatibility is a result, not an error: errors are for failures to
// check (registry unreachable, bad level, ...).
func Check(ctx context.Context, c *schemaregistry.Client, req CheckRequest) (*CheckResult, error) {
	res := &CheckResult{Subject: req.Subject}
	versions, err := c.Versions(ctx, req.Subject)
	switch {
	case errors.Is(err, schemaregistry.ErrNotFound):
		versions = nil
	case err != nil:
		return nil, Hint(err)
	}
	res.Versions = len(versions)
	if req.Level != "" {
		level, err := registry.ParseCompatibilityLevel(req.Level)
		if err != nil {
			return nil, fmt.Errorf("schematool: --level: %w", err)
		}
		res.Level = string(level)
		var previous []string
		slices.Sort(versions)
		for _, v := range versions {
			s, err := c.SchemaByVersion(ctx, req.Subject, v)
			if err != nil {
				return nil, Hint(err)
			}
			if len(s.References) > 0 {
				return nil, fmt.Errorf("schematool: version %d of subject %q has references, which a check at a given --level does not support; check at the subject's own level instead", v, req.Subject)
			}
			previous = append(previous, s.Schema.Schema)
		}
		msgs, err := registry.CheckCompatibility(level, req.Schema, previous...)
		if err != nil {
			return nil, fmt.Errorf("schematool: %w", err)
		}
		res.Compatible, res.Messages = len(msgs) == 0, msgs
		res.Problems = Explain(res.Level, req.Schema, msgs)
		return res, nil
	}
	if res.Level, err = c.Level(ctx, req.Subject); err != nil {
		return nil, Hint(err)
	}
	if len(versions) == 0 {
		res.Compatible = true
		return res, nil
	}
	version := -1 // the latest
	if strings.HasSuffix(res.Level, "_TRANSITIVE") {
		version = -2 // every version the level says
	}
	ok, msgs, err := c.CheckCompatibility(ctx, req.Subject, version, sr.Schema{Schema: req.Schema})
	if err != nil {
		var re *schemaregistry.Error
		if errors.As(err, &re) && re.Code == 42201 {
			return nil, fmt.Errorf("schematool: the registry rejects the schema as invalid: %s", re.Message)
		}
		return nil, Hint(err)
	}
	res.Compatible, res.Messages = ok, msgs
	if !ok {
		res.Problems = Explain(res.Level, req.Schema, msgs)
		if len(res.Problems) == 0 {
			res.Problems = []string{"the registry reports the schema incompatible without details (it may not support verbose=true)"}
		}
	}
	return res, nil
}

// WriteCheck prints a check result for a person or a CI log.
func WriteCheck(w io.Writer, file string, res *CheckResult) {
	if res.Compatible {
		switch res.Versions {
		case 0:
			fmt.Fprintf(w, "%s: compatible: subject %q has no versions yet\n", file, res.Subject)
		default:
			fmt.Fprintf(w, "%s: compatible with subject %q at %s (%d version(s) registered)\n", file, res.Subject, res.Level, res.Versions)
		}
		return
	}
	fmt.Fprintf(w, "%s: NOT compatible with subject %q at %s: %d problem(s):\n", file, res.Subject, res.Level, len(res.Problems))
	for _, p := range res.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

// Get returns a schema by subject and version ("latest" or a number), or by
// id when id >= 0.
func Get(ctx context.Context, c *schemaregistry.Client, subject, version string, id int) (sr.SubjectSchema, error) {
	if id >= 0 {
		s, err := c.SchemaByID(ctx, id)
		return s, Hint(err)
	}
	if subject == "" {
		return sr.SubjectSchema{}, errors.New("schematool: give a subject (and a version, default latest) or an id")
	}
	n := -1
	if version != "" && version != "latest" {
		var err error
		if n, err = strconv.Atoi(version); err != nil || n < 1 {
			return sr.SubjectSchema{}, fmt.Errorf("schematool: version %q: want a number from 1, or latest", version)
		}
	}
	s, err := c.SchemaByVersion(ctx, subject, n)
	return s, Hint(err)
}

// WriteSchema prints a schema's JSON indented, newline-terminated.
func WriteSchema(w io.Writer, s sr.SubjectSchema) error {
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(s.Schema.Schema), "", "  "); err != nil {
		out.Reset()
		out.WriteString(s.Schema.Schema)
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// List prints the registry's subjects, one per line; with versions, each
// followed by a tab and its versions ("orders-value\t1,2").
func List(ctx context.Context, c *schemaregistry.Client, w io.Writer, versions bool) error {
	subjects, err := c.Subjects(ctx)
	if err != nil {
		return Hint(err)
	}
	slices.Sort(subjects)
	for _, s := range subjects {
		if !versions {
			fmt.Fprintln(w, s)
			continue
		}
		vs, err := c.Versions(ctx, s)
		if err != nil {
			return Hint(err)
		}
		strs := make([]string, len(vs))
		for i, v := range vs {
			strs[i] = strconv.Itoa(v)
		}
		fmt.Fprintf(w, "%s\t%s\n", s, strings.Join(strs, ","))
	}
	return nil
}
