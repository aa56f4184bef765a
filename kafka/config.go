// Package kafka turns a Kafka client configuration, written with Kafka's
// own property names, into franz-go client options: seed brokers, TLS and
// SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, AWS_MSK_IAM). It
// is the one way Sluice's engine, CLI, connectors and registry connect to
// Kafka, and the way programs built on Sluice connect to a secured cluster:
//
//	cfg, err := kafka.Load("client.properties", os.Environ(), nil)
//	opts, err := cfg.Options()
//	app, err := core.New(topo, core.WithBrokers(cfg.BootstrapServers...), core.WithKafkaOptions(opts...))
//
// A configuration comes from a properties file (the client.properties that
// kcat -F, librdkafka and Kafka's --command-config take), environment
// variables (SLUICE_KAFKA_SASL_PASSWORD for sasl.password) and explicit
// settings, later ones winning. [Config.Check] connects once and turns the
// classic failures (wrong password, untrusted certificate, a TLS client at
// a plaintext listener, an unreachable cluster) into errors that name the
// cause and the setting to change.
package kafka

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/properties"
)

// Property names (Kafka's client configs; librdkafka's names where Kafka's
// Java client has none: sasl.username, sasl.password, ssl.*.location).
const (
	BootstrapServers                   = "bootstrap.servers"
	ClientID                           = "client.id"
	SecurityProtocol                   = "security.protocol"
	SASLMechanism                      = "sasl.mechanism"
	SASLUsername                       = "sasl.username"
	SASLPassword                       = "sasl.password"
	SASLJAASConfig                     = "sasl.jaas.config"
	SASLOAuthBearerTokenFile           = "sasl.oauthbearer.token.file"
	SASLOAuthBearerTokenCommand        = "sasl.oauthbearer.token.command"
	SSLCALocation                      = "ssl.ca.location"
	SSLCertificateLocation             = "ssl.certificate.location"
	SSLKeyLocation                     = "ssl.key.location"
	SSLEndpointIdentificationAlgorithm = "ssl.endpoint.identification.algorithm"
)

// Security protocols (security.protocol).
const (
	Plaintext     = "PLAINTEXT"
	SSL           = "SSL"
	SASLPlaintext = "SASL_PLAINTEXT"
	SASLSSL       = "SASL_SSL"
)

// SASL mechanisms (sasl.mechanism).
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
	MechanismOAuthBearer = "OAUTHBEARER"
	MechanismAWSMSKIAM   = "AWS_MSK_IAM"
)

// EnvPrefix starts the environment variable of each property: the property
// in upper case with dots as underscores (SLUICE_KAFKA_BOOTSTRAP_SERVERS).
const EnvPrefix = "SLUICE_KAFKA_"

// Config is a Kafka client configuration. The zero value is a plaintext
// connection to no broker; fill it with [Parse] or [Load], or set fields.
type Config struct {
	// BootstrapServers are the seed brokers, host:port (bootstrap.servers).
	BootstrapServers []string
	// ClientID names the client to the brokers (client.id). Sluice's
	// components set their own when it is empty.
	ClientID string
	// SecurityProtocol is PLAINTEXT (the default), SSL, SASL_PLAINTEXT or
	// SASL_SSL (security.protocol).
	SecurityProtocol string
	// SASLMechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or
	// AWS_MSK_IAM (sasl.mechanism); required with a SASL protocol (Kafka's
	// default, GSSAPI, is not supported).
	SASLMechanism string
	// SASLUsername and SASLPassword are the PLAIN and SCRAM credentials
	// (sasl.username, sasl.password; or username and password in
	// sasl.jaas.config, as Java clients write them).
	SASLUsername string
	SASLPassword string
	// OAuthBearerTokenFile is read for a token at every authentication
	// (sasl.oauthbearer.token.file), so a sidecar can refresh it.
	OAuthBearerTokenFile string
	// OAuthBearerTokenCommand is run (by sh -c) for a token at every
	// authentication; its trimmed standard output is the token
	// (sasl.oauthbearer.token.command).
	OAuthBearerTokenCommand string
	// SSLCALocation is a PEM file of the CA certificates to trust
	// (ssl.ca.location); empty: the system's roots.
	SSLCALocation string
	// SSLCertificateLocation and SSLKeyLocation are the PEM client
	// certificate and its unencrypted private key, for mutual TLS
	// (ssl.certificate.location, ssl.key.location).
	SSLCertificateLocation string
	SSLKeyLocation         string
	// SSLEndpointIdentificationAlgorithm is "https" (the default: the
	// broker's certificate must name the host connected to) or "none" (or
	// empty, as Kafka writes it) to check the chain of trust only
	// (ssl.endpoint.identification.algorithm).
	SSLEndpointIdentificationAlgorithm string

	// Ignored lists the properties [Parse] was given that are not client
	// connection settings (acks, group.id, ...): shared client.properties
	// files hold them, so they are not errors, but callers may log them.
	Ignored []string
}

// secretProperties are never printed.
var secretProperties = map[string]bool{SASLPassword: true, SASLJAASConfig: true}

// IsSecret reports whether a property holds a secret.
func IsSecret(property string) bool { return secretProperties[property] }

// known are the properties Parse reads, in the order Properties writes.
var known = []string{BootstrapServers, ClientID, SecurityProtocol, SASLMechanism, SASLUsername, SASLPassword,
	SASLOAuthBearerTokenFile, SASLOAuthBearerTokenCommand, SSLCALocation, SSLCertificateLocation, SSLKeyLocation,
	SSLEndpointIdentificationAlgorithm}

// unsupported are properties with a known meaning that Sluice cannot honor,
// with what to do instead: silently ignoring them would connect with other
// security than the user asked for.
var unsupported = map[string]string{
	"ssl.truststore.location":             "Java key stores are not read: export the CA certificates as PEM and set ssl.ca.location",
	"ssl.truststore.password":             "Java key stores are not read: export the CA certificates as PEM and set ssl.ca.location",
	"ssl.truststore.type":                 "Java key stores are not read: export the CA certificates as PEM and set ssl.ca.location",
	"ssl.keystore.location":               "Java key stores are not read: export the client certificate and key as PEM and set ssl.certificate.location and ssl.key.location",
	"ssl.keystore.password":               "Java key stores are not read: export the client certificate and key as PEM and set ssl.certificate.location and ssl.key.location",
	"ssl.keystore.type":                   "Java key stores are not read: export the client certificate and key as PEM and set ssl.certificate.location and ssl.key.location",
	"ssl.key.password":                    "encrypted private keys are not read: decrypt the key (openssl pkey -in key.pem -out plain.pem) and set ssl.key.location",
	"ssl.ca.pem":                          "inline PEM is not read: write it to a file and set ssl.ca.location",
	"ssl.certificate.pem":                 "inline PEM is not read: write it to a file and set ssl.certificate.location",
	"ssl.key.pem":                         "inline PEM is not read: write it to a file and set ssl.key.location",
	"sasl.kerberos.service.name":          "GSSAPI (Kerberos) is not supported",
	"sasl.login.callback.handler.class":   "Java callback handlers cannot run here: for OAUTHBEARER set sasl.oauthbearer.token.file or sasl.oauthbearer.token.command",
	"sasl.oauthbearer.token.endpoint.url": "the OIDC client-credentials flow is not built in: fetch tokens with sasl.oauthbearer.token.command",
	"sasl.oauthbearer.method":             "the OIDC client-credentials flow is not built in: fetch tokens with sasl.oauthbearer.token.command",
}

// Parse reads a configuration from properties. Unknown ssl.*, sasl.* and
// security.* properties are errors (a typo there would connect insecurely
// or not at all); other unknown properties are listed in Ignored. Every
// problem is reported, joined.
func Parse(props map[string]string) (Config, error) {
	var c Config
	var errs []error
	var jaasUser, jaasPass string
	for _, k := range slices.Sorted(maps.Keys(props)) {
		v := strings.TrimSpace(props[k])
		switch k {
		case BootstrapServers:
			c.BootstrapServers = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					c.BootstrapServers = append(c.BootstrapServers, s)
				}
			}
		case ClientID:
			c.ClientID = v
		case SecurityProtocol:
			c.SecurityProtocol = strings.ToUpper(v)
		case SASLMechanism:
			c.SASLMechanism = strings.ToUpper(v)
		case SASLUsername:
			c.SASLUsername = v
		case SASLPassword:
			c.SASLPassword = props[k] // a password may end in spaces
		case SASLJAASConfig:
			user, pass, err := parseJAAS(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
				continue
			}
			jaasUser, jaasPass = user, pass
		case SASLOAuthBearerTokenFile:
			c.OAuthBearerTokenFile = v
		case SASLOAuthBearerTokenCommand:
			c.OAuthBearerTokenCommand = v
		case SSLCALocation:
			c.SSLCALocation = v
		case SSLCertificateLocation:
			c.SSLCertificateLocation = v
		case SSLKeyLocation:
			c.SSLKeyLocation = v
		case SSLEndpointIdentificationAlgorithm:
			// Kafka disables host name checks with an empty value.
			c.SSLEndpointIdentificationAlgorithm = strings.ToLower(v)
			if v == "" {
				c.SSLEndpointIdentificationAlgorithm = "none"
			}
		default:
			if why, ok := unsupported[k]; ok {
				if v != "" {
					errs = append(errs, fmt.Errorf("%s is not supported: %s", k, why))
				}
				continue
			}
			if strings.HasPrefix(k, "ssl.") || strings.HasPrefix(k, "sasl.") || strings.HasPrefix(k, "security.") {
				errs = append(errs, fmt.Errorf("unknown property %s (known: %s)", k, strings.Join(known, ", ")))
				continue
			}
			c.Ignored = append(c.Ignored, k)
		}
	}
	// sasl.username and sasl.password win over the JAAS line's.
	if c.SASLUsername == "" {
		c.SASLUsername = jaasUser
	}
	if c.SASLPassword == "" {
		c.SASLPassword = jaasPass
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("kafka: %w", errors.Join(errs...))
	}
	return c, nil
}

// Load reads a configuration from a properties file (none if file is
// empty), then the SLUICE_KAFKA_* variables of environ (os.Environ's form),
// then overrides, each replacing the properties the one before set.
func Load(file string, environ []string, overrides map[string]string) (Config, error) {
	return LoadOver(nil, file, environ, overrides)
}

// LoadOver is Load over base properties (a job file's kafka section):
// base, then the file, then the environment, then overrides.
func LoadOver(base map[string]string, file string, environ []string, overrides map[string]string) (Config, error) {
	props := maps.Clone(base)
	if props == nil {
		props = map[string]string{}
	}
	if file != "" {
		fileProps, err := ReadFile(file)
		if err != nil {
			return Config{}, err
		}
		maps.Copy(props, fileProps)
	}
	maps.Copy(props, FromEnv(environ))
	for k, v := range overrides {
		if v != "" {
			props[k] = v
		}
	}
	c, err := Parse(props)
	if err != nil && file != "" {
		return Config{}, fmt.Errorf("%w (from %s and SLUICE_KAFKA_* variables)", err, file)
	}
	return c, err
}

// ReadFile reads a client properties file.
func ReadFile(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("kafka: client configuration: %w", err)
	}
	props, err := properties.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("kafka: client configuration %s: %w", file, err)
	}
	return props, nil
}

// FromEnv returns the properties that environment variables set: each
// known property's EnvPrefix variable (SLUICE_KAFKA_SASL_PASSWORD sets
// sasl.password). environ is os.Environ's form.
func FromEnv(environ []string) map[string]string {
	byName := make(map[string]string, len(known))
	for _, k := range append(slices.Clone(known), SASLJAASConfig) {
		byName[EnvName(k)] = k
	}
	out := map[string]string{}
	for _, kv := range environ {
		name, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if k, ok := byName[name]; ok {
			out[k] = v
		}
	}
	return out
}

// EnvName is the environment variable that sets property.
func EnvName(property string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(property, ".", "_"))
}

// Validate checks the settings' values and combinations, reporting every
// problem joined. It does not read files or connect.
func (c Config) Validate() error {
	var errs []error
	proto := c.protocol()
	switch proto {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
	default:
		errs = append(errs, fmt.Errorf("%s=%s: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", SecurityProtocol, c.SecurityProtocol))
	}
	usesSASL := proto == SASLPlaintext || proto == SASLSSL
	usesTLS := proto == SSL || proto == SASLSSL
	if !usesSASL && c.SASLMechanism != "" {
		errs = append(errs, fmt.Errorf("%s=%s is set but %s=%s does not authenticate with SASL: use SASL_SSL (or SASL_PLAINTEXT)",
			SASLMechanism, c.SASLMechanism, SecurityProtocol, proto))
	}
	if usesSASL {
		switch c.SASLMechanism {
		case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
			if c.SASLUsername == "" {
				errs = append(errs, fmt.Errorf("%s=%s needs %s (or username in %s)", SASLMechanism, c.SASLMechanism, SASLUsername, SASLJAASConfig))
			}
			if c.SASLPassword == "" {
				errs = append(errs, fmt.Errorf("%s=%s needs %s (or password in %s)", SASLMechanism, c.SASLMechanism, SASLPassword, SASLJAASConfig))
			}
		case MechanismOAuthBearer:
			if (c.OAuthBearerTokenFile == "") == (c.OAuthBearerTokenCommand == "") {
				errs = append(errs, fmt.Errorf("%s=OAUTHBEARER needs exactly one of %s and %s", SASLMechanism, SASLOAuthBearerTokenFile, SASLOAuthBearerTokenCommand))
			}
		case MechanismAWSMSKIAM:
		case "":
			errs = append(errs, fmt.Errorf("%s=%s needs %s: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or AWS_MSK_IAM", SecurityProtocol, proto, SASLMechanism))
		default:
			errs = append(errs, fmt.Errorf("%s=%s is not supported: want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or AWS_MSK_IAM", SASLMechanism, c.SASLMechanism))
		}
		if c.SASLMechanism == MechanismAWSMSKIAM && !usesTLS {
			errs = append(errs, fmt.Errorf("%s=AWS_MSK_IAM needs %s=SASL_SSL (MSK's IAM listener is TLS)", SASLMechanism, SecurityProtocol))
		}
	}
	if !usesTLS {
		for k, v := range map[string]string{SSLCALocation: c.SSLCALocation, SSLCertificateLocation: c.SSLCertificateLocation, SSLKeyLocation: c.SSLKeyLocation} {
			if v != "" {
				errs = append(errs, fmt.Errorf("%s is set but %s=%s does not use TLS: use SSL or SASL_SSL", k, SecurityProtocol, proto))
			}
		}
	}
	if (c.SSLCertificateLocation == "") != (c.SSLKeyLocation == "") {
		errs = append(errs, fmt.Errorf("%s and %s go together (a client certificate and its key)", SSLCertificateLocation, SSLKeyLocation))
	}
	switch c.SSLEndpointIdentificationAlgorithm {
	case "", "https", "none":
	default:
		errs = append(errs, fmt.Errorf("%s=%s: want https or none", SSLEndpointIdentificationAlgorithm, c.SSLEndpointIdentificationAlgorithm))
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

func (c Config) protocol() string {
	if c.SecurityProtocol == "" {
		return Plaintext
	}
	return c.SecurityProtocol
}

// Properties returns the configuration as properties, secrets included
// (for handing it on; print [Config.Redacted] instead).
func (c Config) Properties() map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set(BootstrapServers, strings.Join(c.BootstrapServers, ","))
	set(ClientID, c.ClientID)
	set(SecurityProtocol, c.SecurityProtocol)
	set(SASLMechanism, c.SASLMechanism)
	set(SASLUsername, c.SASLUsername)
	set(SASLPassword, c.SASLPassword)
	set(SASLOAuthBearerTokenFile, c.OAuthBearerTokenFile)
	set(SASLOAuthBearerTokenCommand, c.OAuthBearerTokenCommand)
	set(SSLCALocation, c.SSLCALocation)
	set(SSLCertificateLocation, c.SSLCertificateLocation)
	set(SSLKeyLocation, c.SSLKeyLocation)
	set(SSLEndpointIdentificationAlgorithm, c.SSLEndpointIdentificationAlgorithm)
	return out
}

// Redacted is Properties with every secret replaced by "[hidden]".
func (c Config) Redacted() map[string]string {
	p := c.Properties()
	for k := range p {
		if IsSecret(k) {
			p[k] = "[hidden]"
		}
	}
	return p
}

// String prints the configuration, secrets hidden, so that a Config can be
// logged or formatted with %v safely.
func (c Config) String() string {
	p := c.Redacted()
	parts := make([]string, 0, len(p))
	for _, k := range known {
		if v, ok := p[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// GoString hides secrets from %#v too.
func (c Config) GoString() string { return "kafka.Config{" + c.String() + "}" }

// parseJAAS reads the username and password options of a JAAS line as Java
// clients set sasl.jaas.config:
//
//	org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";
func parseJAAS(s string) (user, pass string, err error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";"))
	module, rest, _ := strings.Cut(s, " ")
	switch {
	case strings.HasSuffix(module, ".PlainLoginModule"), strings.HasSuffix(module, ".ScramLoginModule"):
	case strings.HasSuffix(module, ".OAuthBearerLoginModule"):
		return "", "", nil // its options (unsecured tokens, client ids) are not credentials here
	default:
		return "", "", fmt.Errorf("login module %q is not supported (PlainLoginModule and ScramLoginModule are)", module)
	}
	rest = strings.TrimSpace(rest)
	flag, rest, _ := strings.Cut(rest, " ")
	if flag != "required" && flag != "requisite" && flag != "sufficient" && flag != "optional" {
		return "", "", errors.New("want `<LoginModule> required username=\"...\" password=\"...\";`")
	}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			return "", "", fmt.Errorf("option %q has no value", rest)
		}
		name = strings.TrimSpace(name)
		after = strings.TrimSpace(after)
		var value string
		if strings.HasPrefix(after, `"`) {
			end := 1
			var b strings.Builder
			for ; end < len(after) && after[end] != '"'; end++ {
				if after[end] == '\\' && end+1 < len(after) {
					end++
				}
				b.WriteByte(after[end])
			}
			if end >= len(after) {
				return "", "", fmt.Errorf("option %s: unterminated quote", name)
			}
			value, rest = b.String(), after[end+1:]
		} else {
			value, rest, _ = strings.Cut(after, " ")
		}
		switch name {
		case "username":
			user = value
		case "password":
			pass = value
		}
	}
	return user, pass, nil
}
