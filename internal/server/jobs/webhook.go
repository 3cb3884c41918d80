package jobs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (standardwebhooks.com).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts a Standard Webhooks secret: the rest is the key in
// base64.
const SecretPrefix = "whsec_"

// ParseSecret returns the HMAC key of a signing secret: the base64 bytes
// after whsec_, or the text itself for any other secret. A key shorter than
// 16 bytes is refused: it could be guessed.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	key := []byte(s)
	if rest, ok := strings.CutPrefix(s, SecretPrefix); ok {
		var err error
		if key, err = base64.StdEncoding.DecodeString(rest); err != nil {
			return nil, errors.New("the webhook secret starts with whsec_ but the rest is not base64")
		}
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("the webhook secret is %d bytes long; use at least 16 random bytes, e.g. whsec_ and 24 bytes of base64", len(key))
	}
	return key, nil
}

// Sign returns the webhook-signature of a message: v1, then the base64
// HMAC-SHA256 of "id.timestamp.body" under key.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks the signature headers of a webhook as a receiver must: one
// of the space-separated v1 signatures matches, and the timestamp is within
// tolerance of now (a replayed old message is refused).
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return errors.New("webhook: a webhook-id, webhook-timestamp or webhook-signature header is missing")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: timestamp %q is not Unix seconds", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: timestamp %s is %s away from now, more than %s", ts, d.Round(time.Second), tolerance)
	}
	want := Sign(key, id, sec, body)
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook: no signature matches")
}

// deliver POSTs one signed message; any answer but 2xx is an error.
func deliver(ctx context.Context, c *http.Client, url string, key []byte, id string, body []byte, now time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := now.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vidup-serve-webhook")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(key, id, ts, body))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(text))
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("the receiver answered %s%s", resp.Status, msg)
	}
	return nil
}
