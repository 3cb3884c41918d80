package journal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests below run this test binary again as a helper process, which
// TestMain sends to runHelper: locks and journals must hold across real
// processes and real SIGKILLs, which goroutines cannot fake.
const helperEnv = "VIDUP_JOURNAL_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Getenv("HELPER_DIR"), os.Getenv("HELPER_KEY"), os.Getenv("HELPER_ID")))
	}
	os.Exit(m.Run())
}

func runHelper(mode, dir, key, id string) int {
	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	_, ok, err := s.Lock(key)
	if err != nil || !ok {
		fmt.Fprintln(os.Stderr, "lock:", ok, err)
		return 3
	}
	switch mode {
	case "log":
		return logHelper(s, id)
	case "lock":
		fmt.Println("locked")
		time.Sleep(time.Hour)
		return 0
	case "append":
		e, err := s.Get(id)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 4
		}
		next := int32(len(e.Parts)) + 1
		fmt.Println("ready", next-1)
		for n := next; n <= 10000; n++ {
			if err := s.AddPart(id, testPart(n)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 5
			}
			if n%3 == 0 {
				e.LastError = fmt.Sprintf("at part %d", n)
				if err := s.Update(e); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 6
				}
			}
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 1
}

// startHelper starts a helper and waits for its first line.
func startHelper(t *testing.T, mode string, s *Store, key, id string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "HELPER_DIR="+s.Dir(), "HELPER_KEY="+key, "HELPER_ID="+id)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Wait()
		t.Fatalf("helper %s: %v; stderr: %s", mode, err, stderr.String())
	}
	return cmd, strings.TrimSpace(line)
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die of SIGKILL: %v", err)
	}
}

func TestLockHeldByAnotherProcess(t *testing.T) {
	s := openStore(t)
	src, err := IdentityOf(writeSource(t, t.TempDir(), "clip.mp4", 1000))
	if err != nil {
		t.Fatal(err)
	}
	cmd, line := startHelper(t, "lock", s, src.Key(), "")
	if line != "locked" {
		t.Fatalf("helper said %q", line)
	}
	if _, ok, err := s.Lock(src.Key()); err != nil || ok {
		t.Fatalf("Lock while another process holds it = %v %v, want false", ok, err)
	}
	kill9(t, cmd)
	unlock, ok, err := s.Lock(src.Key())
	if err != nil || !ok {
		t.Fatalf("Lock after its holder was killed = %v %v, want true", ok, err)
	}
	unlock()
}

// A process recording parts (and rewriting the header) is killed at random
// moments, twenty times; each time the journal loads, holds parts 1..n with
// nothing missing, nothing garbled and nothing lost from the round before,
// and the next process continues from there.
func TestKill9WhileRecording(t *testing.T) {
	s := openStore(t)
	src, err := IdentityOf(writeSource(t, t.TempDir(), "clip.mp4", 1000))
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEntry(src)
	if err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for round := range 20 {
		cmd, line := startHelper(t, "append", s, src.Key(), e.ID)
		if want := fmt.Sprintf("ready %d", recorded); line != want {
			t.Fatalf("round %d: helper said %q, want %q", round, line, want)
		}
		time.Sleep(time.Duration(rand.IntN(30_000)) * time.Microsecond)
		kill9(t, cmd)

		got, err := s.Get(e.ID)
		if err != nil {
			t.Fatalf("round %d: the journal does not load after kill -9: %v", round, err)
		}
		for i, p := range got.Parts {
			if p != testPart(int32(i+1)) {
				t.Fatalf("round %d: part %d = %+v", round, i+1, p)
			}
		}
		if len(got.Parts) < recorded {
			t.Fatalf("round %d: %d parts, %d before: a recorded part was lost", round, len(got.Parts), recorded)
		}
		recorded = len(got.Parts)
		if got.LastError != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(got.LastError, "at part "))
			if err != nil || n > recorded {
				t.Fatalf("round %d: header says %q with %d parts recorded", round, got.LastError, recorded)
			}
		}
		if list, err := s.List(); err != nil || len(list) != 1 {
			t.Fatalf("round %d: List = %d entries, %v", round, len(list), err)
		}
		unlock, ok, err := s.Lock(src.Key())
		if err != nil || !ok {
			t.Fatalf("round %d: lock not free after kill -9: %v %v", round, ok, err)
		}
		unlock()
	}
	if recorded == 0 {
		t.Fatal("no helper recorded a part: the test proved nothing")
	}
	t.Logf("%d parts recorded over 20 killed processes", recorded)
}
