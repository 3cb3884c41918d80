package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// writeLadder writes an HLS ladder of renditions × segments of 32 KiB.
func writeLadder(t *testing.T, dir string, renditions, segments int) int {
	t.Helper()
	var master strings.Builder
	master.WriteString("#EXTM3U\n")
	files := 1
	for r := range renditions {
		fmt.Fprintf(&master, "#EXT-X-STREAM-INF:BANDWIDTH=%d\nv%d/index.m3u8\n", (r+1)*500000, r)
		sub := filepath.Join(dir, fmt.Sprintf("v%d", r))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		var pl strings.Builder
		pl.WriteString("#EXTM3U\n#EXT-X-TARGETDURATION:2\n")
		for s := range segments {
			data := []byte(strings.Repeat(fmt.Sprintf("r%ds%d.", r, s), 32<<10/6))
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("s%03d.ts", s)), data, 0o644); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&pl, "#EXTINF:2.0,\ns%03d.ts\n", s)
			files++
		}
		pl.WriteString("#EXT-X-ENDLIST\n")
		if err := os.WriteFile(filepath.Join(sub, "index.m3u8"), []byte(pl.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		files++
	}
	if err := os.WriteFile(filepath.Join(dir, "master.m3u8"), []byte(master.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return files
}

// A package killed with SIGKILL at several moments, then run again: the
// re-run continues under the first run's session, sends only what the
// journal does not hold, and the package is registered exactly once.
func TestPackageKill9ThenRerunRegistersOnce(t *testing.T) {
	k := newKillEnv(t, 1)
	heldOne := func(t *testing.T) {
		select {
		case <-k.held:
		case <-time.After(3 * time.Minute):
			t.Fatal("the request to hold never came")
		}
	}
	var puts sync.Map // path -> PutObject attempts, over all runs
	countPuts := func(ri *faultproxy.RequestInfo) {
		if ri.Kind == faultproxy.KindPutObject {
			n, _ := puts.LoadOrStore(ri.Path, new(int))
			*n.(*int)++
		}
	}
	var regOnce sync.Once
	regEntered, regRelease := make(chan struct{}), make(chan struct{})
	moments := []struct {
		name string
		arm  func(t *testing.T)
		// resent bounds the segments the re-run may send again.
		resent int
	}{
		{name: "mid-media", resent: 30, arm: func(t *testing.T) {
			n := 0
			var mu sync.Mutex
			k.setHold(func(ri *faultproxy.RequestInfo) bool {
				countPuts(ri)
				mu.Lock()
				defer mu.Unlock()
				if ri.Kind == faultproxy.KindPutObject {
					n++
				}
				return n > 12
			})
			heldOne(t)
		}},
		{name: "at the playlists, after the barrier", resent: 0, arm: func(t *testing.T) {
			k.setHold(func(ri *faultproxy.RequestInfo) bool {
				countPuts(ri)
				return strings.HasSuffix(ri.Path, "/v1/index.m3u8")
			})
			heldOne(t)
		}},
		{name: "during registration", resent: 0, arm: func(t *testing.T) {
			k.setHold(func(ri *faultproxy.RequestInfo) bool { countPuts(ri); return false })
			k.api.Set(func(a *transfertest.API) {
				a.RegisterFault = func(string, int) (int, string) {
					first := false
					regOnce.Do(func() { first = true; close(regEntered) })
					if first {
						<-regRelease
					}
					return 0, ""
				}
			})
			select {
			case <-regEntered:
			case <-time.After(3 * time.Minute):
				t.Fatal("the registration never came")
			}
		}},
	}
	for _, m := range moments {
		t.Run(m.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "film")
			files := writeLadder(t, dir, 3, 10)
			state := filepath.Join(t.TempDir(), "state")
			sessions, regs := k.api.Sessions(), len(k.api.PackageRegistrations())
			args := []string{"upload", "--package", "--concurrency", "2", "--progress", "none", "--output", "json", dir}
			cmd, _, stderr := k.command(state, args...)
			puts.Clear()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			m.arm(t)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-done
			if m.name == "during registration" {
				close(regRelease) // the server registers it after vidup died
				k.api.Set(func(a *transfertest.API) { a.RegisterFault = nil })
			}
			k.setHold(func(ri *faultproxy.RequestInfo) bool { countPuts(ri); return false })
			firstRun := map[string]int{}
			puts.Range(func(p, n any) bool { firstRun[p.(string)] = *n.(*int); return true })

			cmd, stdout, stderr2 := k.command(state, args...)
			if code := runExit(t, cmd); code != 0 {
				t.Fatalf("re-run exited %d\n%s\nfirst run:\n%s", code, stderr2, stderr)
			}
			var doc struct {
				Files []struct {
					Status  string `json:"status"`
					VideoID string `json:"video_id"`
					Package string `json:"package"`
					Objects int    `json:"objects"`
					Entry   string `json:"entry"`
				} `json:"files"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
				t.Fatalf("%v: %s", err, stdout)
			}
			if len(doc.Files) != 1 || doc.Files[0].Status != "uploaded" || doc.Files[0].Objects != files || doc.Files[0].Package != "hls" || !strings.HasSuffix(doc.Files[0].Entry, "/master.m3u8") {
				t.Fatalf("re-run result: %s", stdout)
			}
			if n := k.api.Sessions() - sessions; n != 1 {
				t.Errorf("%d sessions over both runs, want 1", n)
			}
			all := k.api.PackageRegistrations()
			if n := len(all) - regs; n != 1 {
				t.Fatalf("%d package registrations, want 1", n)
			}
			if got := all[len(all)-1].Package; len(got.Objects) != files {
				t.Errorf("registration lists %d objects, want %d", len(got.Objects), files)
			}
			resent := 0
			puts.Range(func(p, n any) bool {
				if *n.(*int) > firstRun[p.(string)] && firstRun[p.(string)] > 0 && strings.HasSuffix(p.(string), ".ts") {
					resent++
				}
				return true
			})
			if resent > m.resent {
				t.Errorf("the re-run sent %d segments again that the first run had sent; want at most %d", resent, m.resent)
			}
			pj, err := journal.OpenPackages(state)
			if err != nil {
				t.Fatal(err)
			}
			abs, _ := filepath.Abs(dir)
			h, _, err := pj.Load(abs)
			if err != nil || h == nil || h.State != journal.Registered || h.VideoID != doc.Files[0].VideoID {
				t.Errorf("journal after the re-run: %+v, %v", h, err)
			}
			// A third run skips it without a word to the API.
			cmd, stdout, _ = k.command(state, args...)
			if code := runExit(t, cmd); code != 0 || !strings.Contains(stdout.String(), `"status": "skipped"`) {
				t.Errorf("third run exited %d: %s", code, stdout)
			}
		})
	}
}

// An API that follows only contract v1 answers a package session with 400:
// the run fails (exit 1), saying the API does not accept packages and what
// to do instead, before any byte is sent.
func TestPackageAgainstAV1APISuggestsNoPackage(t *testing.T) {
	k := newKillEnv(t, 1)
	k.api.Set(func(a *transfertest.API) { a.V1 = true })
	dir := filepath.Join(t.TempDir(), "film")
	writeLadder(t, dir, 1, 2)
	cmd, _, stderr := k.command(filepath.Join(t.TempDir(), "state"), "upload", "--package", "--progress", "plain", dir)
	if code := runExit(t, cmd); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	for _, want := range []string{"open package session: the API at", "answered 400", "does not accept packages", "--no-package"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !regexp.MustCompile(`answered 400 [^\n]*; an API that follows only contract v1 does not accept packages`).MatchString(stderr.String()) {
		t.Errorf("the advice does not follow the API's answer on its line:\n%s", stderr)
	}
	if n := len(k.proxy.Stats().Targets); n != 0 {
		t.Errorf("%d S3 targets asked", n)
	}
}
