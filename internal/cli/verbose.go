package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"
)

// verbose tells whether --verbose (-v) or its alias --debug is on, from
// the flag, VIDUP_VERBOSE/VIDUP_DEBUG or the config file (resolveSettings
// has filled the flags).
func verbose(cmd *cobra.Command) bool {
	v, _ := cmd.Flags().GetBool("verbose")
	d, _ := cmd.Flags().GetBool("debug")
	return v || d
}

// httpLog writes one line to stderr per HTTP call with --verbose: which
// side (api or s3), method, URL without credentials or signature, status
// or error, and how long it took. Nothing else of a request is shown: the
// token and the S3 keys travel in headers, which are never printed.
type httpLog struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

func newHTTPLog(w io.Writer) *httpLog { return &httpLog{w: w, now: time.Now} }

func (l *httpLog) log(side string, req *http.Request, resp *http.Response, err error, took time.Duration) {
	outcome := ""
	switch {
	case err != nil:
		outcome = "error: " + err.Error()
	default:
		outcome = resp.Status
	}
	took = took.Round(time.Millisecond)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "vidup: %s: %s %s -> %s (%s)\n", side, req.Method, shownURL(req.URL), outcome, took)
}

// shownURL is u without a password and without presigning parameters
// (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, ...).
func shownURL(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-") {
				q.Del(k)
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}

// RoundTripper logs the calls of rt (the API client's transport).
func (l *httpLog) RoundTripper(side string, rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return logged{do: rt.RoundTrip, l: l, side: side}
}

// HTTPClient logs the calls of c (the S3 client's).
func (l *httpLog) HTTPClient(side string, c aws.HTTPClient) aws.HTTPClient {
	return logged{do: c.Do, l: l, side: side}
}

// logged is an http.RoundTripper or an aws.HTTPClient whose calls are
// logged: the same call, under either name.
type logged struct {
	do   func(*http.Request) (*http.Response, error)
	l    *httpLog
	side string
}

func (t logged) RoundTrip(req *http.Request) (*http.Response, error) { return t.Do(req) }

func (t logged) Do(req *http.Request) (*http.Response, error) {
	start := t.l.now()
	resp, err := t.do(req)
	t.l.log(t.side, req, resp, err, t.l.now().Sub(start))
	return resp, err
}
