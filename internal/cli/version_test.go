package cli

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// Where each fact of vidup version comes from, for each way to get vidup:
// a release (goreleaser's ldflags), go install ...@vX (the module's build
// information), make build (ldflags without a tag), go build (nothing).
func TestBuildVersion(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  versionInfo
	}{
		{
			name:    "release by goreleaser",
			version: "1.4.0", commit: "0123456789abcdef", date: "2026-11-30T10:00:00Z",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: versionInfo{Version: "1.4.0", Commit: "0123456789abcdef", Date: "2026-11-30T10:00:00Z", GoVersion: "go1.26.8"},
		},
		{
			name: "go install at a tag",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.4.0"}},
			want: versionInfo{Version: "1.4.0", GoVersion: "go1.26.1"},
		},
		{
			name: "go build in a clone with VCS stamping",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
				Settings: vcs("vcs.revision", "abc123", "vcs.time", "2026-12-01T09:00:00Z", "vcs.modified", "true")},
			want: versionInfo{Version: "dev", Commit: "abc123-dirty", Date: "2026-12-01T09:00:00Z", GoVersion: "go1.26.8"},
		},
		{
			name:   "make build without a tag",
			commit: "abc123", date: "2026-12-02T13:00:00Z",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs("vcs.revision", "ffff", "vcs.modified", "true")},
			want: versionInfo{Version: "dev", Commit: "abc123", Date: "2026-12-02T13:00:00Z", GoVersion: "go1.26.8"},
		},
		{
			name:    "a v in the stamp is dropped",
			version: "v2.0.0-rc.1",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.8"},
			want:    versionInfo{Version: "2.0.0-rc.1", GoVersion: "go1.26.8"},
		},
		{
			name: "no build information at all",
			want: versionInfo{Version: "dev", GoVersion: runtime.Version()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildVersion(tt.version, tt.commit, tt.date, tt.bi)
			tt.want.OS, tt.want.Arch = runtime.GOOS, runtime.GOARCH
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestVersionText(t *testing.T) {
	release := versionInfo{Version: "1.4.0", Commit: "0123abc", Date: "2026-11-30T10:00:00Z", GoVersion: "go1.26.8", OS: "linux", Arch: "arm64"}
	want := "vidup 1.4.0\ncommit:  0123abc\nbuilt:   2026-11-30T10:00:00Z\ngo:      go1.26.8\nos/arch: linux/arm64\n"
	if got := release.text(); got != want {
		t.Errorf("release:\n%s\nwant:\n%s", got, want)
	}
	dev := versionInfo{Version: "dev", GoVersion: "go1.26.8", OS: "darwin", Arch: "amd64"}
	got := dev.text()
	for _, line := range []string{"vidup dev (a development build, not a release)\n", "commit:  unknown\n", "built:   unknown\n"} {
		if !strings.Contains(got, line) {
			t.Errorf("dev build's text lacks %q:\n%s", line, got)
		}
	}
}
