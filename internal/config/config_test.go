package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func newFlags() (*pflag.FlagSet, *string, *int, *[]string) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	url := fs.String("api-url", "http://default", "")
	conc := fs.Int("concurrency", 4, "")
	meta := fs.StringArray("metadata", nil, "")
	return fs, url, conc, meta
}

func writeFile(t *testing.T, body string) *File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFile(p, true)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestResolvePrecedence(t *testing.T) {
	file := "api-url: http://file\nconcurrency: 7\nmetadata: [a=1, b=2]\n"
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantURL  string
		wantSrc  Source
		wantConc int
		wantMeta []string
	}{
		{"file beats default", nil, nil, "http://file", SourceFile, 7, []string{"a=1", "b=2"}},
		{"env beats file", nil, map[string]string{"VIDUP_API_URL": "http://env", "VIDUP_CONCURRENCY": "9"}, "http://env", SourceEnv, 9, []string{"a=1", "b=2"}},
		{"flag beats env", []string{"--api-url", "http://flag"}, map[string]string{"VIDUP_API_URL": "http://env"}, "http://flag", SourceFlag, 7, []string{"a=1", "b=2"}},
		{"flag list replaces file list", []string{"--metadata", "c=3"}, nil, "http://file", SourceFile, 7, []string{"c=3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, url, conc, meta := newFlags()
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			values, err := Resolve(fs, Spec{}, writeFile(t, file), env)
			if err != nil {
				t.Fatal(err)
			}
			if *url != tt.wantURL || *conc != tt.wantConc {
				t.Errorf("api-url=%q concurrency=%d, want %q %d", *url, *conc, tt.wantURL, tt.wantConc)
			}
			if len(*meta) != len(tt.wantMeta) {
				t.Fatalf("metadata=%q, want %q", *meta, tt.wantMeta)
			}
			for i := range tt.wantMeta {
				if (*meta)[i] != tt.wantMeta[i] {
					t.Errorf("metadata=%q, want %q", *meta, tt.wantMeta)
				}
			}
			for _, v := range values {
				if v.Flag == "api-url" && v.Source != tt.wantSrc {
					t.Errorf("api-url source %s, want %s", v.Source, tt.wantSrc)
				}
			}
		})
	}
}

func TestResolveSectionAndErrors(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "")
	ttl := fs.Duration("credentials-ttl", 0, "")
	f := writeFile(t, "serve:\n  listen: 127.0.0.1:9999\n")
	env := func(k string) (string, bool) {
		if k == "VIDUP_SERVE_CREDENTIALS_TTL" {
			return "not-a-duration", true
		}
		return "", false
	}
	_, err := Resolve(fs, Spec{Section: "serve"}, f, env)
	if err == nil {
		t.Fatal("a bad duration in the environment was accepted")
	}
	if want := "VIDUP_SERVE_CREDENTIALS_TTL"; !contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	if *listen != "127.0.0.1:9999" {
		t.Errorf("listen=%q, want the file's value", *listen)
	}
	_ = ttl
}

func TestLoadFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	if _, err := LoadFile(missing, true); err == nil {
		t.Error("a config file named by the user but missing was accepted")
	}
	f, err := LoadFile(missing, false)
	if err != nil || f.Path != "" {
		t.Errorf("missing default file: %v, path %q", err, f.Path)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("a: [unclosed"), 0o600)
	if _, err := LoadFile(bad, true); err == nil || !contains(err.Error(), "not valid YAML") {
		t.Errorf("invalid YAML: %v", err)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("serve", "credentials-ttl"); got != "VIDUP_SERVE_CREDENTIALS_TTL" {
		t.Errorf("got %s", got)
	}
	if got := EnvName("", "api-url"); got != "VIDUP_API_URL" {
		t.Errorf("got %s", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestUnknownKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("concurency: 4\napi-url: http://x\nmetadata:\n  camera: cam-3\nserve:\n  listen: :8080\n  bukcet: v\nretires: 3\nwhatever: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	known := []string{"api-url", "concurrency", "metadata", "retries", "serve.listen", "serve.bucket"}
	got := f.UnknownKeys(known)
	want := []UnknownKey{{"concurency", "concurrency"}, {"retires", "retries"}, {"serve.bukcet", "serve.bucket"}, {"whatever", ""}}
	if len(got) != len(want) {
		t.Fatalf("UnknownKeys = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("UnknownKeys[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if absent, _ := LoadFile(filepath.Join(t.TempDir(), "none.yaml"), false); len(absent.UnknownKeys(known)) != 0 {
		t.Error("an absent file has unknown keys")
	}
}
