package transforms

import (
	"regexp"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

var regexRouterInfo = connectors.Info{
	Name:    "RegexRouter",
	Aliases: []string{kafkaClass("RegexRouter")},
	Summary: "Change the record topic with a regular expression and a replacement.",
	Doc: "Kafka Connect's RegexRouter. If the regular expression matches the whole topic name, the first match is replaced with the replacement (Java's Matcher.replaceFirst), whose $1 or ${name} insert groups and \\ escapes a character; otherwise the topic is kept. " +
		"The expression is run by Go's RE2 engine: Java syntax works except lookaround, backreferences and possessive quantifiers, which are rejected when the connector is configured.",
	Spec: connectors.Spec{
		Fields: []connectors.ConfigField{
			{Name: "regex", Type: connectors.FieldString, Required: true, Check: isRegex, Doc: "Regular expression to use for matching."},
			{Name: "replacement", Type: connectors.FieldString, Required: true, Doc: "Replacement string."},
		},
		Check: func(cfg *connectors.Config) error {
			re, _, _ := compileJavaRegex(cfg.String("regex"))
			if _, err := compileJavaReplacement(re, cfg.String("replacement")); err != nil {
				return connectors.Errorf(cfg.Key("replacement"), "%v", err)
			}
			return nil
		},
	},
	Example: "transforms: route\ntransforms.route.type: RegexRouter\ntransforms.route.regex: \"dbserver1\\\\.inventory\\\\.(.*)\"\ntransforms.route.replacement: \"cdc-$1\"\n",
}

type regexRouter struct {
	find, whole *regexp.Regexp
	repl        *javaReplacement
}

func newRegexRouter(cfg *connectors.Config) (connectors.Transform, error) {
	find, whole, err := compileJavaRegex(cfg.String("regex"))
	if err != nil {
		return nil, connectors.Errorf(cfg.Key("regex"), "%v", err)
	}
	repl, err := compileJavaReplacement(find, cfg.String("replacement"))
	if err != nil {
		return nil, connectors.Errorf(cfg.Key("replacement"), "%v", err)
	}
	return &regexRouter{find: find, whole: whole, repl: repl}, nil
}

func (t *regexRouter) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	if t.whole.MatchString(rec.Topic) {
		rec.Topic = t.repl.replaceFirst(t.find, rec.Topic)
	}
	return append(dst, rec), nil
}

var timestampRouterInfo = connectors.Info{
	Name:    "TimestampRouter",
	Aliases: []string{kafkaClass("TimestampRouter")},
	Summary: "Change the record topic to a function of the topic and the record timestamp, such as orders-20240115.",
	Doc: "Kafka Connect's TimestampRouter, mainly for sinks whose destination (a table, an index, a directory) is named after the topic. " +
		"The timestamp is formatted in UTC with a java.text.SimpleDateFormat pattern (letters G y M L d D E u a H k K h m s S z Z X). A record without a timestamp is an error, as in Kafka Connect.",
	Spec: connectors.Spec{
		Fields: []connectors.ConfigField{
			{Name: "topic.format", Type: connectors.FieldString, Default: "${topic}-${timestamp}",
				Doc: "Format string which can contain ${topic} and ${timestamp} as placeholders for the topic and timestamp, respectively."},
			{Name: "timestamp.format", Type: connectors.FieldString, Default: "yyyyMMdd", Check: checkDateFormat,
				Doc: "Format string for the timestamp that is compatible with java.text.SimpleDateFormat."},
		},
		Check: func(cfg *connectors.Config) error {
			if cfg.String("timestamp.format") == "" {
				return connectors.Errorf(cfg.Key("timestamp.format"), "must not be empty")
			}
			return nil
		},
	},
	Example: "transforms: daily\ntransforms.daily.type: TimestampRouter\ntransforms.daily.topic.format: \"${topic}-${timestamp}\"\ntransforms.daily.timestamp.format: yyyy.MM.dd\n",
}

type timestampRouter struct {
	id     ident
	format *dateFormat
	// The topic format split at its placeholders.
	parts []routerPart
}

type routerPart struct {
	lit  string
	kind byte // 0: literal, 't': topic, 's': timestamp
}

func newTimestampRouter(cfg *connectors.Config) (connectors.Transform, error) {
	f, err := compileDateFormat(cfg.String("timestamp.format"))
	if err != nil {
		return nil, connectors.Errorf(cfg.Key("timestamp.format"), "%v", err)
	}
	t := &timestampRouter{id: newIdent("TimestampRouter", cfg), format: f}
	rest := cfg.String("topic.format")
	for rest != "" {
		ti, si := strings.Index(rest, "${topic}"), strings.Index(rest, "${timestamp}")
		switch {
		case ti < 0 && si < 0:
			t.parts = append(t.parts, routerPart{lit: rest})
			rest = ""
		case si < 0 || (ti >= 0 && ti < si):
			if ti > 0 {
				t.parts = append(t.parts, routerPart{lit: rest[:ti]})
			}
			t.parts = append(t.parts, routerPart{kind: 't'})
			rest = rest[ti+len("${topic}"):]
		default:
			if si > 0 {
				t.parts = append(t.parts, routerPart{lit: rest[:si]})
			}
			t.parts = append(t.parts, routerPart{kind: 's'})
			rest = rest[si+len("${timestamp}"):]
		}
	}
	return t, nil
}

func (t *timestampRouter) Apply(dst []*connectors.Record, rec *connectors.Record) ([]*connectors.Record, error) {
	if rec.Timestamp.IsZero() {
		return dst, t.id.fail(rec, "the record has no timestamp to route by (set timestamps at the source, or route with RegexRouter)")
	}
	buf := make([]byte, 0, len(rec.Topic)+24)
	for _, p := range t.parts {
		switch p.kind {
		case 't':
			buf = append(buf, rec.Topic...)
		case 's':
			buf = t.format.append(buf, rec.Timestamp)
		default:
			buf = append(buf, p.lit...)
		}
	}
	rec.Topic = string(buf)
	return append(dst, rec), nil
}
