package resume

import (
	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/transfer"
)

// hooks records the engine's uploads of claimed files in the journal.
// Files that were not claimed (stdin) are not recorded.
type hooks struct{ t *Tracker }

func (h hooks) claim(f *asset.Item) *claim {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	return h.t.claims[f]
}

// entry is this run's journal entry of upload id, or nil.
func (h hooks) entry(c *claim, uploadID string) *journal.Entry {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	return c.entries[uploadID]
}

// Earlier implements transfer.Hooks: of the unfinished uploads of the
// file, Decide keeps the newest one of the unchanged file (to resume, or
// only to register); the others are stale: the engine gives them up.
func (h hooks) Earlier(f *asset.Item) transfer.Earlier {
	c := h.claim(f)
	if c == nil {
		return transfer.Earlier{}
	}
	entries, err := h.t.store.ForSource(c.id.Key())
	if err != nil {
		h.t.problem(err)
		return transfer.Earlier{}
	}
	var ea transfer.Earlier
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	for _, e := range entries {
		if e.State == journal.Registered {
			continue
		}
		c.put(e.UploadID, e)
		p := prior(e)
		d := Decide(e, c.id, transfer.S3State{})
		if ea.Resume == nil && (d.Action == transfer.Resume || d.Action == transfer.Register) {
			ea.Resume = &p
			continue
		}
		ea.Stale = append(ea.Stale, p)
		if ea.StaleReason == "" {
			ea.StaleReason = superseded
			if d.Action == transfer.Restart {
				ea.StaleReason = d.Reason
			}
		}
	}
	return ea
}

// Decide implements transfer.Hooks with Decide over this run's record of p.
func (h hooks) Decide(f *asset.Item, p *transfer.Prior, s3 transfer.S3State) transfer.Decision {
	c := h.claim(f)
	var e *journal.Entry
	if c != nil {
		e = h.entry(c, p.Ref.UploadID)
	}
	if e == nil {
		// Not offered by Earlier: nothing of the journal to continue.
		return transfer.Decision{Action: transfer.Restart, Reason: "the journal has no record of this upload; starting a new upload"}
	}
	return Decide(e, c.id, s3)
}

func prior(e *journal.Entry) transfer.Prior {
	return transfer.Prior{Ref: e.Upload, Parts: e.Parts, Completed: e.State == journal.Completed, ETag: e.ETag, Checksum: e.Checksum}
}

// UploadCreated implements transfer.Hooks.
func (h hooks) UploadCreated(f *asset.Item, ref asset.Upload) {
	c := h.claim(f)
	if c == nil {
		return
	}
	e := newEntry(c, f, ref, journal.Uploading)
	if err := h.t.store.Create(e); err != nil {
		h.t.problem(err)
		return
	}
	h.t.mu.Lock()
	c.put(ref.UploadID, e)
	h.t.mu.Unlock()
}

func newEntry(c *claim, f *asset.Item, ref asset.Upload, state journal.State) *journal.Entry {
	if ref.ChecksumAlgorithm == "" {
		// An empty one is CRC64NVME (stdin uploads and earlier versions).
		ref.ChecksumAlgorithm = "CRC64NVME"
	}
	return &journal.Entry{Source: c.id, Upload: ref, Name: f.Name, Size: f.Size, ContentType: f.ContentType, State: state}
}

// PartDone implements transfer.Hooks: the part is on disk (fsynced) before
// the engine goes on.
func (h hooks) PartDone(f *asset.Item, ref asset.Upload, p asset.Part) {
	c := h.claim(f)
	if c == nil {
		return
	}
	e := h.entry(c, ref.UploadID)
	if e == nil {
		return
	}
	h.t.problem(h.t.store.AddPart(e.ID, p))
}

// update changes this run's entry of ref under the lock and writes it.
// The write goes outside the lock, on a copy: writes of the run log wait
// for an fsync that the records of other files share (group commit), and
// holding the tracker's lock meanwhile would make them wait in turn. One
// file's entry is written by one goroutine at a time (the engine's).
func (h hooks) update(c *claim, ref asset.Upload, change func(e *journal.Entry)) {
	h.t.mu.Lock()
	e := c.entries[ref.UploadID]
	if e == nil {
		h.t.mu.Unlock()
		return
	}
	change(e)
	cp := *e
	h.t.mu.Unlock()
	err := h.t.store.Update(&cp)
	h.t.mu.Lock()
	e.CreatedAt, e.UpdatedAt = cp.CreatedAt, cp.UpdatedAt
	h.t.mu.Unlock()
	// problem takes the lock itself.
	h.t.problem(err)
}

// Completed implements transfer.Hooks: the entry enters the outbox. Single
// PutObject uploads get their first entry here.
func (h hooks) Completed(f *asset.Item, ref asset.Upload, r transfer.Result) {
	c := h.claim(f)
	if c == nil {
		return
	}
	sum := ""
	if r.Checksum != nil {
		sum = r.Checksum.Value
	}
	if h.entry(c, ref.UploadID) == nil {
		e := newEntry(c, f, ref, journal.Completed)
		e.ETag, e.Checksum = r.ETag, sum
		if err := h.t.store.Create(e); err != nil {
			h.t.problem(err)
			return
		}
		h.t.mu.Lock()
		c.put(ref.UploadID, e)
		h.t.mu.Unlock()
		return
	}
	h.update(c, ref, func(e *journal.Entry) {
		e.State, e.ETag, e.Checksum, e.LastError = journal.Completed, r.ETag, sum, ""
	})
}

// Registered implements transfer.Hooks.
func (h hooks) Registered(f *asset.Item, ref asset.Upload, videoID string) {
	c := h.claim(f)
	if c == nil {
		return
	}
	h.update(c, ref, func(e *journal.Entry) {
		e.State, e.VideoID, e.LastError = journal.Registered, videoID, ""
	})
}

// Forget implements transfer.Hooks.
func (h hooks) Forget(f *asset.Item, ref asset.Upload, _ string) {
	c := h.claim(f)
	if c == nil {
		return
	}
	h.t.mu.Lock()
	e := c.entries[ref.UploadID]
	delete(c.entries, ref.UploadID)
	h.t.mu.Unlock()
	if e != nil {
		h.t.problem(h.t.store.Delete(e.ID))
	}
}

// KeepFailed implements transfer.Hooks: an upload stopped by the user or by
// trouble that may pass stays open on S3 for the next run; one S3 refused
// for good is aborted and forgotten.
func (h hooks) KeepFailed(f *asset.Item, ref asset.Upload, err error) bool {
	keep := transfer.Resumable(err)
	c := h.claim(f)
	if c == nil {
		return false
	}
	if !keep {
		h.Forget(f, ref, "")
		return false
	}
	h.update(c, ref, func(e *journal.Entry) { e.LastError = err.Error() })
	return true
}
