package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice/internal/pemtls"
)

// Options returns the franz-go options that connect as configured: seed
// brokers, client id, TLS (certificate files are read now, so a missing or
// malformed file is reported here) and SASL.
func (c Config) Options() ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if len(c.BootstrapServers) == 0 {
		return nil, fmt.Errorf("kafka: %s is not set", BootstrapServers)
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.BootstrapServers...)}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	proto := c.protocol()
	if proto == SSL || proto == SASLSSL {
		tc, err := c.TLSConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if proto == SASLPlaintext || proto == SASLSSL {
		opts = append(opts, kgo.SASL(c.mechanism()))
	}
	return opts, nil
}

// TLSConfig is the client TLS configuration of the ssl.* settings (TLS 1.2
// or later). franz-go sets the server name of each connection from the
// broker's host.
func (c Config) TLSConfig() (*tls.Config, error) {
	tc, err := pemtls.Load(pemtls.File{Property: SSLCALocation, Path: c.SSLCALocation},
		pemtls.File{Property: SSLCertificateLocation, Path: c.SSLCertificateLocation},
		pemtls.File{Property: SSLKeyLocation, Path: c.SSLKeyLocation})
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if c.SSLEndpointIdentificationAlgorithm == "none" {
		// Check the chain against the roots, but not the host name: Go's
		// only way is to skip its verification and redo the chain here.
		roots := tc.RootCAs
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the broker sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, cert := range cs.PeerCertificates[1:] {
				inter.AddCert(cert)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return tc, nil
}

// mechanism is the SASL mechanism; Validate has checked its settings.
func (c Config) mechanism() sasl.Mechanism {
	switch c.SASLMechanism {
	case MechanismPlain:
		return plain.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsMechanism()
	case MechanismScramSHA256:
		return scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha256Mechanism()
	case MechanismScramSHA512:
		return scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha512Mechanism()
	case MechanismOAuthBearer:
		return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
			tok, err := c.oauthToken(ctx)
			return oauth.Auth{Token: tok}, err
		})
	default: // AWS_MSK_IAM
		// AWS's default chain, as the s3 connector reads it: the
		// environment, the shared credentials file, then the instance or
		// container role (EC2, ECS, EKS web identity). Credentials are
		// cached until they expire.
		creds := credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
		})
		return aws.ManagedStreamingIAM(func(ctx context.Context) (aws.Auth, error) {
			v, err := creds.GetWithContext(&credentials.CredContext{Client: http.DefaultClient, Context: ctx})
			if err != nil {
				return aws.Auth{}, fmt.Errorf("kafka: AWS_MSK_IAM: no AWS credentials (environment, ~/.aws/credentials or instance role): %w", err)
			}
			return aws.Auth{AccessKey: v.AccessKeyID, SecretKey: v.SecretAccessKey, SessionToken: v.SessionToken}, nil
		})
	}
}

// oauthToken reads the OAUTHBEARER token from its file or command, anew for
// every authentication so that refreshed tokens are picked up.
func (c Config) oauthToken(ctx context.Context) (string, error) {
	if c.OAuthBearerTokenFile != "" {
		b, err := os.ReadFile(c.OAuthBearerTokenFile)
		if err != nil {
			return "", fmt.Errorf("kafka: %s: %w", SASLOAuthBearerTokenFile, err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("kafka: %s=%s is empty", SASLOAuthBearerTokenFile, c.OAuthBearerTokenFile)
		}
		return tok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", c.OAuthBearerTokenCommand)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// The command is not printed: it may hold a client secret.
		return "", fmt.Errorf("kafka: %s failed: %w: %s", SASLOAuthBearerTokenCommand, err, strings.TrimSpace(stderr.String()))
	}
	tok := strings.TrimSpace(string(out))
	if tok == "" {
		return "", fmt.Errorf("kafka: %s printed no token", SASLOAuthBearerTokenCommand)
	}
	return tok, nil
}

// CheckTimeout bounds [Config.Check].
const CheckTimeout = 15 * time.Second

// Check connects to the cluster once (TLS, SASL, a metadata request) and
// returns nil, or an error naming the cause and the setting to change. Run
// it before starting long-lived clients: franz-go retries connection
// failures quietly, so a wrong password would otherwise look like a hang.
func (c Config) Check(ctx context.Context) error {
	opts, err := c.Options()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	opts = append(opts, kgo.DialTimeout(CheckTimeout/2), kgo.RequestRetries(0))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		return c.Explain(err)
	}
	// Ping may have been answered before authentication (ApiVersions is
	// allowed then); a metadata request needs it.
	req := kmsgMetadata()
	if _, err := req.RequestWith(ctx, cl); err != nil {
		return c.Explain(err)
	}
	return nil
}

// Explain wraps a connection error with its likely cause and the setting
// to change, keeping err in the chain. Other errors are returned wrapped
// with the bootstrap servers.
func (c Config) Explain(err error) error {
	if err == nil {
		return nil
	}
	where := strings.Join(c.BootstrapServers, ",")
	proto := c.protocol()
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		dnsErr    *net.DNSError
		alert     tls.AlertError
	)
	var cause string
	switch {
	case errors.As(err, &unknownCA):
		ca := "the system's roots"
		if c.SSLCALocation != "" {
			ca = SSLCALocation + "=" + c.SSLCALocation
		}
		cause = fmt.Sprintf("the broker's TLS certificate is not signed by a trusted authority (trusted: %s): set %s to the CA that signed it", ca, SSLCALocation)
	case errors.As(err, &hostname):
		cause = fmt.Sprintf("the broker's TLS certificate is not valid for %q: connect by a name the certificate holds, or set %s=none", hostname.Host, SSLEndpointIdentificationAlgorithm)
	case errors.As(err, &invalid):
		cause = "the broker's TLS certificate is invalid (expired, or not for server use)"
	case errors.As(err, &header):
		cause = fmt.Sprintf("the broker did not answer TLS: its listener is not TLS, use %s=%s", SecurityProtocol, map[string]string{SSL: Plaintext, SASLSSL: SASLPlaintext}[proto])
	case errors.As(err, &alert):
		cause = "the broker refused the TLS handshake (a client certificate may be required: set " + SSLCertificateLocation + " and " + SSLKeyLocation + ")"
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		who := ""
		if c.SASLUsername != "" {
			who = fmt.Sprintf(" as %q", c.SASLUsername)
		}
		cause = fmt.Sprintf("SASL authentication%s with %s failed: check %s and %s (and that the broker has this user for %s)", who, c.SASLMechanism, SASLUsername, SASLPassword, c.SASLMechanism)
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		cause = fmt.Sprintf("the broker does not enable %s=%s", SASLMechanism, c.SASLMechanism)
	case errors.Is(err, kerr.IllegalSaslState):
		cause = fmt.Sprintf("the broker's SASL exchange failed: does %s=%s match the listener?", SecurityProtocol, proto)
	case errors.Is(err, kerr.ClusterAuthorizationFailed), errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed):
		cause = "the authenticated user is not authorized (ACLs)"
	case errors.As(err, &dnsErr):
		cause = fmt.Sprintf("cannot resolve %q: check %s", dnsErr.Name, BootstrapServers)
	case errors.Is(err, syscall.ECONNREFUSED):
		cause = fmt.Sprintf("nothing listens there: check %s", BootstrapServers)
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF):
		switch proto {
		case Plaintext:
			cause = fmt.Sprintf("the broker closed the connection: its listener probably needs TLS or SASL (set %s)", SecurityProtocol)
		case SASLPlaintext, SASLSSL:
			// Kafka answers a failed authentication with an error (handled
			// above); some brokers just close the connection.
			cause = fmt.Sprintf("the broker closed the connection during SASL authentication as %q with %s: check %s and %s, that the broker enables %s=%s, and that its listener is %s",
				c.SASLUsername, c.SASLMechanism, SASLUsername, SASLPassword, SASLMechanism, c.SASLMechanism, proto)
		default:
			cause = fmt.Sprintf("the broker closed the connection: check that %s=%s matches its listener", SecurityProtocol, proto)
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, kgo.ErrClientClosed):
		cause = fmt.Sprintf("no broker answered within %s: check %s, the network, and that %s=%s matches the listener", CheckTimeout, BootstrapServers, SecurityProtocol, proto)
	default:
		return fmt.Errorf("kafka: %s: %w", where, err)
	}
	return fmt.Errorf("kafka: %s: %s: %w", where, cause, err)
}

// kmsgMetadata is a metadata request for no topics: the cheapest request
// that needs an authenticated connection.
func kmsgMetadata() *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	return req
}

// EnsureTopics creates each topic with partitions partitions and
// replicationFactor replicas (-1: the broker's default) unless it exists;
// existing topics are left as they are. configs are topic configs
// (cleanup.policy, retention.ms, ...), nil for the broker's defaults.
func EnsureTopics(ctx context.Context, adm *kadm.Client, partitions int32, replicationFactor int16, configs map[string]*string, names ...string) error {
	resp, err := adm.CreateTopics(ctx, partitions, replicationFactor, configs, names...)
	if err != nil {
		return fmt.Errorf("kafka: create topics %v: %w", names, err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %q: %w", r.Topic, r.Err)
		}
	}
	return nil
}
