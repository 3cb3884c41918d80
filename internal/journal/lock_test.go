package journal

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// lockChildEnv makes the test binary, run again by TestLockAcrossProcesses,
// take the lock and hold it until it is killed.
const lockChildEnv = "VIDUP_JOURNAL_LOCK_CHILD"

// The lock as every OS must keep it (flock on Unix, LockFileEx on Windows):
// busy while another process holds it, free once that process is killed
// without unlocking, and no lock file per source left behind.
func TestLockAcrossProcesses(t *testing.T) {
	if dir := os.Getenv(lockChildEnv); dir != "" {
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.Lock(Identity{Path: "/child", Inode: 1}.Key()); err != nil || !ok {
			t.Fatalf("child Lock = %v %v", ok, err)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Hour) // until killed (select{} would die as a deadlock)
	}

	s := openStore(t)
	key := Identity{Path: "/child", Inode: 1}.Key()
	child := exec.Command(os.Args[0], "-test.run=^TestLockAcrossProcesses$", "-test.count=1")
	child.Env = append(os.Environ(), lockChildEnv+"="+s.Dir())
	var stderr strings.Builder
	child.Stderr = &stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		child.Wait()
		t.Fatalf("child said %q (%v); stderr: %s", line, err, stderr.String())
	}

	if _, ok, err := s.Lock(key); err != nil || ok {
		t.Fatalf("Lock while another process holds it = %v %v, want busy", ok, err)
	}
	// Kill is SIGKILL on Unix and TerminateProcess on Windows: the child
	// never unlocks, the kernel has to release its lock.
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	unlock, ok, err := s.Lock(key)
	if err != nil || !ok {
		t.Fatalf("Lock after its holder was killed = %v %v, want it taken", ok, err)
	}
	unlock()

	// One lock table for every source: no file per lock is left behind.
	left, err := os.ReadDir(s.locks)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Name() != lockTableName {
		t.Fatalf("files in %s after unlock: %v; want only the lock table", s.locks, left)
	}
}
