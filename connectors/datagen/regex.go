package datagen

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"unicode/utf8"
)

// Strings matching a regular expression ("regex" in arg.properties), as
// avro-random-generator makes them with Generex. The expression is parsed
// with Go's regexp/syntax (RE2: no backreferences or lookaround) and
// compiled to a tree of steps; generating walks the tree with the record's
// PRNG. Unbounded repetitions (*, +, {n,}) repeat at most openRepeat
// times beyond their minimum; character classes are drawn from their
// printable ASCII part when they have one (so [^,] gives readable text);
// anchors and word boundaries produce nothing.

type regexGen struct{ root *reNode }

type reNode struct {
	op       syntax.Op
	runes    []rune // literal
	ranges   []rune // char class: lo, hi pairs
	weights  []int  // char class: cumulative sizes of the ranges
	min, max int    // repeat
	subs     []*reNode
}

const maxRegexNodes = 10_000

func compileRegex(expr string) (*regexGen, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", expr, err)
	}
	re = re.Simplify()
	count := 0
	root, err := buildRegex(re, &count)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", expr, err)
	}
	return &regexGen{root: root}, nil
}

// printable is the range classes are narrowed to when they overlap it.
var printable = []rune{0x20, 0x7e}

func buildRegex(re *syntax.Regexp, count *int) (*reNode, error) {
	*count++
	if *count > maxRegexNodes {
		return nil, errors.New("too complex to generate from")
	}
	n := &reNode{op: re.Op}
	switch re.Op {
	case syntax.OpNoMatch:
		return nil, errors.New("matches nothing")
	case syntax.OpLiteral:
		n.runes = re.Rune
	case syntax.OpCharClass:
		n.ranges = narrowClass(re.Rune)
		if len(n.ranges) == 0 {
			return nil, errors.New("has an empty character class")
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		n.op = syntax.OpCharClass
		n.ranges = printable
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		n.op = syntax.OpRepeat
		switch re.Op {
		case syntax.OpStar:
			n.min, n.max = 0, openRepeat
		case syntax.OpPlus:
			n.min, n.max = 1, 1+openRepeat
		case syntax.OpQuest:
			n.min, n.max = 0, 1
		default:
			n.min, n.max = re.Min, re.Max
			if n.max < 0 {
				n.max = n.min + openRepeat
			}
		}
		fallthrough
	case syntax.OpCapture, syntax.OpConcat, syntax.OpAlternate:
		for _, sub := range re.Sub {
			s, err := buildRegex(sub, count)
			if err != nil {
				return nil, err
			}
			n.subs = append(n.subs, s)
		}
	default:
		// Empty matches, anchors and word boundaries: nothing to write.
		n.op = syntax.OpEmptyMatch
	}
	if n.op == syntax.OpCharClass {
		total := 0
		for i := 0; i < len(n.ranges); i += 2 {
			total += int(n.ranges[i+1]-n.ranges[i]) + 1
			n.weights = append(n.weights, total)
		}
	}
	return n, nil
}

// narrowClass keeps the printable ASCII part of a class if it has one, and
// otherwise the class without surrogates (which UTF-8 cannot encode).
func narrowClass(ranges []rune) []rune {
	var ascii, valid []rune
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if a, b := max(lo, printable[0]), min(hi, printable[1]); a <= b {
			ascii = append(ascii, a, b)
		}
		if lo < 0xd800 {
			valid = append(valid, lo, min(hi, 0xd7ff))
		}
		if hi > 0xdfff {
			valid = append(valid, max(lo, 0xe000), hi)
		}
	}
	if len(ascii) > 0 {
		return ascii
	}
	return valid
}

// regexSoftLimit bounds the optional part of a generated string: once a
// string has this many bytes, repetitions stop at their minimum, so that
// nested stars ((a*)*)* cannot multiply into megabytes.
const regexSoftLimit = 256

// append writes one matching string to buf.
func (g *regexGen) append(buf []byte, r *rng) []byte {
	return g.root.gen(buf, r, len(buf)+regexSoftLimit)
}

func (n *reNode) gen(buf []byte, r *rng, limit int) []byte {
	switch n.op {
	case syntax.OpLiteral:
		for _, c := range n.runes {
			buf = utf8.AppendRune(buf, c)
		}
	case syntax.OpCharClass:
		total := n.weights[len(n.weights)-1]
		x := r.intn(total)
		for i, w := range n.weights {
			if x < w {
				lo := n.ranges[2*i]
				prev := 0
				if i > 0 {
					prev = n.weights[i-1]
				}
				buf = utf8.AppendRune(buf, lo+rune(x-prev))
				break
			}
		}
	case syntax.OpRepeat:
		times := n.min
		if n.max > n.min {
			times += r.intn(n.max - n.min + 1)
		}
		for i := range times {
			if i >= n.min && len(buf) >= limit {
				break
			}
			buf = n.subs[0].gen(buf, r, limit)
		}
	case syntax.OpCapture, syntax.OpConcat:
		for _, s := range n.subs {
			buf = s.gen(buf, r, limit)
		}
	case syntax.OpAlternate:
		buf = n.subs[r.intn(len(n.subs))].gen(buf, r, limit)
	}
	return buf
}
