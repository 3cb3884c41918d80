package server

import (
	"strings"
	"testing"
	"unicode/utf8"
)

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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SafeName(tt.in)
			if got != tt.want {
				t.Fatalf("SafeName(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(got) > MaxNameBytes || got == "" || !utf8.ValidString(got) ||
				strings.Contains(got, "/") || strings.Contains(got, "..") {
				t.Fatalf("SafeName(%q) = %q breaks an invariant", tt.in, got)
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
