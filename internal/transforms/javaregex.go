package transforms

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Java regular expressions as Kafka Connect's RegexRouter and
// TopicNameMatches take them, run by Go's RE2 engine: the syntax is the
// same for everything topic names need (classes, groups, named groups
// (?<name>...), alternation, quantifiers, \d \w \s, (?i)); lookaround,
// backreferences and possessive quantifiers, which RE2 refuses, are
// reported as configuration errors.

// compileJavaRegex compiles pattern twice: as written, for finding the
// first match (Matcher.find), and anchored at both ends, for Java's
// Matcher.matches (the whole input must match).
func compileJavaRegex(pattern string) (find, whole *regexp.Regexp, err error) {
	find, err = regexp.Compile(pattern)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid regular expression (Go RE2 syntax, which lacks lookaround and backreferences): %v", err)
	}
	whole, err = regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid regular expression: %v", err)
	}
	return find, whole, nil
}

func isRegex(v any) error {
	_, _, err := compileJavaRegex(v.(string))
	return err
}

// javaReplacement is a compiled java.util.regex replacement string: text
// with $n and ${name} group references and \ escapes.
type javaReplacement struct {
	parts []replacementPart
}

type replacementPart struct {
	lit   string
	group int // -1: literal
}

// compileJavaReplacement parses a replacement as Java's
// Matcher.appendReplacement does, checking group references against re.
// As in Java, $12 means group 12 if the regex has that many groups and
// group 1 followed by "2" otherwise.
func compileJavaReplacement(re *regexp.Regexp, repl string) (*javaReplacement, error) {
	groups := re.NumSubexp()
	r := &javaReplacement{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			r.parts = append(r.parts, replacementPart{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(repl); {
		c := repl[i]
		switch c {
		case '\\':
			if i+1 >= len(repl) {
				return nil, errors.New("replacement ends with a lone backslash (escape it as \\\\)")
			}
			lit.WriteByte(repl[i+1])
			i += 2
		case '$':
			i++
			if i >= len(repl) {
				return nil, errors.New("replacement ends with '$' without a group number (escape a literal dollar as \\$)")
			}
			if repl[i] == '{' {
				end := strings.IndexByte(repl[i:], '}')
				if end < 0 {
					return nil, errors.New("replacement: named group reference is missing its closing '}'")
				}
				name := repl[i+1 : i+end]
				if name == "" {
					return nil, errors.New("replacement: named group reference ${} has an empty name")
				}
				g := re.SubexpIndex(name)
				if g < 0 {
					return nil, fmt.Errorf("replacement: the regular expression has no group named %q", name)
				}
				flush()
				r.parts = append(r.parts, replacementPart{group: g})
				i += end + 1
				continue
			}
			if repl[i] < '0' || repl[i] > '9' {
				return nil, fmt.Errorf("replacement: illegal group reference '$%c' (use $1, ${name}, or \\$ for a literal dollar)", repl[i])
			}
			g := int(repl[i] - '0')
			if g > groups {
				return nil, fmt.Errorf("replacement: no group %d (the regular expression has %d)", g, groups)
			}
			i++
			for i < len(repl) && repl[i] >= '0' && repl[i] <= '9' {
				next := g*10 + int(repl[i]-'0')
				if next > groups {
					break
				}
				g = next
				i++
			}
			flush()
			r.parts = append(r.parts, replacementPart{group: g})
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return r, nil
}

// replaceFirst replaces the first match of re in s with the replacement,
// as Java's Matcher.replaceFirst; s is returned unchanged without a match.
func (r *javaReplacement) replaceFirst(re *regexp.Regexp, s string) string {
	m := re.FindStringSubmatchIndex(s)
	if m == nil {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:m[0]])
	for _, p := range r.parts {
		if p.group < 0 {
			b.WriteString(p.lit)
			continue
		}
		// A group that took no part in the match adds nothing, as in Java.
		if a, z := m[2*p.group], m[2*p.group+1]; a >= 0 {
			b.WriteString(s[a:z])
		}
	}
	b.WriteString(s[m[1]:])
	return b.String()
}
