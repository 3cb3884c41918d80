//go:build !linux

package transfer

import "syscall"

// sendFile is sendfile(2) on Linux only; elsewhere bodies are copied.
func (b *attemptBody) sendFile(syscall.RawConn, int64) (int64, error) {
	return 0, errNoSendfile
}
