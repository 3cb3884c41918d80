package transfer_test

import (
	"context"
	"sync"
	"testing"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/testenv"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// memHooks is a journal in memory: it keeps failed uploads open and offers
// them to the next run.
type memHooks struct {
	transfer.NopHooks
	mu      sync.Mutex
	ref     *asset.Upload
	parts   []asset.Part
	decided []transfer.S3State
}

func (h *memHooks) UploadCreated(_ *asset.Item, ref asset.Upload) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ref = &ref
}

func (h *memHooks) PartDone(_ *asset.Item, _ asset.Upload, p asset.Part) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.parts = append(h.parts, p)
}

func (h *memHooks) KeepFailed(*asset.Item, asset.Upload, error) bool { return true }

func (h *memHooks) Earlier(*asset.Item) transfer.Earlier {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ref == nil {
		return transfer.Earlier{}
	}
	return transfer.Earlier{Resume: &transfer.Prior{Ref: *h.ref, Parts: append([]asset.Part(nil), h.parts...)}}
}

func (h *memHooks) Decide(_ *asset.Item, _ *transfer.Prior, s transfer.S3State) transfer.Decision {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.decided = append(h.decided, s)
	if s.Status == transfer.S3Listed {
		return transfer.Decision{Action: transfer.Resume}
	}
	return transfer.Decision{Action: transfer.Restart}
}

// An upload whose part S3 refused is kept; the next run lists what S3
// holds (ListParts), sends only the missing parts, completes, verifies and
// registers: on MinIO and on the second S3 server alike.
func TestResumeSendsOnlyMissingParts(t *testing.T) {
	testenv.EachS3(t, func(t *testing.T, s testenv.S3) {
		e := newEnvOn(t, s)
		proxy, err := faultproxy.New(e.s3.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { proxy.Close() })
		e.api.Set(func(a *transfertest.API) { a.Endpoint = proxy.URL() })

		const part = transfer.MinPartSize
		size := int64(4*part + 99)
		path := writeFile(t, t.TempDir(), "resume.mxf", size, 11)
		proxy.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
			if ri.Kind == faultproxy.KindUploadPart && ri.PartNumber >= 4 {
				return faultproxy.S3Error(403, "AccessDenied", "Access Denied.")
			}
			return faultproxy.Pass()
		})
		hooks := &memHooks{}
		files := openAll(t, path)
		first := e.engine(t, newRecorder(t, files), func(o *transfer.Options) { o.Concurrency = 1; o.Hooks = hooks }).
			Upload(context.Background(), files)
		if first[0].Status != transfer.StatusFailed {
			t.Fatalf("first run: %s, want failed", first[0].Status)
		}
		if len(hooks.parts) != 3 {
			t.Fatalf("first run kept %d parts, want 3", len(hooks.parts))
		}

		proxy.SetRule(nil)
		proxy.ResetStats()
		files = openAll(t, path)
		rec := newRecorder(t, files)
		results := e.engine(t, rec, func(o *transfer.Options) { o.Hooks = hooks }).Upload(context.Background(), files)
		checkArrived(t, e, rec, files, results)
		if len(hooks.decided) != 1 || len(hooks.decided[0].Kept) != 3 {
			t.Fatalf("decisions %+v, want one with 3 parts kept", hooks.decided)
		}
		if got := proxy.Stats().PartAttempts(); len(got) != 2 || got[4] != 1 || got[5] != 1 {
			t.Errorf("second run sent parts %v, want only 4 and 5, once each", got)
		}
	})
}
