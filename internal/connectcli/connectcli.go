// Package connectcli holds the logic of `sluice connectors`: listing and
// describing plugins from their specs, loading connector configuration
// files (Kafka Connect .properties, JSON or YAML with flat keys), running
// connectors in a worker (as Kafka Connect's standalone mode) and the
// offsets tooling. cmd/sluice only parses flags and calls it.
package connectcli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/properties"
)

// List writes one line per plugin: kind, name, summary.
func List(w io.Writer, reg *connectors.Registry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tTYPE\tSUMMARY")
	for _, p := range reg.List() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Kind, p.Name, p.Summary)
	}
	return tw.Flush()
}

// Describe writes a plugin's documentation: summary, doc, its fields (and,
// for connectors, the common fields every connector has) and an example.
// kind may be empty when the name is unique across kinds.
func Describe(w io.Writer, reg *connectors.Registry, name string, kind connectors.Kind) error {
	found := reg.Lookup(name)
	var matches []connectors.PluginInfo
	for _, p := range found {
		if kind == "" || p.Kind == kind {
			matches = append(matches, p)
		}
	}
	if len(matches) == 0 {
		var names []string
		for _, p := range reg.List() {
			names = append(names, p.Name)
		}
		msg := fmt.Sprintf("connectcli: no plugin named %q", name)
		if kind != "" {
			msg = fmt.Sprintf("connectcli: no %s plugin named %q", kind, name)
		}
		if s := connectors.Suggest(name, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return fmt.Errorf("%s; see `sluice connectors list`", msg)
	}
	for i, p := range matches {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s %s: %s\n", p.Kind, p.Name, p.Summary)
		if len(p.Aliases) > 0 {
			fmt.Fprintf(w, "Also known as: %s\n", strings.Join(p.Aliases, ", "))
		}
		if p.Doc != "" {
			fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(p.Doc))
		}
		fmt.Fprintf(w, "\nFields:\n")
		if err := writeFields(w, p.Spec.Fields); err != nil {
			return err
		}
		if p.Kind == connectors.KindSource || p.Kind == connectors.KindSink {
			fmt.Fprintf(w, "\nFields of every %s connector (Kafka Connect's names):\n", p.Kind)
			common := connectors.CommonSpec(p.Kind)
			if err := writeFields(w, common.Fields); err != nil {
				return err
			}
		}
		if p.Example != "" {
			fmt.Fprintf(w, "\nExample:\n%s\n", indent(strings.TrimSpace(p.Example), "  "))
		}
	}
	return nil
}

func writeFields(w io.Writer, fields []connectors.ConfigField) error {
	if len(fields) == 0 {
		_, err := fmt.Fprintln(w, "  (none)")
		return err
	}
	for _, f := range fields {
		var attrs []string
		attrs = append(attrs, f.Type.String())
		switch {
		case f.Required:
			attrs = append(attrs, "required")
		case f.Default != nil:
			attrs = append(attrs, "default "+formatDefault(f.Default, f.Type))
		}
		if f.Secret {
			attrs = append(attrs, "secret")
		}
		if f.Prefix {
			attrs = append(attrs, "or "+f.Name+".* keys")
		}
		if len(f.Allowed) > 0 {
			attrs = append(attrs, "one of "+strings.Join(f.Allowed, "|"))
		}
		fmt.Fprintf(w, "  %s (%s)\n", f.Name, strings.Join(attrs, ", "))
		if f.Doc != "" {
			fmt.Fprintln(w, indent(wrap(f.Doc, 90), "      "))
		}
	}
	return nil
}

func formatDefault(v any, t connectors.FieldType) string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return `""`
		}
		return x
	case []string:
		return strings.Join(x, ",")
	case time.Duration:
		return x.String()
	}
	if t == connectors.FieldDuration {
		return fmt.Sprintf("%v ms", v)
	}
	return fmt.Sprint(v)
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

func wrap(s string, width int) string {
	var out, line strings.Builder
	for _, word := range strings.Fields(s) {
		if line.Len() > 0 && line.Len()+1+len(word) > width {
			out.WriteString(line.String() + "\n")
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(word)
	}
	out.WriteString(line.String())
	return out.String()
}

// LoadConfig reads a connector configuration file: Java .properties (as
// Kafka Connect's standalone mode takes), JSON (a flat object, or Kafka
// Connect's REST form {"name": ..., "config": {...}}) or YAML with flat
// keys. Values of ${ENV_VAR} are replaced from the environment; a missing
// variable is an error.
func LoadConfig(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("connectcli: %w", err)
	}
	var cfg map[string]any
	switch strings.ToLower(filepath.Ext(path)) {
	case ".properties":
		var props map[string]string
		props, err = properties.Parse(data)
		if err == nil {
			cfg = make(map[string]any, len(props))
			for k, v := range props {
				cfg[k] = v
			}
		}
	case ".json":
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		err = d.Decode(&cfg)
		if err == nil {
			if inner, ok := cfg["config"].(map[string]any); ok {
				if name, ok := cfg["name"]; ok {
					inner["name"] = name
				}
				cfg = inner
			}
		}
	case ".yaml", ".yml":
		err = yaml.Unmarshal(data, &cfg)
	default:
		return nil, fmt.Errorf("connectcli: %s: unknown config file type (want .properties, .json, .yaml or .yml)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("connectcli: %s: %w", path, err)
	}
	if cfg == nil {
		return nil, fmt.Errorf("connectcli: %s: empty configuration", path)
	}
	if err := expandEnv(cfg); err != nil {
		return nil, fmt.Errorf("connectcli: %s: %w", path, err)
	}
	return cfg, nil
}

// expandEnv replaces ${VAR} in string values.
func expandEnv(cfg map[string]any) error {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := cfg[k].(string)
		if !ok || !strings.Contains(s, "${") {
			continue
		}
		var missing []string
		cfg[k] = os.Expand(s, func(name string) string {
			v, ok := os.LookupEnv(name)
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
		if len(missing) > 0 {
			return fmt.Errorf("%s: environment variable %s is not set", k, strings.Join(missing, ", "))
		}
	}
	return nil
}

// KindOf infers whether a configuration is a sink (it names topics to read:
// topics or topics.regex) or a source.
func KindOf(cfg map[string]any) connectors.Kind {
	if _, ok := cfg["topics"]; ok {
		return connectors.KindSink
	}
	if _, ok := cfg["topics.regex"]; ok {
		return connectors.KindSink
	}
	return connectors.KindSource
}
