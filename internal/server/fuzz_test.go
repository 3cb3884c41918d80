package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/vidup/vidup/internal/contract"
)

// FuzzDecodeJSON: go test -fuzz FuzzDecodeJSON ./internal/server. Whatever
// the body, decoding a request either succeeds on exactly one JSON document
// or fails with a 400 or 413 the client can read, never a panic.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"files":[{"name":"a.mp4","size":1}]}`,
		`{"files":[]} {"files":[]}`,
		`{"upload_id":"u"}garbage`,
		`{"size":1e400}`,
		"",
		`[1,2]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&contract.SessionRequest{}, &contract.VideoRequest{}} {
			err := DecodeJSON(strings.NewReader(string(body)), v)
			if err == nil {
				// Accepted: the body is one JSON document and nothing else.
				dec := json.NewDecoder(strings.NewReader(string(body)))
				var first, second json.RawMessage
				if dec.Decode(&first) != nil || dec.Decode(&second) == nil {
					t.Fatalf("accepted %q, which is not exactly one JSON document", body)
				}
				if _, err := json.Marshal(v); err != nil {
					t.Fatalf("decoded %q into a value that does not encode: %v", body, err)
				}
				continue
			}
			var he *httpError
			if !errors.As(err, &he) || (he.status != http.StatusBadRequest && he.status != http.StatusRequestEntityTooLarge) || he.msg == "" {
				t.Fatalf("body %q: error %v is not a 400 or 413 with a text", body, err)
			}
		}
	})
}

// FuzzSessionPolicy: go test -fuzz FuzzSessionPolicy ./internal/server.
// For any file names, the policy of a session's keys is valid JSON, fits
// STS's limit, allows only the session actions, and names only the
// session's own keys (or, when they do not fit, its upload folders or its
// prefix), never a sealed key.
func FuzzSessionPolicy(f *testing.F) {
	f.Add("clip.mp4", 1, "videos")
	f.Add("*", 3, "a-bucket")
	f.Add(strings.Repeat("語", 80)+".mp4", 100, strings.Repeat("b", 63))
	f.Add("$"+"{aws:username}?.mov", 12, "v.v")
	f.Fuzz(func(t *testing.T, name string, n int, bucket string) {
		if n < 1 || n > contract.MaxFilesPerSession || !bucketName.MatchString(bucket) {
			return // vidup serve refuses such a bucket before it starts
		}
		const sid = "0b6f3c9e-5a1d-4c8e-9d1f-2a3b4c5d6e7f"
		keys := make([]string, n)
		for i := range keys {
			keys[i] = SessionPrefix(sid) + strings.Repeat("0", 35) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "/" + KeyName(SafeName(name))
		}
		doc, err := SessionPolicy("aws", bucket, sid, keys)
		if err != nil {
			t.Fatalf("SessionPolicy: %v", err)
		}
		if len(doc) > MaxSessionPolicyBytes {
			t.Fatalf("policy of %d bytes, more than %d", len(doc), MaxSessionPolicyBytes)
		}
		var p struct {
			Version   string
			Statement []struct {
				Effect   string
				Action   []string
				Resource []string
			}
		}
		if err := json.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatalf("policy is not JSON: %v\n%s", err, doc)
		}
		if len(p.Statement) != 1 || p.Statement[0].Effect != "Allow" || strings.Join(p.Statement[0].Action, ",") != strings.Join(SessionActions, ",") {
			t.Fatalf("policy grants something else: %s", doc)
		}
		arn := "arn:aws:s3:::" + bucket + "/"
		exact := map[string]bool{}
		for _, k := range keys {
			exact[arn+k] = true
		}
		for _, r := range p.Statement[0].Resource {
			key, ok := strings.CutPrefix(r, arn)
			switch {
			case !ok:
				t.Fatalf("resource %q is outside the bucket", r)
			case exact[r]:
				if strings.ContainsAny(key, policyWildcards) {
					t.Fatalf("exact key %q holds a wildcard", key)
				}
			case strings.HasSuffix(key, "/*") && strings.HasPrefix(key, SessionPrefix(sid)) && !strings.ContainsAny(strings.TrimSuffix(key, "*"), policyWildcards):
				// an upload folder or the session prefix, used when exact keys do not fit
				if len(p.Statement[0].Resource) == n && n*len(arn+keys[0]) < MaxSessionPolicyBytes-200 {
					t.Fatalf("keys that fit were widened to %q", key)
				}
			default:
				t.Fatalf("resource %q is none of the session's keys", r)
			}
			if strings.HasPrefix(key, SealedPrefix) {
				t.Fatalf("resource %q is under the sealed prefix", key)
			}
		}
	})
}

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func TestSessionPolicyRefusesForeignKeys(t *testing.T) {
	const sid = "s-1"
	for _, k := range []string{"uploads/s-2/u/a.mp4", "uploads/s-1/u/a*.mp4", "videos/v/a.mp4", "uploads/s-1/", "uploads/s-1/a.mp4"} {
		if _, err := SessionPolicy("aws", "videos", sid, []string{k}); err == nil {
			t.Errorf("SessionPolicy granted %q to session %s", k, sid)
		}
	}
	// A package's prefix (contract v1.1 section 1b) is granted as its
	// folder, and only an upload's own folder is.
	doc, err := SessionPolicy("aws", "videos", sid, []string{"uploads/s-1/u1/"})
	if err != nil || !strings.Contains(doc, `"Resource":["arn:aws:s3:::videos/uploads/s-1/u1/*"]`) {
		t.Fatalf("policy of a package prefix: %v %s", err, doc)
	}
	if _, err := SessionPolicy("aws", "videos", sid, []string{"uploads/s-1/u1/sub/"}); err == nil {
		t.Error("SessionPolicy granted a folder deeper than an upload's")
	}
	if _, err := SessionPolicy("aws", "videos", sid, nil); err == nil {
		t.Error("SessionPolicy granted no key")
	}
	doc, err = SessionPolicy("aws", "videos", sid, []string{"uploads/s-1/u1/a.mp4", "uploads/s-1/u2/b.mp4"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, `"arn:aws:s3:::videos/uploads/s-1/u1/a.mp4","arn:aws:s3:::videos/uploads/s-1/u2/b.mp4"`) || strings.Contains(doc, "*") {
		t.Fatalf("policy does not name the two keys exactly: %s", doc)
	}
}
