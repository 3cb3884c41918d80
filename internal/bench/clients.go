package bench

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Target is the S3 server a run uploads to, with MinIO's root credentials.
type Target struct {
	Endpoint  string // http(s)://127.0.0.1:PORT
	Region    string
	Bucket    string
	AccessKey string
	SecretKey string
	// CAFile is the PEM certificate to trust for an https endpoint;
	// CABundle is it appended to the machine's own AWS_CA_BUNDLE, for
	// clients that take one bundle for everything.
	CAFile   string
	CABundle string
}

// Job is what one run uploads: either Files, or every file in Dir.
type Job struct {
	Files  []string
	Dir    string
	Prefix string // destination key prefix, fresh for every run
	// Package: Dir is one asset (an HLS ladder, a clip folder). vidup
	// uploads it with --package, as one session and one registration;
	// the peers, which know no packages, copy the folder as files.
	Package bool
}

// Tuning matches a peer's concurrency and part size to vidup's; the zero
// value keeps the peer's documented defaults.
type Tuning struct {
	Concurrency int
	PartSize    int64
}

func (t Tuning) zero() bool { return t.Concurrency == 0 && t.PartSize == 0 }

// Client builds the command that uploads a job with one tool. Home is a
// fresh folder the run may use for the tool's configuration, so nothing of
// the user's own setup leaks in.
type Client struct {
	Name    string
	Tool    string // mc, s5cmd, rclone, aws, vidup
	Bin     string
	Tuning  Tuning
	Command func(c *Client, t Target, j Job, home string) (*exec.Cmd, error)
	// Unavailable says why the tool cannot run here.
	Unavailable string
	// Env adds to every command (vidup: the API's address and token).
	Env []string
}

// baseEnv is the environment without anything that would point a tool at
// another server, credentials or configuration than the run's own.
func baseEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "AWS_CA_BUNDLE":
		case strings.HasPrefix(k, "AWS_"), strings.HasPrefix(k, "VIDUP_"),
			strings.HasPrefix(k, "MC_"), strings.HasPrefix(k, "RCLONE_"),
			k == "HOME", k == "XDG_CONFIG_HOME", k == "XDG_CACHE_HOME", k == "XDG_STATE_HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"), "XDG_STATE_HOME="+filepath.Join(home, ".state"))
}

func awsEnv(t Target) []string {
	env := []string{"AWS_ACCESS_KEY_ID=" + t.AccessKey, "AWS_SECRET_ACCESS_KEY=" + t.SecretKey,
		"AWS_REGION=" + t.Region, "AWS_DEFAULT_REGION=" + t.Region}
	if t.CABundle != "" {
		env = append(env, "AWS_CA_BUNDLE="+t.CABundle)
	}
	return env
}

// sources is the job's source arguments; dirSuffix is how the tool wants a
// folder named ("dir/" for mc, "dir/*" for s5cmd).
func (j Job) sources(dirSuffix string) []string {
	if j.Dir != "" {
		return []string{j.Dir + dirSuffix}
	}
	return j.Files
}

// NewMC is MinIO's client. Its part size and threads are set through
// MC_UPLOAD_MULTIPART_SIZE/THREADS; mc cp has no flags for them.
func NewMC(bin string, tune Tuning) *Client {
	return &Client{Name: variant("mc", tune), Tool: "mc", Bin: bin, Tuning: tune,
		Command: func(c *Client, t Target, j Job, home string) (*exec.Cmd, error) {
			u, err := url.Parse(t.Endpoint)
			if err != nil {
				return nil, err
			}
			cfg := filepath.Join(home, ".mc")
			if t.CAFile != "" {
				if err := copyFile(t.CAFile, filepath.Join(cfg, "certs", "CAs", "bench-ca.crt")); err != nil {
					return nil, err
				}
			}
			args := []string{"--config-dir", cfg, "--quiet", "--no-color", "cp"}
			if j.Dir != "" {
				args = append(args, "--recursive")
			}
			args = append(args, j.sources("/")...)
			args = append(args, "bench/"+t.Bucket+"/"+j.Prefix+"/")
			cmd := exec.Command(c.Bin, args...)
			u.User = url.UserPassword(t.AccessKey, t.SecretKey)
			cmd.Env = append(baseEnv(home), "MC_HOST_bench="+u.String())
			if c.Tuning.PartSize > 0 {
				cmd.Env = append(cmd.Env, "MC_UPLOAD_MULTIPART_SIZE="+strconv.FormatInt(c.Tuning.PartSize, 10))
			}
			if c.Tuning.Concurrency > 0 {
				cmd.Env = append(cmd.Env, "MC_UPLOAD_MULTIPART_THREADS="+strconv.Itoa(c.Tuning.Concurrency))
			}
			return cmd, nil
		}}
}

// NewS5cmd is peak/s5cmd; it trusts a CA through AWS_CA_BUNDLE.
func NewS5cmd(bin string, tune Tuning) *Client {
	return &Client{Name: variant("s5cmd", tune), Tool: "s5cmd", Bin: bin, Tuning: tune,
		Command: func(c *Client, t Target, j Job, home string) (*exec.Cmd, error) {
			args := []string{"--endpoint-url", t.Endpoint, "cp"}
			if c.Tuning.Concurrency > 0 {
				args = append(args, "--concurrency", strconv.Itoa(c.Tuning.Concurrency))
			}
			if c.Tuning.PartSize > 0 {
				// s5cmd takes MiB.
				args = append(args, "--part-size", strconv.FormatInt(max(1, c.Tuning.PartSize>>20), 10))
			}
			args = append(args, j.sources("/*")...)
			args = append(args, "s3://"+t.Bucket+"/"+j.Prefix+"/")
			cmd := exec.Command(c.Bin, args...)
			cmd.Env = append(baseEnv(home), awsEnv(t)...)
			return cmd, nil
		}}
}

// NewRclone is rclone with an S3 remote named "bench" defined in its
// environment.
func NewRclone(bin string, tune Tuning) *Client {
	return &Client{Name: variant("rclone", tune), Tool: "rclone", Bin: bin, Tuning: tune,
		Command: func(c *Client, t Target, j Job, home string) (*exec.Cmd, error) {
			args := []string{"copy"}
			if c.Tuning.Concurrency > 0 {
				args = append(args, "--s3-upload-concurrency", strconv.Itoa(c.Tuning.Concurrency))
			}
			if c.Tuning.PartSize > 0 {
				args = append(args, "--s3-chunk-size", strconv.FormatInt(c.Tuning.PartSize, 10)+"B")
			}
			if t.CAFile != "" {
				args = append(args, "--ca-cert", t.CAFile)
			}
			if j.Dir != "" {
				args = append(args, j.Dir, "bench:"+t.Bucket+"/"+j.Prefix)
			} else if len(j.Files) == 1 {
				args = append(args, j.Files[0], "bench:"+t.Bucket+"/"+j.Prefix)
			} else {
				return nil, fmt.Errorf("rclone copy takes one source: give the job a folder")
			}
			cmd := exec.Command(c.Bin, args...)
			cmd.Env = append(baseEnv(home),
				"RCLONE_CONFIG="+filepath.Join(home, "rclone.conf"),
				"RCLONE_CONFIG_BENCH_TYPE=s3", "RCLONE_CONFIG_BENCH_PROVIDER=Minio",
				"RCLONE_CONFIG_BENCH_ACCESS_KEY_ID="+t.AccessKey,
				"RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY="+t.SecretKey,
				"RCLONE_CONFIG_BENCH_ENDPOINT="+t.Endpoint,
				"RCLONE_CONFIG_BENCH_REGION="+t.Region,
				// rclone's SDK cannot apply AWS_CA_BUNDLE to rclone's own
				// transport ("unsupported transport"); it takes --ca-cert.
				"AWS_CA_BUNDLE=")
			return cmd, nil
		}}
}

// NewAWS is aws-cli's `aws s3 cp`; its transfer settings live in the
// config file, which the run writes into its own home.
func NewAWS(bin string, tune Tuning) *Client {
	return &Client{Name: variant("aws-cli", tune), Tool: "aws", Bin: bin, Tuning: tune,
		Command: func(c *Client, t Target, j Job, home string) (*exec.Cmd, error) {
			conf := "[default]\nregion = " + t.Region + "\n"
			if !c.Tuning.zero() {
				conf += "s3 =\n"
				if c.Tuning.Concurrency > 0 {
					conf += fmt.Sprintf("  max_concurrent_requests = %d\n", c.Tuning.Concurrency)
				}
				if c.Tuning.PartSize > 0 {
					conf += fmt.Sprintf("  multipart_chunksize = %d\n", c.Tuning.PartSize)
				}
			}
			confPath := filepath.Join(home, ".aws", "config")
			if err := os.MkdirAll(filepath.Dir(confPath), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
				return nil, err
			}
			args := []string{"--endpoint-url", t.Endpoint}
			if t.CAFile != "" {
				args = append(args, "--ca-bundle", t.CAFile)
			}
			args = append(args, "s3", "cp", "--only-show-errors")
			if j.Dir != "" {
				args = append(args, "--recursive", j.Dir, "s3://"+t.Bucket+"/"+j.Prefix+"/")
			} else if len(j.Files) == 1 {
				args = append(args, j.Files[0], "s3://"+t.Bucket+"/"+j.Prefix+"/")
			} else {
				return nil, fmt.Errorf("aws s3 cp takes one source: give the job a folder")
			}
			cmd := exec.Command(c.Bin, args...)
			cmd.Env = append(baseEnv(home), awsEnv(t)...)
			cmd.Env = append(cmd.Env, "AWS_CONFIG_FILE="+confPath,
				"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, ".aws", "credentials"))
			return cmd, nil
		}}
}

// NewVidup is `vidup upload` the way a user runs it, against a running
// `vidup serve` whose address and token are in env. recursive says the
// binary takes a folder with -r; without it every file is an argument.
func NewVidup(bin string, env []string, recursive bool) *Client {
	return &Client{Name: "vidup", Tool: "vidup", Bin: bin, Env: env,
		Command: func(c *Client, t Target, j Job, home string) (*exec.Cmd, error) {
			args := []string{"upload", "--progress", "none", "--output", "json"}
			if j.Dir != "" && j.Package {
				args = append(args, "--package", j.Dir)
			} else if j.Dir != "" && recursive {
				args = append(args, "-r", j.Dir)
			} else if j.Dir != "" {
				entries, err := os.ReadDir(j.Dir)
				if err != nil {
					return nil, err
				}
				for _, e := range entries {
					args = append(args, filepath.Join(j.Dir, e.Name()))
				}
			} else {
				args = append(args, j.Files...)
			}
			cmd := exec.Command(c.Bin, args...)
			cmd.Env = append(baseEnv(home), c.Env...)
			// A fresh state folder: a journal from an earlier run would
			// make vidup skip the upload as already done.
			cmd.Env = append(cmd.Env, "VIDUP_STATE_DIR="+filepath.Join(home, "state"))
			if t.CABundle != "" {
				cmd.Env = append(cmd.Env, "AWS_CA_BUNDLE="+t.CABundle)
			}
			return cmd, nil
		}}
}

func variant(name string, t Tuning) string {
	if t.zero() {
		return name + " (defaults)"
	}
	return name + " (matched)"
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// ParseSize reads sizes as vidup and the peers print them: 16MiB, 8 MB,
// 5242880.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') && s[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(s[:i]), strings.ToLower(strings.TrimSpace(s[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 16MiB)", s)
	}
	mult := map[string]float64{"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q has an unknown unit %q (use B, KiB, MiB, GiB)", s, unit)
	}
	return int64(f * mult), nil
}
