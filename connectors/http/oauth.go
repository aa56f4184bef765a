package httpconn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// oauthConfig is auth.type=OAUTH2: the client-credentials grant (RFC 6749
// section 4.4).
type oauthConfig struct {
	tokenURL      string
	clientID      string
	clientSecret  connectors.Secret
	scope         string
	credsInHeader bool
	tokenProperty string
}

// oauthSource fetches and caches a token. Safe for concurrent use: the
// sink's sending goroutines share it, and one fetch serves them all.
type oauthSource struct {
	cfg     *oauthConfig
	client  *http.Client
	timeout time.Duration

	mu     sync.Mutex
	tok    string
	expiry time.Time // zero: until a 401 says otherwise
}

// oauthError is a failed token fetch. A permanent one (the endpoint
// answered 4xx: wrong credentials or scope) fails the task, since retrying
// cannot help; others (network, 5xx) are retried like a failed request.
type oauthError struct {
	msg       string
	permanent bool
}

func (e *oauthError) Error() string { return e.msg }

// expiryMargin renews a token this long before it expires, so a request
// does not leave with a token that expires on the way.
const expiryMargin = 30 * time.Second

func (o *oauthSource) token(ctx context.Context) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tok != "" && (o.expiry.IsZero() || time.Now().Before(o.expiry)) {
		return o.tok, nil
	}
	tok, ttl, err := o.fetch(ctx)
	if err != nil {
		return "", err
	}
	o.tok = tok
	o.expiry = time.Time{}
	if ttl > 0 {
		o.expiry = time.Now().Add(max(ttl-expiryMargin, ttl/2))
	}
	return tok, nil
}

func (o *oauthSource) invalidate() {
	o.mu.Lock()
	o.tok = ""
	o.mu.Unlock()
}

func (o *oauthSource) fetch(ctx context.Context) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	form := url.Values{"grant_type": {"client_credentials"}}
	if o.cfg.scope != "" {
		form.Set("scope", o.cfg.scope)
	}
	if !o.cfg.credsInHeader {
		form.Set("client_id", o.cfg.clientID)
		form.Set("client_secret", o.cfg.clientSecret.Reveal())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, &oauthError{msg: fmt.Sprintf("http sink: oauth2.token.url: %v", err), permanent: true}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if o.cfg.credsInHeader {
		// RFC 6749 2.3.1: the credentials are form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(o.cfg.clientID), url.QueryEscape(o.cfg.clientSecret.Reveal()))
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return "", 0, &oauthError{msg: fmt.Sprintf("http sink: fetch an OAuth2 token from %s: %v", displayURL(o.cfg.tokenURL), unwrapURLError(err))}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, &oauthError{msg: fmt.Sprintf("http sink: read the OAuth2 token response of %s: %v", displayURL(o.cfg.tokenURL), err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		e := &oauthError{
			msg: fmt.Sprintf("http sink: the OAuth2 token endpoint %s answered %d %s: %s (check oauth2.client.id, oauth2.client.secret and oauth2.client.scope)",
				displayURL(o.cfg.tokenURL), resp.StatusCode, http.StatusText(resp.StatusCode), excerptOf(body)),
			permanent: resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout,
		}
		return "", 0, e
	}
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return "", 0, &oauthError{msg: fmt.Sprintf("http sink: the OAuth2 token response of %s is not a JSON object: %v", displayURL(o.cfg.tokenURL), err), permanent: true}
	}
	tok, _ := doc[o.cfg.tokenProperty].(string)
	if tok == "" {
		return "", 0, &oauthError{msg: fmt.Sprintf("http sink: the OAuth2 token response of %s has no string property %q (oauth2.token.property)", displayURL(o.cfg.tokenURL), o.cfg.tokenProperty), permanent: true}
	}
	var ttl time.Duration
	switch e := doc["expires_in"].(type) {
	case json.Number:
		if f, err := e.Float64(); err == nil && f > 0 {
			ttl = time.Duration(f * float64(time.Second))
		}
	case string: // some servers quote it
		if d, err := time.ParseDuration(e + "s"); err == nil && d > 0 {
			ttl = d
		}
	}
	return tok, ttl, nil
}

func excerptOf(b []byte) string {
	if len(b) > responseExcerpt {
		b = b[:responseExcerpt]
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
}
