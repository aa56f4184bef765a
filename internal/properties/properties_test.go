package properties

import (
	"maps"
	"testing"
)

// The forms java.util.Properties.load accepts.
func TestParse(t *testing.T) {
	t.Parallel()
	in := `# a comment
! another comment
bootstrap.servers=broker-1:9092,broker-2:9092
security.protocol : SASL_SSL
sasl.mechanism PLAIN
   client.id   =   spaced   
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
    username="u" \
    password="p=q";
key\ with\ spaces=v
escaped=tab\there\u0041
empty=
`
	got, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"bootstrap.servers": "broker-1:9092,broker-2:9092",
		"security.protocol": "SASL_SSL",
		"sasl.mechanism":    "PLAIN",
		"client.id":         "spaced   ",
		"sasl.jaas.config":  `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p=q";`,
		"key with spaces":   "v",
		"escaped":           "tab\thereA",
		"empty":             "",
	}
	if !maps.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("a=b\nc: d\n# x\ne f\\\n g\n"))
	f.Add([]byte("\\u12"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Any input parses or fails without panicking.
		_, _ = Parse(data)
	})
}
