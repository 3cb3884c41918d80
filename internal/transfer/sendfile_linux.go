package transfer

import (
	"errors"
	"io"
	"syscall"
)

// sendfileChunk bounds one sendfile(2) call, so that progress and the
// stall timer move while a part is sent.
const sendfileChunk = 4 << 20

// sendFile sends the next n bytes of the part to the socket sc with
// sendfile(2): the kernel copies them from the page cache to the socket,
// with no read into user memory and no write from it. It counts progress
// as Read does. errNoSendfile, with nothing sent, says the file system or
// socket cannot do it (the caller copies instead).
func (b *attemptBody) sendFile(sc syscall.RawConn, n int64) (int64, error) {
	pos, err := b.r.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	n = min(n, b.r.Size()-pos)
	fc, err := b.file.SyscallConn()
	if err != nil {
		return 0, errNoSendfile
	}
	var sent int64
	var serr error
	// Control holds the file open: a part whose attempt is abandoned and
	// whose file is closed meanwhile cannot send from a reused descriptor.
	cerr := fc.Control(func(ffd uintptr) {
		for sent < n {
			if b.over() {
				serr = errAttemptOver
				return
			}
			off := b.base + pos + sent
			var wrote int
			var werr error
			err := sc.Write(func(sfd uintptr) bool {
				wrote, werr = syscall.Sendfile(int(sfd), int(ffd), &off, int(min(n-sent, sendfileChunk)))
				return werr != syscall.EAGAIN
			})
			if wrote > 0 {
				sent += int64(wrote)
				b.advance(int64(wrote))
			}
			switch {
			case werr != nil && sent == 0 && (errors.Is(werr, syscall.EINVAL) || errors.Is(werr, syscall.ENOSYS) || errors.Is(werr, syscall.EOPNOTSUPP)):
				serr = errNoSendfile
				return
			case werr != nil:
				serr = werr
				return
			case err != nil:
				serr = err
				return
			case wrote == 0:
				// The file ended early: it shrank while it was sent.
				serr = errFileChanged
				return
			}
		}
	})
	if serr == nil {
		serr = cerr
	}
	return sent, serr
}
