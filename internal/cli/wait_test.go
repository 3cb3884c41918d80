package cli

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/api"
	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/transfer"
)

// fakeVideos answers GetVideo from a script of answers per video: each
// call takes the next, the last repeats.
type fakeVideos struct {
	mu      sync.Mutex
	answers map[string][]contract.Video
	errs    map[string]error
	calls   map[string]int
}

func (f *fakeVideos) GetVideo(ctx context.Context, id string) (*contract.Video, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	n := f.calls[id]
	f.calls[id]++
	if err := f.errs[id]; err != nil {
		return nil, err
	}
	as := f.answers[id]
	v := as[min(n, len(as)-1)]
	v.ID = id
	return &v, nil
}

func registeredEntry(path, videoID string) *runEntry {
	return &runEntry{item: &asset.Item{Path: path}, result: &transfer.Result{Status: transfer.StatusUploaded, VideoID: videoID}}
}

var fastPoll = waitPoll{first: time.Millisecond, max: 4 * time.Millisecond}

func TestWaitForVideosShowsEachChange(t *testing.T) {
	g := &fakeVideos{answers: map[string][]contract.Video{
		"v-a": {{Status: "registered"}, {Status: "processing"}, {Status: "processing"}, {Status: "ready"}},
		"v-b": {{Status: "registered"}, {Status: "failed", Error: "ffmpeg: no video stream"}},
	}}
	entries := []*runEntry{registeredEntry("a.mp4", "v-a"), registeredEntry("b.mp4", "v-b"),
		{item: &asset.Item{Path: "skipped.mp4"}, skip: "done before"},
		{item: &asset.Item{Path: "bad.mp4"}, result: &transfer.Result{Status: transfer.StatusFailed, Err: errors.New("boom")}}}
	targets := waitTargets(entries)
	if len(targets) != 2 {
		t.Fatalf("%d targets, want the 2 registered in this run", len(targets))
	}
	var lines []string
	out, err := waitForVideos(context.Background(), g, targets, time.Minute, fastPoll, func(w *waitTarget) { lines = append(lines, waitLine(w)) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"vidup: a.mp4: video v-a is registered",
		"vidup: b.mp4: video v-b is registered",
		"vidup: a.mp4: video v-a is processing",
		"vidup: b.mp4: video v-b failed processing: ffmpeg: no video stream",
		"vidup: a.mp4: video v-a is ready",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if out.ready != 1 || out.failed != 1 || len(out.pending) != 0 || out.timedOut || out.unreported {
		t.Errorf("outcome = %+v", out)
	}
	if g.calls["v-b"] != 2 {
		t.Errorf("v-b asked %d times; a failed video is not asked again", g.calls["v-b"])
	}
	err = waitError(out, time.Minute)
	if exitCode(err) != ExitProcessingFailed || !strings.Contains(err.Error(), "1 of 2 videos failed processing") {
		t.Errorf("exit %d: %v", exitCode(err), err)
	}
}

func TestWaitForVideosTimesOut(t *testing.T) {
	g := &fakeVideos{answers: map[string][]contract.Video{"v-a": {{Status: "processing"}}, "v-b": {{Status: "ready"}}}}
	targets := waitTargets([]*runEntry{registeredEntry("a.mp4", "v-a"), registeredEntry("b.mp4", "v-b")})
	out, err := waitForVideos(context.Background(), g, targets, 30*time.Millisecond, fastPoll, func(*waitTarget) {})
	if err != nil {
		t.Fatal(err)
	}
	if !out.timedOut || out.ready != 1 || len(out.pending) != 1 || out.pending[0].videoID != "v-a" {
		t.Fatalf("outcome = %+v", out)
	}
	err = waitError(out, 30*time.Millisecond)
	if exitCode(err) != ExitWaitTimeout || !strings.Contains(err.Error(), "a.mp4: processing") || !strings.Contains(err.Error(), "1 of 2 videos") {
		t.Errorf("exit %d: %v", exitCode(err), err)
	}
}

func TestWaitForVideosV1Server(t *testing.T) {
	for name, g := range map[string]*fakeVideos{
		"no status": {answers: map[string][]contract.Video{"v-a": {{}}}},
		"no GET":    {errs: map[string]error{"v-a": &api.StatusError{Op: api.OpGetVideo, Status: 404}}},
		"405":       {errs: map[string]error{"v-a": &api.StatusError{Op: api.OpGetVideo, Status: 405}}},
	} {
		targets := waitTargets([]*runEntry{registeredEntry("a.mp4", "v-a")})
		out, err := waitForVideos(context.Background(), g, targets, time.Minute, fastPoll, func(w *waitTarget) { t.Errorf("%s: shown %+v", name, w) })
		if err != nil || !out.unreported {
			t.Errorf("%s: outcome %+v, %v", name, out, err)
		}
		if g.calls["v-a"] != 1 {
			t.Errorf("%s: asked %d times", name, g.calls["v-a"])
		}
	}
}

func TestWaitForVideosErrors(t *testing.T) {
	auth := &api.StatusError{Op: api.OpGetVideo, Status: 401}
	g := &fakeVideos{errs: map[string]error{"v-a": auth}}
	targets := waitTargets([]*runEntry{registeredEntry("a.mp4", "v-a")})
	_, err := waitForVideos(context.Background(), g, targets, time.Minute, fastPoll, func(*waitTarget) {})
	if exitCode(err) != ExitAuth || !strings.Contains(err.Error(), "a.mp4") {
		t.Errorf("401: exit %d: %v", exitCode(err), err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	g = &fakeVideos{answers: map[string][]contract.Video{"v-a": {{Status: "processing"}}}}
	targets = waitTargets([]*runEntry{registeredEntry("a.mp4", "v-a")})
	_, err = waitForVideos(ctx, g, targets, time.Minute, fastPoll, func(*waitTarget) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted: %v", err)
	}
}
