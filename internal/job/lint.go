package job

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/registryconf"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// lintRegistryURL stands in for the embedded registry's URL while linting:
// building converters makes no network call.
const lintRegistryURL = "http://embedded-registry.invalid"

// converterDefaults are the settings every converter of the job takes:
// the registry's URL and, for the job's own registry, its security
// settings under the converter's names. registryURL "" means linting: the
// job's registry if it has one (without its TLS files, which are read only
// when the job starts), else a stand-in for the embedded one.
func (j *Job) converterDefaults(registryURL string) map[string]any {
	linting := registryURL == ""
	if registryURL == "" {
		registryURL = j.RegistryURL
	}
	if registryURL == "" {
		registryURL = lintRegistryURL
	}
	out := map[string]any{registryconf.URL: registryURL}
	if j.RegistryURL == "" || registryURL != j.RegistryURL {
		return out // the embedded registry: no security
	}
	r := j.Registry
	if r.BasicAuthUserInfo != "" {
		out[registryconf.BasicAuthCredentialsSource] = registryconf.SourceUserInfo
		out[registryconf.BasicAuthUserInfo] = r.BasicAuthUserInfo
	}
	if r.BearerAuthToken != "" {
		out[registryconf.BearerAuthCredentialsSource] = registryconf.SourceStaticToken
		out[registryconf.BearerAuthToken] = r.BearerAuthToken
	}
	if !linting {
		for key, path := range map[string]string{registryconf.SSLCALocation: r.SSLCALocation,
			registryconf.SSLCertificateLocation: r.SSLCertificateLocation, registryconf.SSLKeyLocation: r.SSLKeyLocation} {
			if path != "" {
				out[key] = path
			}
		}
	}
	return out
}

// registryOptions are the client options of the job's registry (for
// registryURL, when it is the job's registry): credentials, and TLS from
// the files, read now. Problems are placed at the registry section's keys.
func (j *Job) registryOptions(registryURL string) ([]schemaregistry.Option, Problems) {
	if j.RegistryURL == "" || registryURL != j.RegistryURL {
		return nil, nil
	}
	opts, err := j.Registry.ClientOptions()
	if err != nil {
		return nil, j.registryProblems(err)
	}
	return opts, nil
}

// parseConnectors validates every connector block with its type's spec
// and returns the parsed configurations, or problems at the keys'
// positions.
func (j *Job) parseConnectors(reg *connectors.Registry, registryURL string) (map[*ConnectorDecl]*connectors.ConnectorConfig, Problems) {
	out := map[*ConnectorDecl]*connectors.ConnectorConfig{}
	var ps Problems
	opts := connectors.ParseOptions{ConverterDefaults: j.converterDefaults(registryURL)}
	for _, c := range append(append([]*ConnectorDecl(nil), j.Sources...), j.Sinks...) {
		cc, err := connectors.ParseConnector(reg, c.Kind, c.Config, opts)
		if err != nil {
			ps = append(ps, c.problems(err)...)
			continue
		}
		out[c] = cc
	}
	return out, ps
}

// problems maps a connector's configuration errors to the positions of
// their keys in the file.
func (c *ConnectorDecl) problems(err error) Problems {
	var ps Problems
	var walk func(error)
	walk = func(e error) {
		if jn, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range jn.Unwrap() {
				walk(x)
			}
			return
		}
		pos := c.Pos
		msg := e.Error()
		var fe *connectors.FieldError
		if errors.As(e, &fe) {
			if p, ok := c.keys[fe.Key]; ok {
				pos = p
			} else if p, ok := c.keys[keyPrefix(fe.Key)]; ok {
				pos = p
			}
			msg = fmt.Sprintf("%s %s: %s: %v", c.Kind, c.Name, fe.Key, fe.Err)
		} else {
			msg = fmt.Sprintf("%s %s: %s", c.Kind, c.Name, msg)
		}
		ps = append(ps, Problem{pos, msg})
	}
	walk(err)
	return ps
}

// keyPrefix drops a key's last dotted part ("transforms.a.type" ->
// "transforms.a"), to place errors of keys that were not written.
func keyPrefix(k string) string {
	if i := strings.LastIndex(k, "."); i > 0 {
		return k[:i]
	}
	return k
}

// Lint loads a job file and checks everything that can be checked without
// running it: the structure, connector configurations (with their types'
// specs), expressions and types (against .avsc files and the schemas the
// job's sources declare), and topic references. Every problem is reported
// at once, each with its position.
func Lint(path string, reg *connectors.Registry) (*Job, error) {
	j, err := Load(path)
	if err != nil {
		return nil, err
	}
	_, ps := j.parseConnectors(reg, "")
	if j.Topology != nil {
		if _, err := j.Compile(CompileOptions{Plugins: reg}); err != nil {
			if cps, ok := err.(Problems); ok {
				ps = append(ps, cps...)
			} else {
				ps = append(ps, Problem{Pos{File: j.File}, err.Error()})
			}
		}
	}
	ps = append(ps, j.checkTopics(reg)...)
	if len(ps) > 0 {
		return j, ps.sorted()
	}
	return j, nil
}

// checkTopics reports topics that are read (by the topology or a sink)
// but that nothing in the job writes or declares, when every source's
// destination topics are known.
func (j *Job) checkTopics(reg *connectors.Registry) Problems {
	written := map[string]bool{}
	for _, t := range j.Topics {
		written[t.Name] = true
	}
	for _, c := range j.Sources {
		known := false
		for _, k := range []string{"topic", "kafka.topic"} {
			if t, ok := c.Config[k].(string); ok && t != "" {
				written[t], known = true, true
			}
		}
		if !known {
			return nil // a source whose topics only it knows (CDC, routing transforms)
		}
		if _, hasTransforms := c.Config["transforms"]; hasTransforms {
			return nil
		}
	}
	if j.Topology != nil {
		for _, p := range j.Topology.Pipelines {
			for _, s := range p.Steps {
				if s.Op != "to" {
					continue
				}
				if s.Arg.Kind == KindString {
					written[s.Arg.Str] = true
				} else if t := s.Arg.Get("topic"); t != nil {
					written[t.Str] = true
				}
			}
		}
	}
	var ps Problems
	missing := func(pos Pos, what, topic string) {
		var names []string
		for t := range written {
			names = append(names, t)
		}
		msg := fmt.Sprintf("%s reads topic %q, which no source or `to:` step of this job writes and `topics:` does not declare", what, topic)
		if s := connectors.Suggest(topic, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else {
			msg += " (declare it under topics: if another program writes it)"
		}
		ps = append(ps, Problem{pos, msg})
	}
	if j.Topology != nil {
		for _, in := range j.Topology.Inputs {
			if !written[in.Topic] {
				missing(in.Pos, string(in.Kind)+" "+in.Name, in.Topic)
			}
		}
	}
	for _, c := range j.Sinks {
		var topics []string
		switch t := c.Config["topics"].(type) {
		case string:
			for _, x := range strings.Split(t, ",") {
				topics = append(topics, strings.TrimSpace(x))
			}
		case []any:
			for _, x := range t {
				topics = append(topics, fmt.Sprint(x))
			}
		}
		for _, t := range topics {
			if t != "" && !written[t] {
				pos := c.Pos
				if p, ok := c.keys["topics"]; ok {
					pos = p
				}
				missing(pos, "sink "+c.Name, t)
			}
		}
	}
	return ps
}
