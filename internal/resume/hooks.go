package resume

import (
	"fmt"
	"strings"

	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/transfer"
)

// hooks records the engine's uploads of claimed files in the journal.
// Files that were not claimed (stdin) are not recorded.
type hooks struct{ t *Tracker }

func (h hooks) claim(f *transfer.File) *claim {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	return h.t.claims[key(f.Path)]
}

// entry is this run's journal entry of upload id, or nil.
func (h hooks) entry(c *claim, uploadID string) *journal.Entry {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	return c.entries[uploadID]
}

// Earlier implements transfer.Hooks: the newest unfinished upload of the
// unchanged file is resumed; unfinished uploads of other versions of the
// file are stale.
func (h hooks) Earlier(f *transfer.File) transfer.Earlier {
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
		c.entries[e.UploadID] = e
		p := prior(e)
		if ea.Resume == nil && e.Source.Same(c.id) {
			ea.Resume = &p
			continue
		}
		ea.Stale = append(ea.Stale, p)
		if ea.StaleReason == "" {
			ea.StaleReason = changed(e.Source, c.id)
		}
	}
	return ea
}

func prior(e *journal.Entry) transfer.Prior {
	p := transfer.Prior{
		Ref: transfer.UploadRef{SessionID: e.SessionID, UploadID: e.UploadID, Bucket: e.Bucket, Key: e.Key,
			Region: e.Region, Endpoint: e.Endpoint, PathStyle: e.PathStyle, S3UploadID: e.S3UploadID,
			PartSize: e.PartSize, ChecksumAlgorithm: e.ChecksumAlgorithm, Metadata: e.Metadata},
		Completed: e.State == journal.Completed,
		ETag:      e.ETag,
		Checksum:  e.Checksum,
	}
	for _, jp := range e.Parts {
		p.Parts = append(p.Parts, transfer.NewPart(jp.Number, jp.Size, jp.ETag, jp.Checksum))
	}
	return p
}

// changed says how the file differs from the one an earlier upload read.
func changed(old, now journal.Identity) string {
	var what []string
	if old.Size != now.Size {
		what = append(what, fmt.Sprintf("its size went from %d to %d bytes", old.Size, now.Size))
	}
	if !old.ModTime.Equal(now.ModTime) {
		what = append(what, "its modification time changed")
	}
	if old.Inode != now.Inode || old.Device != now.Device {
		what = append(what, "it is another file at the same path")
	}
	if len(what) == 0 && old.Sample != now.Sample {
		what = append(what, "its content differs")
	}
	if len(what) == 0 {
		return "a newer upload of the file superseded this one"
	}
	return "the file changed since the last run (" + strings.Join(what, ", ") + ")"
}

// UploadCreated implements transfer.Hooks.
func (h hooks) UploadCreated(f *transfer.File, ref transfer.UploadRef) {
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
	c.entries[ref.UploadID] = e
	h.t.mu.Unlock()
}

func newEntry(c *claim, f *transfer.File, ref transfer.UploadRef, state journal.State) *journal.Entry {
	return &journal.Entry{
		Source: c.id, SessionID: ref.SessionID, UploadID: ref.UploadID, Key: ref.Key, Bucket: ref.Bucket,
		Region: ref.Region, Endpoint: ref.Endpoint, PathStyle: ref.PathStyle,
		Name: f.Name, Size: f.Size, ContentType: f.ContentType, Metadata: ref.Metadata,
		S3UploadID: ref.S3UploadID, PartSize: ref.PartSize, ChecksumAlgorithm: checksumAlgorithm(ref), State: state,
	}
}

// PartDone implements transfer.Hooks: the part is on disk (fsynced) before
// the engine goes on.
func (h hooks) PartDone(f *transfer.File, ref transfer.UploadRef, p transfer.Part) {
	c := h.claim(f)
	if c == nil {
		return
	}
	e := h.entry(c, ref.UploadID)
	if e == nil {
		return
	}
	h.t.problem(h.t.store.AddPart(e.ID, journal.Part{Number: p.Number, Size: p.Size, ETag: p.ETag, Checksum: p.Checksum}))
}

// update changes this run's entry of ref under the lock and writes it.
func (h hooks) update(c *claim, ref transfer.UploadRef, change func(e *journal.Entry)) {
	h.t.mu.Lock()
	e := c.entries[ref.UploadID]
	if e == nil {
		h.t.mu.Unlock()
		return
	}
	change(e)
	err := h.t.store.Update(e)
	h.t.mu.Unlock()
	// problem takes the lock itself.
	h.t.problem(err)
}

// Completed implements transfer.Hooks: the entry enters the outbox. Single
// PutObject uploads get their first entry here.
func (h hooks) Completed(f *transfer.File, ref transfer.UploadRef, r transfer.Result) {
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
		c.entries[ref.UploadID] = e
		h.t.mu.Unlock()
		return
	}
	h.update(c, ref, func(e *journal.Entry) {
		e.State, e.ETag, e.Checksum, e.LastError = journal.Completed, r.ETag, sum, ""
	})
}

// Registered implements transfer.Hooks.
func (h hooks) Registered(f *transfer.File, ref transfer.UploadRef, videoID string) {
	c := h.claim(f)
	if c == nil {
		return
	}
	h.update(c, ref, func(e *journal.Entry) {
		e.State, e.VideoID, e.LastError = journal.Registered, videoID, ""
	})
}

// Forget implements transfer.Hooks.
func (h hooks) Forget(f *transfer.File, ref transfer.UploadRef, _ string) {
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
func (h hooks) KeepFailed(f *transfer.File, ref transfer.UploadRef, err error) bool {
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

// checksumAlgorithm is what the journal records of ref's CRC: an empty one
// is CRC64NVME (stdin uploads and earlier versions).
func checksumAlgorithm(ref transfer.UploadRef) string {
	if ref.ChecksumAlgorithm == "" {
		return "CRC64NVME"
	}
	return ref.ChecksumAlgorithm
}
