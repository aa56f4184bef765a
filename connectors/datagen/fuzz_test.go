package datagen

import (
	"os"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/connectavro"
)

var regexSeeds = []string{
	`City_[1-9]{0,2}`, `BYOC_Item_[1-9][0-9]{0,2}`, `[a-z]+@[a-z]+\.(com|org)`, `((((((((a*)*)*)*)*)*)*)*)b`, `\d{3}-\d{4}`,
	`(ab|cd)*e?`, `[^,]{2,5}`, `.{3}`, `(?i)hello`, `[[:upper:]][[:lower:]]{1,7}`, `x{3,}`, `\p{Greek}{2}`,
	`[^\x00-\x{10FFFF}a]|z`, `(a|(b|(c|d)))+`, `user_[0-9]{1,6}`, `\w+\s\w+`,
}

// hasAssertions reports whether re contains anchors or word boundaries,
// which the generator does not try to satisfy.
func hasAssertions(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, s := range re.Sub {
		if hasAssertions(s) {
			return true
		}
	}
	return false
}

// checkRegex generates strings for expr and checks that they match it.
func checkRegex(t *testing.T, expr string) {
	g, err := compileRegex(expr)
	if err != nil {
		return // rejected expressions are fine; panics are not
	}
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		t.Fatalf("compiled %q but Go cannot parse it: %v", expr, err)
	}
	// Anchor the parsed expression (text concatenation would break \Q).
	anchored := &syntax.Regexp{Op: syntax.OpConcat, Sub: []*syntax.Regexp{
		{Op: syntax.OpBeginText}, parsed, {Op: syntax.OpEndText}}}
	full, err := regexp.Compile(anchored.String())
	if err != nil {
		t.Fatalf("%q: anchored %q: %v", expr, anchored, err)
	}
	var r rng
	for i := range 50 {
		r.seedRecord(3, uint64(i))
		out := g.append(nil, &r)
		if !utf8.Valid(out) {
			t.Fatalf("%q gave invalid UTF-8 %q", expr, out)
		}
		if !hasAssertions(parsed) && !full.Match(out) {
			t.Fatalf("%q generated %q, which does not match", expr, out)
		}
	}
}

func TestRegexStringsMatch(t *testing.T) {
	t.Parallel()
	for _, expr := range regexSeeds {
		checkRegex(t, expr)
	}
}

func FuzzRegex(f *testing.F) {
	for _, s := range regexSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		if len(expr) > 200 {
			return
		}
		checkRegex(t, expr)
	})
}

// FuzzAvroSchema feeds arbitrary schema text (schema.string is user input)
// to the parser and compiler: errors are fine, panics and hangs are not,
// and whatever compiles generates values that fit their schema.
func FuzzAvroSchema(f *testing.F) {
	f.Add(record(field("a", `{"type":"int","arg.properties":{"range":{"min":1,"max":5}}}`)))
	f.Add(record(field("s", `{"type":"string","arg.properties":{"regex":"[a-c]{2}"}}`), field("u", `["null","long"]`)))
	f.Add(record(field("m", `{"type":"map","values":"double","arg.properties":{"length":2}}`), field("e", `{"type":"enum","name":"E","symbols":["A","B"]}`)))
	f.Add(record(field("r", `{"type":"record","name":"R","fields":[{"name":"x","type":{"type":"array","items":"boolean"}}]}`), field("r2", `"R"`)))
	f.Add(`{"type":"record","name":"n","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":30,"scale":3}}]}`)
	f.Add(`[1,2`)
	f.Fuzz(func(t *testing.T, text string) {
		// A hang is a failure too: crash the worker, which records the input.
		wd := time.AfterFunc(5*time.Second, func() { panic("datagen: generation hangs on schema " + text) })
		defer wd.Stop()
		root, err := parseAvro(text)
		// Explicit lengths and nested collections multiply sizes: keep the
		// fuzzer to schemas that generate small values.
		budget := 2000
		if err != nil || root.kind != avroRecord || strings.Contains(text, "length") || !plausible(root, 0, 0, &budget) {
			return
		}
		noFiles := func(string) ([]byte, error) { return nil, os.ErrNotExist }
		try := func(cs *connectors.Schema) {
			g, err := compileAvro(root, cs, noFiles)
			if err != nil {
				if strings.Contains(err.Error(), "converted it unexpectedly") {
					t.Fatalf("the generator and the Connect schema disagree: %v", err)
				}
				return
			}
			c := &genCtx{seed: 9}
			for i := range 3 {
				c.pos = uint64(i)
				c.r.seedRecord(c.seed, c.pos)
				if err := connectors.Validate(cs, g(c)); err != nil {
					t.Fatalf("generated value does not fit its schema: %v", err)
				}
			}
		}
		try(connectOf(t, root))
		if cs, err := connectavro.ToConnect(text); err == nil {
			try(cs)
		}
	})
}

// plausible keeps fuzzed schemas small enough to generate quickly (no
// recursion the test's own converter would expand, bounded nesting).
func plausible(n *avroNode, depth, collections int, budget *int) bool {
	if *budget--; *budget < 0 || depth > 8 || collections > 2 || n.size > 256 {
		return false
	}
	for _, f := range n.fields {
		if f.node == n || !plausible(f.node, depth+1, collections, budget) {
			return false
		}
	}
	for _, b := range n.branches {
		if !plausible(b, depth+1, collections, budget) {
			return false
		}
	}
	if n.items != nil && !plausible(n.items, depth+1, collections+1, budget) {
		return false
	}
	if n.values != nil && !plausible(n.values, depth+1, collections+1, budget) {
		return false
	}
	return true
}
