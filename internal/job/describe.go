package job

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

// Describe renders the whole job: sources → topics → the topology's
// sub-topologies (Kafka Streams' describe format) → topics → sinks, as
// text, a Mermaid flowchart or a Graphviz digraph.
func (j *Job) Describe(reg *connectors.Registry, format string) (string, error) {
	topoText := ""
	if j.Topology != nil {
		topo, err := j.Compile(CompileOptions{Plugins: reg})
		if err != nil {
			return "", err
		}
		topoText = topo.Describe()
	}
	g := j.graph(topoText)
	switch format {
	case "", "text":
		return j.describeText(topoText), nil
	case "mermaid":
		return g.mermaid(), nil
	case "dot":
		return g.dot(j.Name), nil
	}
	return "", fmt.Errorf("job: unknown describe format %q (want text, mermaid or dot)", format)
}

func (j *Job) describeText(topo string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Job %s (%s)\n", j.Name, j.Guarantee)
	if j.Description != "" {
		fmt.Fprintf(&b, "  %s\n", j.Description)
	}
	if len(j.Sources) > 0 {
		b.WriteString("Sources:\n")
		for _, c := range j.Sources {
			fmt.Fprintf(&b, "  %s (%v) --> %s\n", c.Name, c.Config["type"], strings.Join(connectorTopics(c), ", "))
		}
	}
	if topo != "" {
		b.WriteString(topo)
		if !strings.HasSuffix(topo, "\n") {
			b.WriteByte('\n')
		}
	}
	if len(j.Sinks) > 0 {
		b.WriteString("Sinks:\n")
		for _, c := range j.Sinks {
			fmt.Fprintf(&b, "  %s --> %s (%v)\n", strings.Join(connectorTopics(c), ", "), c.Name, c.Config["type"])
		}
	}
	return b.String()
}

// connectorTopics lists a connector block's topics as far as its
// configuration names them.
func connectorTopics(c *ConnectorDecl) []string {
	var out []string
	for _, k := range []string{"topic", "kafka.topic", "topics"} {
		switch v := c.Config[k].(type) {
		case string:
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					out = append(out, t)
				}
			}
		case []any:
			for _, t := range v {
				out = append(out, fmt.Sprint(t))
			}
		}
	}
	if len(out) == 0 {
		if p, ok := c.Config["topic.prefix"].(string); ok {
			out = append(out, p+".*")
		} else {
			out = append(out, "(topics chosen by the connector)")
		}
	}
	return out
}

// jobGraph is the job as nodes and edges.
type jobGraph struct {
	nodes map[string]string // id -> label
	kinds map[string]string // id -> source, sink, topic, processor
	sub   map[string]int    // processor id -> sub-topology
	edges [][2]string
}

var (
	subRe  = regexp.MustCompile(`^\s*Sub-topology: (\d+)`)
	nodeRe = regexp.MustCompile(`^\s*(Source|Processor|Sink): (\S+) \((?:topics: \[([^\]]*)\]|topic: ([^)]*)|stores: \[[^\]]*\])\)`)
	toRe   = regexp.MustCompile(`^\s*--> (.*)$`)
)

func (j *Job) graph(topo string) *jobGraph {
	g := &jobGraph{nodes: map[string]string{}, kinds: map[string]string{}, sub: map[string]int{}}
	add := func(id, label, kind string) {
		if _, ok := g.nodes[id]; !ok {
			g.nodes[id], g.kinds[id] = label, kind
		}
	}
	for _, c := range j.Sources {
		id := "src_" + c.Name
		add(id, fmt.Sprintf("%s (%v)", c.Name, c.Config["type"]), "source")
		for _, t := range connectorTopics(c) {
			add("t_"+t, t, "topic")
			g.edges = append(g.edges, [2]string{id, "t_" + t})
		}
	}
	sub, cur := -1, ""
	for _, line := range strings.Split(topo, "\n") {
		if m := subRe.FindStringSubmatch(line); m != nil {
			fmt.Sscan(m[1], &sub)
			continue
		}
		if m := nodeRe.FindStringSubmatch(line); m != nil {
			cur = "p_" + m[2]
			add(cur, m[2], "processor")
			g.sub[cur] = sub
			switch m[1] {
			case "Source":
				for _, t := range strings.Split(m[3], ",") {
					if t = strings.TrimSpace(t); t != "" {
						add("t_"+t, t, "topic")
						g.edges = append(g.edges, [2]string{"t_" + t, cur})
					}
				}
			case "Sink":
				t := strings.TrimSpace(m[4])
				add("t_"+t, t, "topic")
				g.edges = append(g.edges, [2]string{cur, "t_" + t})
			}
			continue
		}
		if m := toRe.FindStringSubmatch(line); m != nil && cur != "" {
			for _, to := range strings.Split(m[1], ",") {
				if to = strings.TrimSpace(to); to != "" && to != "none" {
					g.edges = append(g.edges, [2]string{cur, "p_" + to})
				}
			}
		}
	}
	for _, c := range j.Sinks {
		id := "snk_" + c.Name
		add(id, fmt.Sprintf("%s (%v)", c.Name, c.Config["type"]), "sink")
		for _, t := range connectorTopics(c) {
			add("t_"+t, t, "topic")
			g.edges = append(g.edges, [2]string{"t_" + t, id})
		}
	}
	return g
}

func mermaidID(id string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, id)
}

func (g *jobGraph) ids() []string {
	ids := make([]string, 0, len(g.nodes))
	for id := range g.nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (g *jobGraph) mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	subs := map[int][]string{}
	for _, id := range g.ids() {
		label := strings.ReplaceAll(g.nodes[id], `"`, "'")
		var node string
		switch g.kinds[id] {
		case "source", "sink":
			node = fmt.Sprintf("%s[/\"%s\"/]", mermaidID(id), label)
		case "topic":
			node = fmt.Sprintf("%s[(\"%s\")]", mermaidID(id), label)
		default:
			subs[g.sub[id]] = append(subs[g.sub[id]], fmt.Sprintf("%s[\"%s\"]", mermaidID(id), label))
			continue
		}
		fmt.Fprintf(&b, "  %s\n", node)
	}
	var keys []int
	for k := range subs {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  subgraph sub%d [\"Sub-topology %d\"]\n", k, k)
		for _, n := range subs[k] {
			fmt.Fprintf(&b, "    %s\n", n)
		}
		b.WriteString("  end\n")
	}
	for _, e := range g.edges {
		fmt.Fprintf(&b, "  %s --> %s\n", mermaidID(e[0]), mermaidID(e[1]))
	}
	return b.String()
}

func (g *jobGraph) dot(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %q {\n  rankdir=LR;\n", name)
	for _, id := range g.ids() {
		shape := "box"
		switch g.kinds[id] {
		case "topic":
			shape = "cylinder"
		case "source", "sink":
			shape = "parallelogram"
		}
		fmt.Fprintf(&b, "  %q [label=%q shape=%s];\n", id, g.nodes[id], shape)
	}
	for _, e := range g.edges {
		fmt.Fprintf(&b, "  %q -> %q;\n", e[0], e[1])
	}
	b.WriteString("}\n")
	return b.String()
}
