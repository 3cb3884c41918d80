// Command benchapi is the API load test of `make bench` (scripts/bench.sh
// runs it after cmd/benchrun): registrations per second of vidup serve on
// SQLite, on PostgreSQL with one instance, and on PostgreSQL with two
// instances behind the clients (alternating). Every registration is the
// real one: HEAD, the sealing copy, HEAD, the row and its webhook job in
// one transaction, the delete of the upload; a local receiver takes the
// webhooks.
//
// It needs a running MinIO and PostgreSQL (the VIDUP_TEST_S3_* and
// VIDUP_TEST_POSTGRES_URL variables of scripts/minio.sh and
// scripts/postgres.sh) and a vidup binary (-vidup). BENCH_API_VIDEOS (2000)
// and BENCH_API_CLIENTS (32) size the load.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/vidup/vidup/internal/contract"
)

const (
	token  = "benchapi-token-0123456789"
	secret = "benchapi-webhook-secret-0123456789"
	size   = 64
)

func main() {
	vidup := flag.String("vidup", "bin/vidup", "the vidup binary to serve with")
	out := flag.String("out", "", "also write the table to this file")
	flag.Parse()
	if err := run(*vidup, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchapi:", err)
		os.Exit(1)
	}
}

type target struct{ endpoint, access, secretKey, region string }

type result struct {
	name      string
	instances int
	videos    int
	elapsed   time.Duration
	p50, p99  time.Duration
	errors    int
}

func run(vidup, out string) error {
	s3t := target{os.Getenv("VIDUP_TEST_S3_ENDPOINT"), os.Getenv("VIDUP_TEST_S3_ACCESS_KEY"), os.Getenv("VIDUP_TEST_S3_SECRET_KEY"), os.Getenv("VIDUP_TEST_S3_REGION")}
	pg := os.Getenv("VIDUP_TEST_POSTGRES_URL")
	if s3t.endpoint == "" || pg == "" {
		return errors.New("no MinIO or PostgreSQL: eval the output of scripts/minio.sh start and scripts/postgres.sh start first")
	}
	if s3t.region == "" {
		s3t.region = "us-east-1"
	}
	videos, err := envInt("BENCH_API_VIDEOS", 2000)
	if err != nil {
		return err
	}
	clients, err := envInt("BENCH_API_CLIENTS", 32)
	if err != nil {
		return err
	}
	// The webhooks' receiver: takes everything.
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	work, err := os.MkdirTemp("", "benchapi-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	load0 := loadAverage()
	var results []result
	for _, c := range []struct {
		name      string
		instances int
	}{{"SQLite", 1}, {"PostgreSQL", 1}, {"PostgreSQL", 2}} {
		db := filepath.Join(work, fmt.Sprintf("vidup-%d.db", len(results)))
		if c.name == "PostgreSQL" {
			if db, err = freshDatabase(pg); err != nil {
				return err
			}
		}
		bucket := fmt.Sprintf("benchapi-%d-%d", time.Now().Unix(), len(results))
		if err := createBucket(s3t, bucket); err != nil {
			return err
		}
		var urls []string
		var procs []*exec.Cmd
		for range c.instances {
			cmd, u, err := serve(vidup, s3t, bucket, db, rcv.URL)
			if err != nil {
				return err
			}
			procs = append(procs, cmd)
			urls = append(urls, u)
		}
		fmt.Fprintf(os.Stderr, "benchapi: %s, %d instance(s): %d registrations by %d clients\n", c.name, c.instances, videos, clients)
		r, err := load(s3t, bucket, urls, videos, clients)
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
			p.Wait()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		r.name, r.instances = c.name, c.instances
		results = append(results, r)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "Registrations per second of vidup serve (%d videos of %d bytes, %d clients, webhook job in each registration's transaction; %d CPUs, load average %s before and %s after, %s)\n\n",
		videos, size, clients, runtime.NumCPU(), load0, loadAverage(), time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintln(&table, "| database | instances | registrations/s | p50 | p99 | errors |")
	fmt.Fprintln(&table, "| --- | --- | --- | --- | --- | --- |")
	for _, r := range results {
		fmt.Fprintf(&table, "| %s | %d | %.0f | %s | %s | %d |\n", r.name, r.instances, float64(r.videos)/r.elapsed.Seconds(),
			r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.errors)
	}
	fmt.Print(table.String())
	if out != "" {
		return os.WriteFile(out, []byte(table.String()), 0o644)
	}
	return nil
}

// load opens sessions of 100 files, uploads every object, then measures
// the registrations alone: clients goroutines, each on urls[i%len(urls)].
func load(t target, bucket string, urls []string, videos, clients int) (result, error) {
	type item struct {
		api string
		req contract.VideoRequest
	}
	var items []item
	for s := 0; len(items) < videos; s++ {
		api := urls[s%len(urls)]
		n := min(contract.MaxFilesPerSession, videos-len(items))
		var sr contract.SessionRequest
		for i := range n {
			sr.Files = append(sr.Files, contract.FileRequest{Name: fmt.Sprintf("s%d-f%d.bin", s, i), Size: size})
		}
		var sess contract.Session
		if code, err := call(api, "POST", contract.PathUploads, nil, sr, &sess); err != nil || code != http.StatusCreated {
			return result{}, fmt.Errorf("open a session: %d %v", code, err)
		}
		c := s3.New(s3.Options{Region: sess.Region, BaseEndpoint: aws.String(sess.Endpoint), UsePathStyle: sess.PathStyle,
			Credentials: credentials.NewStaticCredentialsProvider(sess.Credentials.AccessKeyID, sess.Credentials.SecretAccessKey, sess.Credentials.SessionToken)})
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i, up := range sess.Uploads {
			data := bytes.Repeat([]byte(fmt.Sprintf("%s|", up.UploadID)), 2)[:size]
			b := binary.BigEndian.AppendUint64(nil, crc64.Checksum(data, crc64nvme))
			items = append(items, item{api, contract.VideoRequest{UploadID: up.UploadID, SessionID: sess.SessionID, Bucket: bucket, Key: up.Key,
				Filename: sr.Files[i].Name, Size: size,
				Checksum: &contract.Checksum{Algorithm: "CRC64NVME", Type: "FULL_OBJECT", Value: base64.StdEncoding.EncodeToString(b)}}})
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(up.Key),
					Body: bytes.NewReader(data), ChecksumCRC64NVME: aws.String(base64.StdEncoding.EncodeToString(b))})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			return result{}, fmt.Errorf("upload: %w", errs[0])
		}
	}
	next := make(chan item)
	var mu sync.Mutex
	var lat []time.Duration
	failed := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				t0 := time.Now()
				code, err := call(it.api, "POST", contract.PathVideos, map[string]string{contract.IdempotencyKeyHeader: it.req.UploadID}, it.req, nil)
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				if err != nil || code != http.StatusCreated {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return result{videos: len(items), elapsed: elapsed, p50: lat[len(lat)/2], p99: lat[len(lat)*99/100], errors: failed}, nil
}

var crc64nvme = crc64.MakeTable(0x9a6c9329ac4bc9b5)

var httpClient = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

func call(api, method, path string, header map[string]string, body, out any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(method, api+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		return resp.StatusCode, json.Unmarshal(data, out)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode, nil
}

var listenAddr = regexp.MustCompile(`msg="vidup serve listening" addr=(\S+)`)

// serve starts one vidup serve and returns its URL once it listens.
func serve(vidup string, t target, bucket, db, webhook string) (*exec.Cmd, string, error) {
	cmd := exec.Command(vidup, "serve", "--listen", "127.0.0.1:0", "--db", db, "--s3-endpoint", t.endpoint, "--path-style",
		"--bucket", bucket, "--region", t.region, "--session-rate", "0", "--webhook-url", webhook)
	cmd.Env = append(os.Environ(), "VIDUP_SERVER_TOKENS="+token, "VIDUP_WEBHOOK_SECRET="+secret,
		"AWS_ACCESS_KEY_ID="+t.access, "AWS_SECRET_ACCESS_KEY="+t.secretKey)
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			if m := listenAddr.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			} else if strings.Contains(sc.Text(), "level=ERROR") {
				fmt.Fprintln(os.Stderr, "vidup serve:", sc.Text())
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, "http://" + a, nil
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		return nil, "", fmt.Errorf("vidup serve did not listen within a minute")
	}
}

func createBucket(t target, bucket string) error {
	c := s3.New(s3.Options{Region: t.region, BaseEndpoint: aws.String(t.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(t.access, t.secretKey, "")})
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	return err
}

// freshDatabase creates a database of its own on the server of base.
func freshDatabase(base string) (string, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("benchapi_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// loadAverage is the machine's 1-minute load average: the bench shares the
// machine, and a busy one moves every figure.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: give a positive number", name, v)
	}
	return n, nil
}
