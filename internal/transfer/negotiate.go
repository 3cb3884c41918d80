package transfer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vidup/vidup/internal/contract"
)

// checksumMode is a session's checksum mode as negotiated so far: the
// session's `checksum` (contract v1.1), the user's --checksum, or the
// default, moved down the fallbacks when the store refuses one. Every new
// upload of the session starts with it.
type checksumMode struct {
	mu     sync.Mutex
	a      *checksumAlgorithm
	forced bool // --checksum: no fallback
}

// newChecksumMode is the mode a new session starts with.
func (e *Engine) newChecksumMode(s *contract.Session) *checksumMode {
	if a := modeOf(e.opts.Checksum); a != nil {
		return &checksumMode{a: a, forced: true}
	}
	if a := modeOf(s.Checksum); a != nil {
		return &checksumMode{a: a}
	}
	return &checksumMode{a: defaultChecksum}
}

func (m *checksumMode) current() *checksumAlgorithm {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.a
}

// fallBack moves the session from refused to the next mode and returns
// it; nil when there is none (or the user forced the mode). Several
// uploads refused at once move it down once: moved is true for the one
// that did.
func (m *checksumMode) fallBack(refused *checksumAlgorithm) (next *checksumAlgorithm, moved bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.forced {
		return nil, false
	}
	if m.a != refused {
		return m.a, false // another upload moved it already
	}
	for i, a := range fallbacks {
		if a == refused && i+1 < len(fallbacks) {
			m.a = fallbacks[i+1]
			return m.a, true
		}
	}
	return nil, false
}

// negotiate runs first, the first request of a new upload (PutObject or
// CreateMultipartUpload), in u's checksum mode. When the store refuses the
// mode's headers it falls back to the next mode, which the session keeps
// for its other uploads, says so (a ChecksumFallback event), and tries
// again.
func (e *Engine) negotiate(ctx context.Context, u *upload, first func() error) error {
	for {
		err := first()
		if err == nil || !refusesChecksum(err) || ctx.Err() != nil {
			return err
		}
		next, moved := u.sess.mode.fallBack(u.a)
		if next == nil {
			return err
		}
		if moved {
			e.opts.Observer.Event(Event{Kind: ChecksumFallback, Time: time.Now(), Path: u.f.Path, Name: u.f.Name, Size: u.f.Size,
				SessionID: u.ref.SessionID, UploadID: u.ref.UploadID, Key: u.ref.Key,
				Reason: fmt.Sprintf("the store refused checksum %s (%s); using %s for this session", u.a.label(), describe(err), next.label()), Err: err})
		}
		u.a = next
		u.ref.ChecksumAlgorithm = next.record()
	}
}
