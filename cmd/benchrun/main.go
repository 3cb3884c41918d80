//go:build linux

// Command benchrun is the driver of `make bench` (scripts/bench.sh installs
// the tools and runs it): vidup and every available peer upload the same
// files to a local MinIO, in turns, and it prints a Markdown table of
// medians and of vidup/peer ratios.
//
// Settings come from the environment: BENCH_RUNS (3), BENCH_SIZE_SCALE (1;
// e.g. 0.05 shrinks every file for a quick try), BENCH_LARGE=1 (adds 8 GiB
// and 16 GiB), BENCH_SCENARIOS (http,https,many,package,latency,memory),
// BENCH_CLIENTS (vidup,mc,s5cmd,rclone,aws), BENCH_MATCH_CONCURRENCY and
// BENCH_MATCH_PART_SIZE (override what `vidup config show` says).
//
// It runs on Linux only: it reads the server's CPU time in /proc and peak
// RSS from wait4's rusage, in Linux's units.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vidup/vidup/internal/bench"
)

const (
	kib = int64(1) << 10
	mib = int64(1) << 20
	gib = int64(1) << 30
)

type settings struct {
	root      string
	runs      int
	scale     float64
	large     bool
	scenarios map[string]bool
	clients   map[string]bool
	bins      map[string]string
	out       string
	// baseline is an earlier vidup binary (BENCH_BASELINE) run beside
	// this one as the peer "vidup-before".
	baseline string
	// noProbe adds vidup with VIDUP_NO_PROBE=true (BENCH_NO_PROBE=1) as
	// the peer "vidup-no-probe".
	noProbe bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	s := settings{bins: map[string]string{}}
	flag.StringVar(&s.root, "root", ".", "the repository's root")
	for _, t := range []string{"vidup", "mc", "s5cmd", "rclone", "aws"} {
		s.bins[t] = ""
		flag.Func(t, "path of the "+t+" binary", func(v string) error { s.bins[t] = v; return nil })
	}
	flag.Func("benchexec", "path of the benchexec wrapper (measures each client's own peak RSS)", func(v string) error { s.bins["benchexec"] = v; return nil })
	flag.StringVar(&s.out, "out", "", "write the Markdown report here too (default .tools/bench-results/latest.md)")
	flag.Parse()
	var err error
	if s.root, err = filepath.Abs(s.root); err != nil {
		return err
	}
	if s.out == "" {
		s.out = filepath.Join(s.root, ".tools", "bench-results", "latest.md")
	}
	if s.runs, err = envInt("BENCH_RUNS", 3); err != nil {
		return err
	}
	if s.runs < 1 {
		return errors.New("BENCH_RUNS must be at least 1")
	}
	s.scale = 1
	if v := os.Getenv("BENCH_SIZE_SCALE"); v != "" {
		if s.scale, err = strconv.ParseFloat(v, 64); err != nil || s.scale <= 0 {
			return fmt.Errorf("BENCH_SIZE_SCALE=%q is not a positive number (e.g. 0.05)", v)
		}
	}
	s.large = os.Getenv("BENCH_LARGE") == "1"
	s.scenarios = envSet("BENCH_SCENARIOS", "http,https,many,package,latency,memory")
	s.clients = envSet("BENCH_CLIENTS", "vidup,mc,s5cmd,rclone,aws")
	s.baseline = os.Getenv("BENCH_BASELINE")
	s.noProbe = os.Getenv("BENCH_NO_PROBE") == "1"

	// Each client run's standard error goes to logs/ beside the report
	// (see once); a new bench starts with none of the last one's.
	if err := os.RemoveAll(filepath.Join(filepath.Dir(s.out), "logs")); err != nil {
		return err
	}
	b := &bencher{s: s, data: filepath.Join(s.root, ".tools", "bench-data")}
	defer b.cleanup()
	report, err := b.all(ctx)
	if err != nil {
		return err
	}
	fmt.Print(report)
	if err := os.MkdirAll(filepath.Dir(s.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(s.out, []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchrun: report written to %s\n", s.out)
	return ctx.Err()
}

type bencher struct {
	s        settings
	data     string
	tune     bench.Tuning
	tuneFrom string
	cleanups []func()
	sc       map[string][]*bench.Scenario
	// minioDir is the data folder of the MinIO in use.
	minioDir string
	// servers are the pids of the servers the clients use (vidup serve),
	// besides MinIO: each run starts when they are idle.
	servers []int
}

func (b *bencher) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	b.cleanups = nil
	b.servers = nil
}

func (b *bencher) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchrun: "+format+"\n", args...)
}

func (b *bencher) size(n int64) int64 {
	v := int64(float64(n) * b.s.scale)
	return max(v, 1)
}

// all runs every selected scenario and returns the report.
func (b *bencher) all(ctx context.Context) (string, error) {
	b.sc = map[string][]*bench.Scenario{}
	b.matchTuning()

	httpNeeded := b.s.scenarios["http"] || b.s.scenarios["many"] || b.s.scenarios["package"] || b.s.scenarios["latency"] || b.s.scenarios["memory"]
	if httpNeeded {
		if err := b.phase(ctx, false); err != nil {
			return "", err
		}
	}
	if b.s.scenarios["https"] && ctx.Err() == nil {
		if err := b.phase(ctx, true); err != nil {
			return "", err
		}
	}
	var w strings.Builder
	fmt.Fprintf(&w, "## Results\n\n")
	fmt.Fprintf(&w, "%s, %d runs per client (median shown, clients in turns), size scale %g.\n",
		time.Now().UTC().Format("2006-01-02"), b.s.runs, b.s.scale)
	fmt.Fprintf(&w, "Machine: %s. Matched tuning: %s.\n", machine(), b.tuneFrom)
	fmt.Fprintf(&w, "Ratios are vidup's median divided by the peer's: below 1 means vidup took less.\n\n")
	for _, v := range b.versions() {
		fmt.Fprintf(&w, "- %s\n", v)
	}
	fmt.Fprintln(&w)
	for _, id := range []string{"http", "https", "many", "package", "latency", "memory"} {
		for _, sc := range b.sc[id] {
			sc.WriteMarkdown(&w, "vidup")
		}
	}
	return w.String(), nil
}

// phase starts a MinIO (https or not) and vidup serve against it, runs the
// scenarios that need it, and stops both.
func (b *bencher) phase(ctx context.Context, https bool) error {
	defer b.cleanup()
	name := "bench-minio-http"
	if https {
		name = "bench-minio-https"
	}
	dir := filepath.Join(b.s.root, ".tools", name)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	t := bench.Target{Region: "us-east-1"}
	if https {
		cert, err := bench.WriteSelfSignedCert(filepath.Join(dir, "certs"))
		if err != nil {
			return fmt.Errorf("make the certificate for MinIO: %w", err)
		}
		t.CAFile = cert
		if t.CABundle, err = caBundle(cert, filepath.Join(dir, "ca-bundle.pem")); err != nil {
			return err
		}
	}
	pid, err := b.startMinIO(ctx, dir, &t)
	if err != nil {
		return err
	}
	b.minioDir = dir
	admin, err := adminClient(t)
	if err != nil {
		return err
	}
	clients := b.clients(ctx, t, t.Endpoint, dir)
	if https {
		b.scenario(ctx, "https", single(b.size(2*gib), "one 2 GiB file over HTTPS"), t, clients, admin, pid)
		if b.s.large {
			b.scenario(ctx, "https", single(b.size(8*gib), "one 8 GiB file over HTTPS"), t, clients, admin, pid)
		}
		return nil
	}
	if b.s.scenarios["http"] {
		b.scenario(ctx, "http", single(b.size(2*gib), "one 2 GiB file over HTTP"), t, clients, admin, pid)
		if b.s.large {
			b.scenario(ctx, "http", single(b.size(8*gib), "one 8 GiB file over HTTP"), t, clients, admin, pid)
		}
	}
	if b.s.scenarios["many"] {
		b.scenario(ctx, "many", many(500, b.size(4*mib), "500 files of 4 MiB (an HLS package)"), t, clients, admin, pid)
		b.scenario(ctx, "many", many(5000, b.size(64*kib), "5,000 files of 64 KiB"), t, clients, admin, pid)
	}
	if b.s.scenarios["package"] {
		// vidup uploads each as one package (one session, manifests
		// last, one registration); the peers copy the folder as files.
		b.scenario(ctx, "package", spec{name: "an HLS ladder made by ffmpeg (3 renditions, 2 s segments, 3 min) as one package",
			ladder: 180, pkg: true}, t, clients, admin, pid)
		b.scenario(ctx, "package", spec{name: "5,000 files of 64 KiB as one package", count: 5000, size: b.size(64 * kib), pkg: true},
			t, clients, admin, pid)
	}
	if b.s.scenarios["memory"] {
		defaults := onlyDefaults(clients)
		sizes := []int64{1 * gib, 4 * gib}
		if b.s.large {
			sizes = append(sizes, 16*gib)
		}
		for _, n := range sizes {
			b.scenario(ctx, "memory", single(b.size(n), fmt.Sprintf("memory: one %d GiB file, default settings", n/gib)),
				t, defaults, admin, pid)
		}
	}
	if b.s.scenarios["latency"] && ctx.Err() == nil {
		host := strings.TrimPrefix(t.Endpoint, "http://")
		proxy, err := bench.NewDelayProxy(host, 40*time.Millisecond, bench.DefaultWindow)
		if err != nil {
			return err
		}
		b.cleanups = append(b.cleanups, func() { proxy.Close() })
		far := t
		far.Endpoint = "http://" + proxy.Addr()
		farClients := b.clients(ctx, t, far.Endpoint, dir+"-far")
		b.scenario(ctx, "latency", single(b.size(1*gib),
			"one 1 GiB file through 40 ms of round-trip delay"), far, farClients, admin, pid)
	}
	return nil
}

type spec struct {
	name  string
	count int // 0: one file
	size  int64
	// ladder, when set, is the length in seconds of an ffmpeg-made HLS
	// ladder that is the scenario's data (count and size are unused).
	ladder int
	// pkg: the folder is one asset, uploaded by vidup with --package.
	pkg bool
}

func single(size int64, name string) spec { return spec{name: name, size: size} }

func many(count int, size int64, name string) spec { return spec{name: name, count: count, size: size} }

func onlyDefaults(cs []*bench.Client) []*bench.Client {
	var out []*bench.Client
	for _, c := range cs {
		if c.Tuning == (bench.Tuning{}) {
			out = append(out, c)
		}
	}
	return out
}

// scenario prepares the data of sp (when the disk can hold it) and runs
// every client runs times, in turns, so that a slow minute of the shared
// machine falls on all of them alike.
func (b *bencher) scenario(ctx context.Context, id string, sp spec, t bench.Target, clients []*bench.Client, admin *s3.Client, minioPID int) {
	total := sp.size * int64(max(sp.count, 1))
	if b.s.scale != 1 && sp.ladder == 0 {
		sp.name += fmt.Sprintf(" (scaled to %s per file)", humanSize(sp.size))
	}
	sc := &bench.Scenario{Name: sp.name, Bytes: total, Files: max(sp.count, 1)}
	b.sc[id] = append(b.sc[id], sc)
	if ctx.Err() != nil {
		sc.Skipped = "interrupted"
		return
	}
	job := bench.Job{Package: sp.pkg}
	if why := b.prepare(sp, total, sc, &job); why != "" {
		sc.Skipped = why
		b.logf("%s: skipped: %s", sp.name, why)
		return
	}
	// Every client reads the data from the page cache, the first one too
	// (see bench.Warm); data larger than that would not stay there.
	if sc.Bytes <= warmLimit {
		n, err := bench.Warm(append([]string{job.Dir}, job.Files...)...)
		if err != nil {
			b.logf("%s: reading the data into the page cache: %v", sp.name, err)
		} else {
			b.logf("%s: read %s into the page cache before the first run", sp.name, humanSize(n))
		}
	}
	results := make([]bench.Result, len(clients))
	for i, c := range clients {
		results[i] = bench.Result{Client: c.Name, Unavailable: c.Unavailable}
	}
	for run := range b.s.runs {
		// Each turn starts with the next client: whatever the first run
		// of a turn pays for (work a server does late for the run before)
		// falls on every client in turn, not always on vidup.
		for k := range clients {
			i := (k + run) % len(clients)
			c := clients[i]
			r := &results[i]
			if r.Unavailable != "" || r.Failed != "" || ctx.Err() != nil {
				continue
			}
			job.Prefix = fmt.Sprintf("bench/%s-%d-%s", strings.Trim(strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(c.Name), "-"), run, randomHex(4))
			logName := id + "-" + strings.TrimPrefix(job.Prefix, "bench/") + ".log"
			sample, err := b.once(ctx, c, t, job, minioPID, logName)
			if err != nil {
				r.Failed = err.Error()
				b.logf("%s: %s run %d failed: %v", sp.name, c.Name, run+1, err)
			} else {
				r.Samples = append(r.Samples, sample)
				b.logf("%s: %s run %d: %.2f s wall, %.2f s CPU, %d MiB RSS, MinIO %.2f s CPU", sp.name, c.Name, run+1,
					sample.Wall.Seconds(), sample.ClientCPU.Seconds(), sample.MaxRSS>>20, sample.ServerCPU.Seconds())
			}
			if err := emptyBucket(ctx, admin, t.Bucket); err != nil {
				b.logf("empty the bucket after %s: %v", c.Name, err)
			}
			b.purgeTrash()
			b.waitIdle(ctx, append([]int{minioPID}, b.servers...))
		}
	}
	if ctx.Err() != nil {
		for i := range results {
			if len(results[i].Samples) < b.s.runs && results[i].Unavailable == "" && results[i].Failed == "" {
				results[i].Failed = "interrupted"
			}
		}
	}
	sc.Results = results
}

// warmLimit is the most data a scenario reads into the page cache before
// its first run: a third of this machine's memory, so the 8 and 16 GiB
// files (which do not fit beside MinIO's) are read from disk by every
// client alike.
const warmLimit = 8 << 30

// prepare makes the data of sp (reusing what an earlier run made) and
// points job at it; it says why when it cannot.
func (b *bencher) prepare(sp spec, total int64, sc *bench.Scenario, job *bench.Job) string {
	switch {
	case sp.ladder > 0:
		path := filepath.Join(b.data, fmt.Sprintf("hls-ladder-%ds", sp.ladder))
		b.logf("%s: making the ladder with ffmpeg in %s (minutes the first time)", sp.name, path)
		if err := bench.EnsureHLSLadder(path, sp.ladder); err != nil {
			return err.Error()
		}
		n, files, err := dirStats(path)
		if err != nil {
			return err.Error()
		}
		sc.Bytes, sc.Files = n, files
		job.Dir = path
	case sp.count == 0:
		path := filepath.Join(b.data, fmt.Sprintf("file-%d.bin", sp.size))
		if why := b.diskShort(path, total); why != "" {
			return why
		}
		b.logf("%s: preparing data in %s", sp.name, path)
		if err := bench.EnsureFile(path, sp.size, uint64(sp.size)); err != nil {
			return "cannot write the test file: " + err.Error()
		}
		job.Files = []string{path}
	default:
		path := filepath.Join(b.data, fmt.Sprintf("set-%dx%d", sp.count, sp.size))
		if why := b.diskShort(path, total); why != "" {
			return why
		}
		b.logf("%s: preparing data in %s", sp.name, path)
		if _, err := bench.EnsureFileSet(path, sp.count, sp.size); err != nil {
			return "cannot write the test files: " + err.Error()
		}
		job.Dir = path
	}
	return ""
}

// once runs c once on job. The client's standard error is kept in
// logName under the report's folder (logs/), to be read after a run that
// took longer than its peers (retries, stalls).
func (b *bencher) once(ctx context.Context, c *bench.Client, t bench.Target, job bench.Job, minioPID int, logName string) (bench.Sample, error) {
	home, err := os.MkdirTemp("", "vidup-bench-home-")
	if err != nil {
		return bench.Sample{}, err
	}
	defer os.RemoveAll(home)
	cmd, err := c.Command(c, t, job, home)
	if err != nil {
		return bench.Sample{}, err
	}
	cmd.Stdout = io.Discard
	logs := filepath.Join(filepath.Dir(b.s.out), "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return bench.Sample{}, err
	}
	f, err := os.Create(filepath.Join(logs, logName))
	if err != nil {
		return bench.Sample{}, err
	}
	defer f.Close()
	cmd.Stderr = f
	return bench.Measure(ctx, cmd, minioPID, b.s.bins["benchexec"])
}

// diskShort says why the disk cannot hold a scenario: its data (unless
// already made), what MinIO stores of one run, and 2 GiB to spare.
func (b *bencher) diskShort(path string, total int64) string {
	need := total + total/8 + 2*gib
	if have, err := dirSize(path); err == nil {
		need -= have
	}
	var st syscall.Statfs_t
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err.Error()
	}
	if err := syscall.Statfs(dir, &st); err != nil {
		return "cannot read the free disk space: " + err.Error()
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < need {
		return fmt.Sprintf("the disk has %.1f GiB free, the scenario needs %.1f GiB", float64(free)/float64(gib), float64(need)/float64(gib))
	}
	return ""
}

// dirStats returns the bytes and the number of files under path.
func dirStats(path string) (int64, int, error) {
	var n int64
	files := 0
	err := filepath.Walk(path, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			n += fi.Size()
			files++
		}
		return nil
	})
	return n, files, err
}

func dirSize(path string) (int64, error) {
	var n int64
	err := filepath.Walk(path, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// waitIdle waits until the servers (MinIO, vidup serve) use less than 5 %
// of a core over a quarter second, twice in a row, for at most 30 s. What
// a run leaves them to do (MinIO's background work after the bucket is
// emptied, a registration's cleanup) must not be counted in the next
// client's run: the first client of each turn used to pay for it, 6 to 20 %
// more wall and MinIO CPU for the same requests.
func (b *bencher) waitIdle(ctx context.Context, pids []int) {
	const (
		step = 250 * time.Millisecond
		busy = step / 20
	)
	cpu := func() time.Duration {
		var sum time.Duration
		for _, pid := range pids {
			if pid > 0 {
				c, _ := bench.ProcessCPU(pid)
				sum += c
			}
		}
		return sum
	}
	deadline := time.Now().Add(30 * time.Second)
	quiet, last := 0, cpu()
	for quiet < 2 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(step)
		now := cpu()
		if now-last < busy {
			quiet++
		} else {
			quiet = 0
		}
		last = now
	}
}

// purgeTrash empties MinIO's trash: deleted objects wait there for a
// background sweep that does not keep up with gigabytes per run, and a full
// bench would otherwise fill the disk.
func (b *bencher) purgeTrash() {
	if b.minioDir == "" {
		return
	}
	trash := filepath.Join(b.minioDir, "data", ".minio.sys", "tmp", ".trash")
	entries, err := os.ReadDir(trash)
	if err != nil {
		return
	}
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(trash, e.Name()))
	}
}

// startMinIO starts MinIO through scripts/minio.sh on a free port, as the
// tests do, and fills t with its address and credentials.
func (b *bencher) startMinIO(ctx context.Context, dir string, t *bench.Target) (int, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(b.s.root, "scripts", "minio.sh"), "start", dir, "0")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	b.cleanups = append(b.cleanups, func() {
		stop := exec.Command(filepath.Join(b.s.root, "scripts", "minio.sh"), "stop", dir)
		stop.Stderr = os.Stderr
		if err := stop.Run(); err != nil {
			b.logf("stop MinIO in %s: %v", dir, err)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("start MinIO with scripts/minio.sh: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		switch k {
		case "VIDUP_TEST_S3_ENDPOINT":
			t.Endpoint = v
		case "VIDUP_TEST_S3_ACCESS_KEY":
			t.AccessKey = v
		case "VIDUP_TEST_S3_SECRET_KEY":
			t.SecretKey = v
		case "VIDUP_TEST_S3_BUCKET":
			t.Bucket = v
		case "VIDUP_TEST_S3_REGION":
			t.Region = v
		}
	}
	if t.Endpoint == "" || t.AccessKey == "" {
		return 0, errors.New("scripts/minio.sh start printed no endpoint or credentials")
	}
	if t.CAFile != "" {
		// minio.sh prints the scheme the server speaks; an older one
		// printed http:// always.
		t.Endpoint = "https://" + strings.TrimPrefix(strings.TrimPrefix(t.Endpoint, "http://"), "https://")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		return 0, fmt.Errorf("read MinIO's pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, fmt.Errorf("MinIO's pid file holds %q", raw)
	}
	b.logf("MinIO at %s (pid %d)", t.Endpoint, pid)
	return pid, nil
}

// clients lists every selected tool, in the order they take turns.
// s3Endpoint is the S3 address clients use (the delay proxy's, for the far
// region); vidup serve hands it out.
func (b *bencher) clients(ctx context.Context, t bench.Target, s3Endpoint, dir string) []*bench.Client {
	var cs []*bench.Client
	add := func(tool string, c *bench.Client) {
		if !b.s.clients[tool] {
			return
		}
		if c.Bin == "" {
			c.Unavailable = b.unavailable(tool)
		}
		cs = append(cs, c)
	}
	v := b.vidup(ctx, t, s3Endpoint, dir)
	add("vidup", v)
	if base := b.s.baseline; base != "" && b.s.clients["vidup"] {
		// An earlier vidup, against the same vidup serve, in the same
		// turns: its row's ratio is the change's before/after.
		help, _ := exec.Command(base, "upload", "--help").CombinedOutput()
		bc := bench.NewVidup(base, v.Env, strings.Contains(string(help), "--recursive"))
		bc.Name = "vidup-before"
		bc.Unavailable = v.Unavailable
		cs = append(cs, bc)
	}
	if b.s.noProbe && b.s.clients["vidup"] {
		// The same vidup with its media probe and gate off: the row's
		// ratio is what reading the containers costs.
		help, _ := exec.Command(v.Bin, "upload", "--help").CombinedOutput()
		np := bench.NewVidup(v.Bin, append(append([]string(nil), v.Env...), "VIDUP_NO_PROBE=true"), strings.Contains(string(help), "--recursive"))
		np.Name = "vidup-no-probe"
		np.Unavailable = v.Unavailable
		cs = append(cs, np)
	}
	for _, tune := range []bench.Tuning{{}, b.tune} {
		add("mc", bench.NewMC(b.s.bins["mc"], tune))
		add("s5cmd", bench.NewS5cmd(b.s.bins["s5cmd"], tune))
		add("rclone", bench.NewRclone(b.s.bins["rclone"], tune))
		add("aws", bench.NewAWS(b.s.bins["aws"], tune))
	}
	return cs
}

// unavailable is the reason scripts/bench.sh recorded for a tool it could
// not install.
func (b *bencher) unavailable(tool string) string {
	raw, err := os.ReadFile(filepath.Join(b.s.root, ".tools", "bench-unavailable", tool))
	if err == nil && len(strings.TrimSpace(string(raw))) > 0 {
		return strings.TrimSpace(string(raw))
	}
	return "not installed"
}

// vidup starts `vidup serve` (SQLite, a generated token, MinIO's root
// credentials) for the phase and returns the client that uploads through
// it; when serve does not start, the client says why.
func (b *bencher) vidup(ctx context.Context, t bench.Target, s3Endpoint, dir string) *bench.Client {
	bin := b.s.bins["vidup"]
	if !b.s.clients["vidup"] {
		return bench.NewVidup("", nil, false)
	}
	if bin == "" {
		return bench.NewVidup("", nil, false)
	}
	help, _ := exec.Command(bin, "upload", "--help").CombinedOutput()
	recursive := strings.Contains(string(help), "--recursive")
	port, err := freePort()
	if err != nil {
		c := bench.NewVidup(bin, nil, false)
		c.Unavailable = err.Error()
		return c
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c := bench.NewVidup(bin, nil, false)
		c.Unavailable = err.Error()
		return c
	}
	token := "bench-" + randomHex(16)
	api := "http://127.0.0.1:" + strconv.Itoa(port)
	logPath := filepath.Join(dir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		c := bench.NewVidup(bin, nil, false)
		c.Unavailable = err.Error()
		return c
	}
	serve := exec.Command(bin, "serve", "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--s3-endpoint", s3Endpoint, "--bucket", t.Bucket, "--path-style",
		"--db", filepath.Join(dir, "vidup.db"))
	serve.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+t.AccessKey, "AWS_SECRET_ACCESS_KEY="+t.SecretKey,
		"AWS_REGION="+t.Region, "VIDUP_SERVER_TOKENS="+token)
	if t.CABundle != "" {
		serve.Env = append(serve.Env, "AWS_CA_BUNDLE="+t.CABundle)
	}
	serve.Stdout, serve.Stderr = logFile, logFile
	if err := serve.Start(); err != nil {
		logFile.Close()
		c := bench.NewVidup(bin, nil, false)
		c.Unavailable = "vidup serve: " + err.Error()
		return c
	}
	b.servers = append(b.servers, serve.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait(); logFile.Close() }()
	b.cleanups = append(b.cleanups, func() {
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			serve.Process.Kill()
			<-exited
		}
	})
	c := bench.NewVidup(bin, []string{"VIDUP_API_URL=" + api, "VIDUP_API_TOKEN=" + token}, recursive)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			c.Unavailable = "vidup serve exited: " + lastLine(logPath)
			return c
		default:
		}
		if resp, err := http.Get(api + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.Unavailable = "vidup serve did not answer /healthz within 15 s: " + lastLine(logPath)
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// matchTuning takes vidup's default concurrency and part size from `vidup
// config show`, so peers can be run with the same.
func (b *bencher) matchTuning() {
	var conc, part string
	if bin := b.s.bins["vidup"]; bin != "" {
		home, _ := os.MkdirTemp("", "vidup-bench-config-")
		defer os.RemoveAll(home)
		cmd := exec.Command(bin, "config", "show")
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
		if out, err := cmd.Output(); err == nil {
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) >= 3 && f[0] == "upload:" && f[1] == "concurrency" {
					conc = f[2]
				}
				if len(f) >= 3 && f[0] == "upload:" && f[1] == "part-size" {
					part = f[2]
				}
			}
		}
	}
	from := "vidup config show"
	if v := os.Getenv("BENCH_MATCH_CONCURRENCY"); v != "" {
		conc, from = v, "BENCH_MATCH_*"
	}
	if v := os.Getenv("BENCH_MATCH_PART_SIZE"); v != "" {
		part, from = v, "BENCH_MATCH_*"
	}
	note := ""
	if strings.EqualFold(part, "auto") {
		// vidup's automatic part size is 16 MiB until a file would need
		// more than 10,000 parts (160 GiB), which no scenario reaches.
		part, note = "16MiB", ", auto = 16 MiB"
	}
	n, err1 := strconv.Atoi(conc)
	p, err2 := bench.ParseSize(part)
	if err1 != nil || err2 != nil || n <= 0 || p <= 0 {
		n, p = 8, 16*mib
		from = fmt.Sprintf("vidup reported none (%q, %q); 8 and 16 MiB used instead", conc, part)
	}
	from += note
	b.tune = bench.Tuning{Concurrency: n, PartSize: p}
	b.tuneFrom = fmt.Sprintf("concurrency %d, part size %d MiB (from %s)", n, p>>20, from)
}

func (b *bencher) versions() []string {
	var out []string
	for _, tool := range []string{"vidup", "mc", "s5cmd", "rclone", "aws"} {
		bin := b.s.bins[tool]
		if bin == "" || !b.s.clients[tool] {
			continue
		}
		arg := "--version"
		if tool == "s5cmd" {
			arg = "version"
		}
		out1, _ := exec.Command(bin, arg).CombinedOutput()
		first, _, _ := strings.Cut(strings.TrimSpace(string(out1)), "\n")
		if pin, err := os.ReadFile(filepath.Join(b.s.root, ".tools", tool+".version")); err == nil {
			first = strings.TrimSpace(string(pin)) + " (" + first + ")"
		}
		out = append(out, fmt.Sprintf("%s: %s", tool, first))
	}
	return out
}

func machine() string {
	mem := ""
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					mem = fmt.Sprintf(", %.0f GiB memory", float64(kb*kib)/float64(gib))
				}
			}
		}
	}
	return fmt.Sprintf("%d cores%s, %s %s/%s", runtime.NumCPU(), mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func adminClient(t bench.Target) (*s3.Client, error) {
	hc := awshttp.NewBuildableClient()
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		hc = hc.WithTransportOptions(func(tr *http.Transport) {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.RootCAs = pool
		})
	}
	return s3.New(s3.Options{
		Region:       t.Region,
		BaseEndpoint: aws.String(t.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(t.AccessKey, t.SecretKey, ""),
		HTTPClient:   hc,
	}), nil
}

// emptyBucket removes every object and unfinished upload, so that the disk
// holds one run's upload at a time.
func emptyBucket(ctx context.Context, c *s3.Client, bucket string) error {
	ctx = context.WithoutCancel(ctx)
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		for len(ids) > 0 {
			n := min(len(ids), 1000)
			if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket),
				Delete: &types.Delete{Objects: ids[:n], Quiet: aws.Bool(true)}}); err != nil {
				return err
			}
			ids = ids[n:]
		}
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		return err
	}
	for _, u := range ups.Uploads {
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket),
			Key: u.Key, UploadId: u.UploadId}); err != nil {
			return err
		}
	}
	return nil
}

// caBundle writes the machine's AWS_CA_BUNDLE (if any) followed by cert,
// so clients given it trust both the bench MinIO and what they trusted
// before.
func caBundle(cert, path string) (string, error) {
	var pem []byte
	if machine := os.Getenv("AWS_CA_BUNDLE"); machine != "" {
		if b, err := os.ReadFile(machine); err == nil {
			pem = append(b, '\n')
		}
	}
	b, err := os.ReadFile(cert)
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append(pem, b...), 0o644)
}

func humanSize(n int64) string {
	switch {
	case n >= gib:
		return fmt.Sprintf("%.1f GiB", float64(n)/float64(gib))
	case n >= mib:
		return fmt.Sprintf("%.1f MiB", float64(n)/float64(mib))
	default:
		return fmt.Sprintf("%.1f KiB", float64(n)/float64(kib))
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func lastLine(path string) string {
	raw, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return "no output"
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a whole number", name, v)
	}
	return n, nil
}

func envSet(name, def string) map[string]bool {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	set := map[string]bool{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			set[s] = true
		}
	}
	return set
}
