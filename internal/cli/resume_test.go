package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/testenv"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

const resumePartSize = 16 << 20

// killEnv runs the real binary against a contract server over MinIO, with
// a fault proxy between vidup and MinIO that counts the bytes and can hold
// a request, so that the test can kill vidup at a chosen moment.
type killEnv struct {
	s3    testenv.S3
	api   *transfertest.API
	proxy *faultproxy.Proxy
	bin   string
	file  string
	size  int64
	sum   [32]byte

	mu   sync.Mutex
	hold func(*faultproxy.RequestInfo) bool
	// holdAnswer, when set, lets a matching request reach MinIO and holds
	// only its answer.
	holdAnswer bool
	held       chan faultproxy.Target
}

func newKillEnv(t *testing.T, size int64) *killEnv {
	s := testenv.MinIO(t)
	k := &killEnv{s3: s, api: transfertest.New(t, s, s.NewBucket(t)), bin: testenv.Vidup(t), size: size,
		held: make(chan faultproxy.Target, 64)}
	p, err := faultproxy.New(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	k.proxy = p
	k.api.Endpoint = p.URL()
	p.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		k.mu.Lock()
		hold, holdAnswer := k.hold, k.holdAnswer
		k.mu.Unlock()
		if hold != nil && hold(ri) {
			select {
			case k.held <- ri.Target():
			default:
			}
			if holdAnswer {
				return faultproxy.HoldAnswer(10 * time.Minute)
			}
			// Held until vidup dies (or the test ends).
			return faultproxy.DelayThen(10*time.Minute, faultproxy.Pass())
		}
		return faultproxy.Pass()
	})
	k.file = filepath.Join(t.TempDir(), "take.mxf")
	f, err := os.Create(k.file)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.NewChaCha8([32]byte{42}), size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	k.sum = [32]byte(h.Sum(nil))
	return k
}

func (k *killEnv) setHold(f func(*faultproxy.RequestInfo) bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hold = f
	for len(k.held) > 0 {
		<-k.held
	}
}

func (k *killEnv) command(state string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.Command(k.bin, args...)
	cmd.Env = append(os.Environ(), "VIDUP_API_URL="+k.api.URL, "VIDUP_API_TOKEN="+k.api.Token,
		"VIDUP_STATE_DIR="+state, "XDG_CONFIG_HOME="+filepath.Join(state, "no-config"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

func (k *killEnv) uploadArgs() []string {
	return []string{"upload", "--part-size", "16MiB", "--concurrency", "2", "--progress", "none", "--output", "json", k.file}
}

// runExit runs cmd to its end.
func runExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("run vidup: %v", err)
	return -1
}

// journalEntries reads the journal as another process would.
func journalEntries(t *testing.T, state string) []*journal.Entry {
	t.Helper()
	if _, err := os.Stat(state); err != nil {
		return nil
	}
	s, err := journal.Open(state)
	if err != nil {
		t.Fatalf("open the journal of the killed run: %v", err)
	}
	all, err := s.List()
	if err != nil {
		t.Fatalf("read the journal of the killed run: %v", err)
	}
	return all
}

func recordedParts(t *testing.T, state string) int {
	n := 0
	for _, e := range journalEntries(t, state) {
		n += len(e.Parts)
	}
	return n
}

// partBytes is what the proxy read of part bodies, over all runs so far.
func (k *killEnv) partBytes() int64 {
	var n int64
	for target, ts := range k.proxy.Stats().Targets {
		if target.PartNumber > 0 {
			n += ts.BytesReceived
		}
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type uploadDoc struct {
	Files []struct {
		Path, Status, Key, Error string
		UploadID                 string `json:"upload_id"`
		VideoID                  string `json:"video_id"`
	} `json:"files"`
}

// A 1 GiB upload killed with SIGKILL at many moments, then run again: the
// object is intact, registered once, and the bytes sent over both runs
// exceed the file by at most the parts in flight at the kill.
func TestKill9AtAnyMomentThenRerunFinishes(t *testing.T) {
	k := newKillEnv(t, 1<<30)

	type moment struct {
		name string
		// arm prepares the moment and returns when it has come.
		arm func(t *testing.T, state string, cmd *exec.Cmd)
		// inFlight bounds the parts sent twice.
		inFlight int
		// state is the journal state the killed run leaves.
		state journal.State
	}
	heldOne := func(t *testing.T) {
		select {
		case <-k.held:
		case <-time.After(3 * time.Minute):
			t.Fatal("the request to hold never came")
		}
	}
	var regMu sync.Mutex
	var regEntered chan struct{}
	var regRelease chan struct{}
	moments := []moment{
		{name: "early, first parts on the wire", inFlight: 0, state: journal.Uploading, arm: func(t *testing.T, state string, cmd *exec.Cmd) {
			k.setHold(func(ri *faultproxy.RequestInfo) bool { return ri.Kind == faultproxy.KindUploadPart })
			heldOne(t)
		}},
		{name: "mid-part", inFlight: 2, state: journal.Uploading, arm: func(t *testing.T, state string, cmd *exec.Cmd) {
			k.setHold(nil)
			waitFor(t, "17 parts recorded", func() bool { return recordedParts(t, state) >= 17 })
		}},
		{name: "between parts", inFlight: 0, state: journal.Uploading, arm: func(t *testing.T, state string, cmd *exec.Cmd) {
			k.setHold(func(ri *faultproxy.RequestInfo) bool {
				return ri.Kind == faultproxy.KindUploadPart && ri.PartNumber > 40
			})
			heldOne(t)
			heldOne(t)
			waitFor(t, "parts 1-40 recorded", func() bool { return recordedParts(t, state) == 40 })
		}},
		{name: "during CompleteMultipartUpload", inFlight: 0, state: journal.Uploading, arm: func(t *testing.T, state string, cmd *exec.Cmd) {
			k.setHold(func(ri *faultproxy.RequestInfo) bool { return ri.Kind == faultproxy.KindCompleteMultipartUpload })
			heldOne(t)
		}},
		{name: "after Complete, before it is recorded and registered", inFlight: 0, state: journal.Uploading, arm: func(t *testing.T, state string, cmd *exec.Cmd) {
			// MinIO completes the object; vidup never hears of it. The
			// re-run finds it only through HeadObject, so the session
			// policy grants s3:GetObject here; without it nothing confirms
			// the object and the re-run uploads the file again (see
			// TestCompletedButUnrecordedUpload in internal/resume).
			k.api.Set(func(a *transfertest.API) { a.AllowRead = true })
			t.Cleanup(func() { k.api.Set(func(a *transfertest.API) { a.AllowRead = false }) })
			k.mu.Lock()
			k.holdAnswer = true
			k.mu.Unlock()
			t.Cleanup(func() { k.mu.Lock(); k.holdAnswer = false; k.mu.Unlock() })
			k.setHold(func(ri *faultproxy.RequestInfo) bool { return ri.Kind == faultproxy.KindCompleteMultipartUpload })
			heldOne(t)
			ents := journalEntries(t, state)
			if len(ents) != 1 {
				t.Fatalf("journal: %+v", ents)
			}
			deadline := time.Now().Add(time.Minute)
			for {
				_, err := k.s3.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(k.api.Bucket), Key: aws.String(ents[0].Key)})
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the object never completed on MinIO: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}},
		{name: "during registration", inFlight: 0, state: journal.Completed, arm: func(t *testing.T, state string, cmd *exec.Cmd) {
			k.setHold(nil)
			regMu.Lock()
			entered := regEntered
			regMu.Unlock()
			select {
			case <-entered:
			case <-time.After(3 * time.Minute):
				t.Fatal("the registration never came")
			}
		}},
	}
	for i, m := range moments {
		t.Run(m.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			before := k.partBytes()
			var once sync.Once
			if i == len(moments)-1 {
				regMu.Lock()
				regEntered, regRelease = make(chan struct{}), make(chan struct{})
				entered, release := regEntered, regRelease
				regMu.Unlock()
				// The server receives the registration, vidup dies waiting
				// for the answer, then the server registers the video: the
				// next run must not register it a second time.
				k.api.Set(func(a *transfertest.API) {
					a.RegisterFault = func(string, int) (int, string) {
						first := false
						once.Do(func() { first = true; close(entered) })
						if first {
							<-release
						}
						return 0, ""
					}
				})
			}
			cmd, _, stderr := k.command(state, k.uploadArgs()...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			m.arm(t, state, cmd)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill: %v", err)
			}
			<-done
			k.setHold(nil)
			if i == len(moments)-1 {
				close(regRelease)
				waitFor(t, "the server to register the video", func() bool { return len(k.api.Registrations()) == i+1 })
				k.api.Set(func(a *transfertest.API) { a.RegisterFault = nil })
			}

			// The killed run's journal is readable, and vidup uploads shows it.
			ents := journalEntries(t, state)
			if len(ents) != 1 || ents[0].State != m.state {
				t.Fatalf("journal of the killed run: %d entries %+v, want one in state %s (stderr: %s)", len(ents), ents, m.state, stderr)
			}
			list, listOut, listErr := k.command(state, "uploads", "--output", "json")
			if code := runExit(t, list); code != 0 {
				t.Fatalf("vidup uploads: exit %d: %s", code, listErr)
			}
			var listed struct {
				Uploads []struct {
					ID      string  `json:"id"`
					Path    string  `json:"path"`
					State   string  `json:"state"`
					Percent float64 `json:"percent"`
				} `json:"uploads"`
			}
			if err := json.Unmarshal(listOut.Bytes(), &listed); err != nil {
				t.Fatalf("vidup uploads --output json: %v\n%s", err, listOut)
			}
			if len(listed.Uploads) != 1 || listed.Uploads[0].ID != ents[0].ID || listed.Uploads[0].State != string(m.state) {
				t.Fatalf("vidup uploads lists %+v, want entry %s", listed.Uploads, ents[0].ID)
			}

			rerun, out, errOut := k.command(state, k.uploadArgs()...)
			if code := runExit(t, rerun); code != 0 {
				t.Fatalf("re-run: exit %d\nstderr: %s\nstdout: %s", code, errOut, out)
			}
			var doc uploadDoc
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Files) != 1 {
				t.Fatalf("re-run output: %v\n%s", err, out)
			}
			key := doc.Files[0].Key
			if key != ents[0].Key {
				t.Errorf("the re-run uploaded to %s, the killed run to %s: the key must stay", key, ents[0].Key)
			}
			n := 0
			for _, r := range k.api.Registrations() {
				if r.Key == key {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s registered %d times, want once", key, n)
			}
			sent := k.partBytes() - before
			if limit := k.size + int64(m.inFlight)*resumePartSize; sent > limit {
				t.Errorf("both runs sent %d bytes of parts, more than the file (%d) and %d parts in flight", sent, k.size, m.inFlight)
			}
			if sent < k.size && m.state == journal.Uploading && m.name != "after Complete, before it is recorded and registered" && m.name != "during CompleteMultipartUpload" {
				t.Errorf("only %d bytes of parts sent for a %d-byte file", sent, k.size)
			}
			out2, err := k.s3.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(k.api.Bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("get the object: %v", err)
			}
			h := sha256.New()
			_, err = io.Copy(h, out2.Body)
			out2.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if [32]byte(h.Sum(nil)) != k.sum {
				t.Fatal("the object differs from the file")
			}
			if open := k.api.OpenUploads(t); len(open) != 0 {
				t.Errorf("multipart uploads left open: %v", open)
			}
			ents = journalEntries(t, state)
			if len(ents) != 1 || ents[0].State != journal.Registered {
				t.Errorf("journal after the re-run: %+v", ents)
			}
			_, _ = k.s3.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(k.api.Bucket), Key: aws.String(key)})
		})
	}
}

// Ctrl-C: parts in flight finish, no new one starts, the multipart upload
// stays open, exit 130 with a message to run again; the re-run completes.
func TestInterruptThenRerunCompletes(t *testing.T) {
	k := newKillEnv(t, 256<<20)
	state := filepath.Join(t.TempDir(), "state")
	// Parts 5 and 6 are slow: the interrupt finds them in flight.
	k.setHold(nil)
	var slow sync.Once
	slowSeen := make(chan struct{})
	k.proxy.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
		if ri.Kind == faultproxy.KindUploadPart && ri.PartNumber >= 5 {
			if ri.PartNumber == 6 {
				slow.Do(func() { close(slowSeen) })
			}
			return faultproxy.DelayThen(time.Second, faultproxy.Pass())
		}
		return faultproxy.Pass()
	})
	cmd, _, stderr := k.command(state, k.uploadArgs()...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-slowSeen:
	case <-time.After(2 * time.Minute):
		t.Fatal("part 6 never started")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var code int
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("interrupted run: %v", err)
		}
		code = ee.ExitCode()
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("vidup did not stop after SIGINT")
	}
	if code != ExitInterrupted {
		t.Fatalf("exit code %d after SIGINT, want 130; stderr: %s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "run the same command again") {
		t.Errorf("stderr does not say to run again: %s", stderr)
	}
	if open := k.api.OpenUploads(t); len(open) != 1 {
		t.Fatalf("open multipart uploads after SIGINT: %v, want the one left for resume", open)
	}
	parts := recordedParts(t, state)
	if parts < 6 {
		t.Errorf("%d parts recorded: the parts in flight at SIGINT should have finished", parts)
	}
	if parts >= 16 {
		t.Errorf("%d parts recorded: new parts started after SIGINT", parts)
	}
	k.proxy.SetRule(nil)
	rerun, out, errOut := k.command(state, k.uploadArgs()...)
	if code := runExit(t, rerun); code != 0 {
		t.Fatalf("re-run: exit %d: %s", code, errOut)
	}
	var doc uploadDoc
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Files) != 1 {
		t.Fatalf("re-run output: %v\n%s", err, out)
	}
	obj, err := k.s3.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(k.api.Bucket), Key: aws.String(doc.Files[0].Key)})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj.Body); err != nil {
		t.Fatal(err)
	}
	if [32]byte(h.Sum(nil)) != k.sum {
		t.Fatal("the object differs from the file")
	}
	if regs := k.api.Registrations(); len(regs) != 1 {
		t.Errorf("%d registrations, want 1", len(regs))
	}
	if sent := k.partBytes(); sent > k.size {
		t.Errorf("%d bytes of parts sent for a %d-byte file: parts in flight at SIGINT were lost", sent, k.size)
	}
}
