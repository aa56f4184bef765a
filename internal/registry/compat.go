package registry

import "github.com/sluicehq/sluice/internal/registry/compat"

// Level is a Confluent compatibility level (the checker lives in
// internal/registry/compat).
type Level = compat.Level

// The seven Confluent compatibility levels.
const (
	None               = compat.None
	Backward           = compat.Backward
	BackwardTransitive = compat.BackwardTransitive
	Forward            = compat.Forward
	ForwardTransitive  = compat.ForwardTransitive
	Full               = compat.Full
	FullTransitive     = compat.FullTransitive
)

// DefaultLevel is the global level until someone sets one (Confluent's default).
const DefaultLevel = compat.DefaultLevel

// ParseLevel accepts a level name in any case.
func ParseLevel(s string) (Level, bool) { return compat.ParseLevel(s) }

// CheckCompatibility checks newSchema against the subject's previous
// schemas (oldest first) at level: compat.Check over registry schemas.
func CheckCompatibility(level Level, newSchema *Schema, previous []*Schema) []string {
	prev := make([]compat.Schema, len(previous))
	for i, p := range previous {
		prev[i] = p.compat()
	}
	return compat.Check(level, newSchema.compat(), prev)
}

func (s *Schema) compat() compat.Schema {
	return compat.Schema{Text: s.Text, Version: s.Version, Parsed: s.parsed}
}
