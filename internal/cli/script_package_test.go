package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/sources"
	"github.com/vidup/vidup/internal/testenv"
)

// scriptProxy is a fault proxy in front of the test MinIO that records the
// order in which S3 answered the requests completing an object (PutObject,
// CompleteMultipartUpload), by key.
type scriptProxy struct {
	p    *faultproxy.Proxy
	mu   sync.Mutex
	keys []string
	// hold: a PutObject whose key ends with it is held (until
	// release-hold), and held counts those.
	hold string
	held int
}

var proxies sync.Map // *testscript.TestScript -> *scriptProxy

// cmdS3Proxy starts a proxy in front of the test MinIO and sets S3PROXY to
// its URL, for serve --public-endpoint $S3PROXY: vidup then reaches S3
// through it, and pkgcheck can tell the order objects completed in. With
// -hold SUFFIX, a PutObject whose key ends with SUFFIX is held (await-held
// waits for one, release-hold lets them go): the moment to kill vidup.
func cmdS3Proxy(ts *testscript.TestScript, neg bool, args []string) {
	hold := ""
	if len(args) == 2 && args[0] == "-hold" {
		hold, args = args[1], args[2:]
	}
	if neg || len(args) != 0 {
		ts.Fatalf("usage: s3proxy [-hold SUFFIX]")
	}
	m, err := testenv.LookupMinIO()
	ts.Check(err)
	p, err := faultproxy.New(m.Endpoint)
	ts.Check(err)
	ts.Defer(func() { p.Close() })
	sp := &scriptProxy{p: p, hold: hold}
	p.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Kind != faultproxy.KindPutObject && ri.Kind != faultproxy.KindCompleteMultipartUpload {
			return faultproxy.Pass()
		}
		// Path-style: /bucket/key.
		key := ri.Path
		if i := strings.IndexByte(strings.TrimPrefix(key, "/"), '/'); i >= 0 {
			key = strings.TrimPrefix(key, "/")[i+1:]
		}
		sp.mu.Lock()
		held := sp.hold != "" && ri.Kind == faultproxy.KindPutObject && strings.HasSuffix(key, sp.hold)
		if held {
			sp.held++
		}
		sp.mu.Unlock()
		if held {
			// Until vidup dies (or the script ends).
			return faultproxy.DelayThen(10*time.Minute, faultproxy.Pass())
		}
		return faultproxy.Modify(func(resp *http.Response) error {
			if resp.StatusCode == http.StatusOK {
				sp.mu.Lock()
				sp.keys = append(sp.keys, key)
				sp.mu.Unlock()
			}
			return nil
		})
	})
	proxies.Store(ts, sp)
	ts.Setenv("S3PROXY", p.URL())
}

// cmdPkgCheck checks a registered package against the folder it came from:
//
//	apiget /api/v1/videos/$VIDEO
//	cp stdout video.json
//	pkgcheck film video.json
//
// The video (the API's JSON) lists every file of the folder once, each
// object holds the file's bytes with the content type and Cache-Control of
// its role, and (when s3proxy ran) no object completed before an object of
// an earlier phase: media, then media playlists, then the entry points.
func cmdPkgCheck(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: pkgcheck DIR VIDEO.json")
	}
	pkg, _, err := sources.Package(ts.MkAbs(args[0]), false)
	ts.Check(err)
	var v contract.Video
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &v))
	if v.Kind != pkg.Kind || len(v.Objects) != len(pkg.Objects) {
		ts.Fatalf("the video is a %q package of %d objects; the folder is %q with %d files", v.Kind, len(v.Objects), pkg.Kind, len(pkg.Objects))
	}
	byPath := map[string]contract.PackageObject{}
	for _, o := range v.Objects {
		byPath[o.Path] = o
	}
	s := serverOf(ts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	phase := map[string]int{}
	for _, o := range pkg.Objects {
		phase[o.Rel] = o.Phase
		reg, ok := byPath[o.Rel]
		if !ok || reg.Key == "" {
			ts.Fatalf("%s: not among the video's objects (or without key)", o.Rel)
		}
		out, err := s.s3.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(reg.Key)})
		if err != nil {
			ts.Fatalf("get %s: %v", reg.Key, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		ts.Check(err)
		want, err := os.ReadFile(o.Path)
		ts.Check(err)
		if !bytes.Equal(got, want) {
			ts.Fatalf("%s: the object %s differs from the file (%d bytes, the file %d)", o.Rel, reg.Key, len(got), len(want))
		}
		if ct, cc := aws.ToString(out.ContentType), aws.ToString(out.CacheControl); ct != o.ContentType || cc != o.CacheControl {
			ts.Fatalf("%s (%s): Content-Type %q, Cache-Control %q; want %q, %q", o.Rel, o.Role, ct, cc, o.ContentType, o.CacheControl)
		}
	}
	sp, ok := proxies.Load(ts)
	if !ok {
		return
	}
	p := sp.(*scriptProxy)
	if p.hold != "" || p.held > 0 {
		return // a run was killed: the order is that of two runs
	}
	p.mu.Lock()
	keys := append([]string(nil), p.keys...)
	p.mu.Unlock()
	// Upload keys are uploads/<session>/<upload>/<path> (contract 1b's
	// prefix as vidup serve makes it).
	last, seen := 0, 0
	for _, k := range keys {
		parts := strings.SplitN(k, "/", 4)
		if len(parts) < 4 {
			continue
		}
		ph, ok := phase[parts[3]]
		if !ok {
			continue
		}
		seen++
		if ph < last {
			ts.Fatalf("%s (phase %d) completed after an object of phase %d; order: %v", parts[3], ph, last, keys)
		}
		last = max(last, ph)
	}
	if seen < len(pkg.Objects) {
		ts.Fatalf("the proxy saw %d objects of the package complete, want at least %d", seen, len(pkg.Objects))
	}
}

func scriptProxyOf(ts *testscript.TestScript) *scriptProxy {
	sp, ok := proxies.Load(ts)
	if !ok {
		ts.Fatalf("no proxy: run s3proxy first")
	}
	return sp.(*scriptProxy)
}

// cmdAwaitHeld waits (up to a minute) until the proxy holds a request.
func cmdAwaitHeld(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: await-held")
	}
	sp := scriptProxyOf(ts)
	deadline := time.Now().Add(time.Minute)
	for {
		sp.mu.Lock()
		n := sp.held
		sp.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no request was held within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cmdReleaseHold stops holding requests (those held stay held until their
// client goes away).
func cmdReleaseHold(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: release-hold")
	}
	sp := scriptProxyOf(ts)
	sp.mu.Lock()
	sp.hold = ""
	sp.keys = nil
	sp.mu.Unlock()
}
