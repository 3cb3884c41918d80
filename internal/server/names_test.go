package server

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// safeNameInvariants is what every SafeName result must hold.
func safeNameInvariants(got string) error {
	switch {
	case got == "" || got == "." || got == "..":
		return errors.New("empty or a dot name")
	case len(got) > MaxNameBytes:
		return errors.New("longer than MaxNameBytes")
	case !utf8.ValidString(got):
		return errors.New("invalid UTF-8")
	case strings.ContainsAny(got, `/\`):
		return errors.New("holds a separator")
	case strings.Contains(got, ".."):
		return errors.New(`holds ".."`)
	case strings.TrimSpace(got) != got:
		return errors.New("white space at an end")
	case strings.IndexFunc(got, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		return errors.New("holds a control or format character")
	}
	return nil
}

// FuzzSafeName: go test -fuzz FuzzSafeName ./internal/server. Its corpus
// in testdata/fuzz/FuzzSafeName runs with every go test.
func FuzzSafeName(f *testing.F) {
	for _, seed := range []string{"clip.mp4", "../../etc/passwd", "a....b", " x ", strings.Repeat("é", 150) + ".mkv"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := SafeName(in)
		if err := safeNameInvariants(got); err != nil {
			t.Fatalf("SafeName(%q) = %q: %v", in, got, err)
		}
		if again := SafeName(got); again != got {
			t.Fatalf("SafeName is not idempotent: %q -> %q -> %q", in, got, again)
		}
		if k := KeyName(got); strings.ContainsAny(k, policyWildcards) || len(k) != len(got) {
			t.Fatalf("KeyName(%q) = %q", got, k)
		}
	})
}

func TestSafeName(t *testing.T) {
	long := strings.Repeat("a", 5000)
	longRunes := strings.Repeat("é", 3000) // two bytes each
	tests := []struct {
		name, in, want string
	}{
		{"plain", "clip.mp4", "clip.mp4"},
		{"unicode kept", "vidéo été.mov", "vidéo été.mov"},
		{"traversal", "../../etc/passwd", "passwd"},
		{"absolute", "/var/lib/clip.mp4", "clip.mp4"},
		{"windows path", `C:\Users\cam\clip.mp4`, "clip.mp4"},
		{"empty", "", FallbackName},
		{"only spaces", "   ", FallbackName},
		{"dot", ".", FallbackName},
		{"dot dot", "..", FallbackName},
		{"trailing slash", "clips/", FallbackName},
		{"dots inside collapsed", "a....b.mp4", "a.b.mp4"},
		{"control characters", "cl\x00ip\r\n\t\x1b[31m.mp4", "clip[31m.mp4"},
		{"del and c1 controls", "a\x7fb\u0085c.mp4", "abc.mp4"},
		{"bidi override removed", "clip\u202egpj.exe", "clipgpj.exe"},
		{"invalid utf-8 removed", "cl\xffip.mp4", "clip.mp4"},
		{"long cut keeps extension", long + ".mp4", strings.Repeat("a", MaxNameBytes-4) + ".mp4"},
		{"long without extension", long, strings.Repeat("a", MaxNameBytes)},
		{"long absurd extension dropped", "a." + long, "a." + strings.Repeat("a", MaxNameBytes-2)},
		{"long cut on rune boundary", longRunes + ".mkv", strings.Repeat("é", (MaxNameBytes-4)/2) + ".mkv"},
		{"hidden file kept", ".mp4", ".mp4"},
		// Found by FuzzSafeName: the cut used to leave these behind.
		{"cut leaves a dot before the extension", strings.Repeat("a", MaxNameBytes-5) + "." + long + ".mp4", strings.Repeat("a", MaxNameBytes-5) + ".mp4"},
		{"cut leaves a trailing space", strings.Repeat("a", MaxNameBytes-1) + " b" + long, strings.Repeat("a", MaxNameBytes-1)},
		{"cut leaves a space before the extension", strings.Repeat("a", MaxNameBytes-5) + " " + long + ".mp4", strings.Repeat("a", MaxNameBytes-5) + " .mp4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SafeName(tt.in)
			if got != tt.want {
				t.Fatalf("SafeName(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if err := safeNameInvariants(got); err != nil {
				t.Fatalf("SafeName(%q) = %q: %v", tt.in, got, err)
			}
		})
	}
}

func TestSafeNameOddRuneBoundary(t *testing.T) {
	// 3-byte runes never line up with the limit: the cut must step back.
	in := strings.Repeat("語", 100) + ".mp4"
	got := SafeName(in)
	if !utf8.ValidString(got) || !strings.HasSuffix(got, ".mp4") || len(got) > MaxNameBytes {
		t.Fatalf("SafeName = %q (%d bytes)", got, len(got))
	}
	if want := strings.Repeat("語", (MaxNameBytes-4)/3) + ".mp4"; got != want {
		t.Fatalf("SafeName = %q, want %q", got, want)
	}
}
