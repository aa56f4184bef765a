package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sluicehq/sluice/connectors"
)

// connectionFields are the settings of the S3 connection, shared by the
// source and the sink, with Confluent's names and defaults.
func connectionFields() []connectors.ConfigField {
	return []connectors.ConfigField{
		{Name: "s3.bucket.name", Type: connectors.FieldString, Required: true,
			Doc: "The S3 bucket. It must exist: the connector does not create it."},
		{Name: "s3.region", Type: connectors.FieldString, Default: "us-west-2",
			Doc: "The AWS region of the bucket (Confluent's default, us-west-2). S3-compatible stores usually accept any region."},
		{Name: "store.url", Type: connectors.FieldString, Check: checkStoreURL,
			Doc: "The endpoint of an S3-compatible store (MinIO, Ceph, Cloudflare R2, ...) as a URL, such as http://127.0.0.1:9000; http means no TLS. Default: AWS S3 in s3.region."},
		{Name: "aws.access.key.id", Type: connectors.FieldString,
			Doc: "The access key id. Default: the AWS credential chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then ~/.aws/credentials, then the EC2/ECS instance role)."},
		{Name: "aws.secret.access.key", Type: connectors.FieldString, Secret: true,
			Doc: "The secret access key of aws.access.key.id."},
		{Name: "s3.path.style.access.enabled", Type: connectors.FieldBool, Default: true,
			Doc: "Address buckets in the path (http://host/bucket/key) rather than as a host name (http://bucket.host/key); most S3-compatible stores need path style."},
		{Name: "s3.part.retries", Type: connectors.FieldInt, Default: 3, Check: connectors.AtLeast(0),
			Doc: "How often the S3 client retries a failed request (a part upload, a listing, a read) with a short backoff before the failure reaches the connector; retriable failures are then retried by the worker with errors.retry.* backoff. 0: no client retries."},
	}
}

func checkStoreURL(v any) error {
	s := v.(string)
	if s == "" {
		return nil
	}
	_, _, err := parseStoreURL(s)
	return err
}

// parseStoreURL splits store.url into the host[:port] minio-go wants and
// whether to use TLS. A URL without scheme is taken as https.
func parseStoreURL(s string) (host string, secure bool, err error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false, fmt.Errorf("%q is not a URL: %v", s, err)
	}
	switch u.Scheme {
	case "http":
	case "https":
		secure = true
	default:
		return "", false, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return "", false, fmt.Errorf("%q has no host", s)
	}
	if u.Path != "" && u.Path != "/" {
		return "", false, fmt.Errorf("%q has a path; give only scheme, host and port (the bucket is s3.bucket.name)", s)
	}
	return u.Host, secure, nil
}

// store is a connection to one bucket. It is safe for concurrent use (the
// minio-go client is).
type store struct {
	secure   bool
	client   *minio.Client
	core     minio.Core
	bucket   string
	endpoint string // for messages: the endpoint URL
}

func newStore(cfg *connectors.Config) (*store, error) {
	region := cfg.String("s3.region")
	host, secure := "s3."+region+".amazonaws.com", true
	if u := cfg.String("store.url"); u != "" {
		var err error
		if host, secure, err = parseStoreURL(u); err != nil {
			return nil, connectors.Errorf(cfg.Key("store.url"), "%v", err)
		}
	}
	var creds *credentials.Credentials
	if id := cfg.String("aws.access.key.id"); id != "" {
		secret := cfg.Secret("aws.secret.access.key")
		if secret.IsZero() {
			return nil, connectors.Errorf(cfg.Key("aws.secret.access.key"), "required with aws.access.key.id")
		}
		creds = credentials.NewStaticV4(id, secret.Reveal(), "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	}
	lookup := minio.BucketLookupDNS
	if cfg.Bool("s3.path.style.access.enabled") {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       region,
		BucketLookup: lookup,
		// minio-go counts attempts: 1 means no retry.
		MaxRetries: cfg.Int("s3.part.retries") + 1,
	})
	if err != nil {
		return nil, connectors.Errorf(cfg.Key("store.url"), "%v", err)
	}
	scheme := "https"
	if !secure {
		scheme = "http"
	}
	return &store{
		secure:   secure,
		client:   client,
		core:     minio.Core{Client: client},
		bucket:   cfg.String("s3.bucket.name"),
		endpoint: scheme + "://" + host,
	}, nil
}

// payloadHash is the SHA-256 (hex) an upload is signed with. Without TLS
// the payload is signed, so the store rejects corrupted bytes; over TLS it
// is left unsigned (empty), as minio-go and the AWS SDKs do. The hash is
// computed here rather than by minio-go's streaming (aws-chunked)
// signature, which some S3-compatible stores do not decode for parts.
func (s *store) payloadHash(data []byte) string {
	if s.secure {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// check verifies that the bucket exists and the credentials may use it,
// so that a wrong key or bucket fails the task at start with a clear
// message rather than at the first upload.
func (s *store) check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.wrap("access", "", err)
	}
	if !ok {
		return fmt.Errorf("s3: bucket %q does not exist at %s: create it, or fix s3.bucket.name", s.bucket, s.endpoint)
	}
	return nil
}

// wrap classifies an S3 failure: network failures, throttling and server
// errors (5xx) are retriable; an authentication or authorization failure
// is a permanent error naming the bucket, the endpoint and the settings to
// check; anything else is permanent.
func (s *store) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf("bucket %q", s.bucket)
	if key != "" {
		what = fmt.Sprintf("%q in bucket %q", key, s.bucket)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("s3: %s %s at %s: %w", op, what, s.endpoint, err)
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && (resp.StatusCode != 0 || resp.Code != "") {
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden ||
			isAuthCode(resp.Code):
			return fmt.Errorf("s3: %s %s at %s: access denied (%s: %s): check aws.access.key.id, aws.secret.access.key and the bucket's policy",
				op, what, s.endpoint, resp.Code, resp.Message)
		case resp.Code == minio.NoSuchBucket:
			return fmt.Errorf("s3: %s %s at %s: the bucket does not exist: create it, or fix s3.bucket.name", op, what, s.endpoint)
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout ||
			resp.Code == "SlowDown" || resp.Code == "RequestTimeout" || resp.Code == "InternalError" || resp.Code == "ServiceUnavailable":
			return connectors.Retriable(fmt.Errorf("s3: %s %s at %s: %w", op, what, s.endpoint, err))
		}
		return fmt.Errorf("s3: %s %s at %s: %w", op, what, s.endpoint, err)
	}
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &netErr) || errors.As(err, &urlErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return connectors.Retriable(fmt.Errorf("s3: %s %s at %s: %w", op, what, s.endpoint, err))
	}
	return fmt.Errorf("s3: %s %s at %s: %w", op, what, s.endpoint, err)
}

func isAuthCode(code string) bool {
	switch code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
		"TokenRefreshRequired", "AllAccessDisabled", "AccountProblem":
		return true
	}
	return false
}

// isNotFound reports whether err is a missing object or upload.
func isNotFound(err error) bool {
	resp := minio.ToErrorResponse(err)
	return resp.Code == minio.NoSuchKey || resp.Code == "NoSuchUpload" || resp.StatusCode == http.StatusNotFound
}
