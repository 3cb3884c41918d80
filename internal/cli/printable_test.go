//go:build unix

package cli

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidup/vidup/internal/faultproxy"
	"github.com/vidup/vidup/internal/testenv"
	"github.com/vidup/vidup/internal/transfer/transfertest"
)

// obeyed are what a terminal would act on rather than show.
var obeyed = []string{"\x1b", "\r", "\x07", "\u009b", "\u202e"}

func checkPrintable(t *testing.T, what, s string) {
	t.Helper()
	for _, c := range obeyed {
		if strings.Contains(s, c) {
			t.Errorf("%s holds %q: %q", what, c, s)
		}
	}
}

// The text of the API and of S3 reaches the terminal with its control
// characters and escape sequences shown, not obeyed, in every output mode,
// -q and --progress none included.
func TestServerTextIsPrintableInEveryMode(t *testing.T) {
	s := testenv.MinIO(t)
	a := transfertest.New(t, s, s.NewBucket(t))
	proxy, err := faultproxy.New(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	a.Endpoint = proxy.URL()
	forged := "vidup: a.mp4: uploaded"
	faults := map[string]func(){
		"API": func() {
			proxy.SetRule(nil)
			a.Set(func(a *transfertest.API) {
				a.RegisterFault = func(string, int) (int, string) {
					return 422, "bad \x1b[2J\x1b]0;owned\x07 \u009b31m \u202etxt.exe\r\n" + forged
				}
			})
		},
		"S3": func() {
			a.Set(func(a *transfertest.API) { a.RegisterFault = nil })
			body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>AccessDenied</Code><Message>denied \u009b2J \u202etxt.exe\r\n" +
				forged + "</Message></Error>"
			proxy.SetRule(func(ri *faultproxy.RequestInfo) faultproxy.Action {
				if ri.Kind == faultproxy.KindPutObject {
					return faultproxy.Respond(403, body, http.Header{"Content-Type": {"application/xml"}})
				}
				return faultproxy.Pass()
			})
		},
	}
	for name, fault := range faults {
		for _, mode := range [][]string{{"-q"}, {"--progress", "none"}, {"--progress", "plain"}, {"-o", "json", "-q"}, {"-o", "ndjson", "--progress", "none"}} {
			t.Run(name+" "+strings.Join(mode, " "), func(t *testing.T) {
				fault()
				dir := t.TempDir()
				env := map[string]string{"VIDUP_API_URL": a.URL, "VIDUP_API_TOKEN": a.Token, "VIDUP_STATE_DIR": filepath.Join(t.TempDir(), "state")}
				args := append([]string{"upload"}, mode...)
				code, stdout, stderr := runUploadCmd(t, env, nil, append(args, writeTemp(t, dir, "a.mp4", 10))...)
				if code == ExitOK {
					t.Fatalf("exit code 0; stderr %q", stderr)
				}
				if !strings.Contains(stderr+stdout, "owned") && !strings.Contains(stderr+stdout, "denied") {
					t.Errorf("the server's text is not shown at all: stderr %q, stdout %q", stderr, stdout)
				}
				checkPrintable(t, "stderr", stderr)
				checkPrintable(t, "stdout", stdout)
				for _, line := range strings.Split(stderr, "\n") {
					if strings.HasPrefix(line, forged) {
						t.Errorf("the server forged a line of stderr: %q", stderr)
					}
				}
			})
		}
	}
}

// The one line a failed command leaves keeps vidup's own line breaks and
// escapes everything else.
func TestPrintErrorEscapes(t *testing.T) {
	var b strings.Builder
	printError(&b, errors.Join(fmt.Errorf("first \x1b[2Jproblem"), errors.New("second \u202eproblem")))
	got := b.String()
	checkPrintable(t, "printError", got)
	if want := "vidup: first \\x1b[2Jproblem\nsecond \\u202eproblem\n"; got != want {
		t.Errorf("printError = %q, want %q", got, want)
	}
}
