// Package encoder is the reference encoding step (the seed's part 2): a
// webhook receiver that closes the loop of an upload. For every
// video.registered webhook of vidup serve it verifies the Standard Webhooks
// signature, sets the video `processing`, reads the sealed object from S3,
// makes an HLS rendition with ffmpeg, writes it under renditions/<video id>/
// in the same bucket, and sets the video `ready`, or `failed` with the
// reason (contract v1.1 section 5).
//
// It reads S3 with the company's own credentials (the standard AWS chain),
// as vidup serve does: the API hands out credentials only to uploaders, for
// their unregistered keys, and the pipeline role reads registered videos
// through the API and their objects with its own access (docs/api.md). The
// API token of the pipeline role sets the statuses.
//
// Delivery is at least once: a webhook id or a video already taken is
// acknowledged and not encoded twice, and a video left `registered` or
// `processing` by an encoder that stopped is taken up again by the catch-up
// pass when it starts.
package encoder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/jobs"
)

// Defaults of Config.
const (
	DefaultPrefix    = "renditions/"
	DefaultTolerance = 5 * time.Minute
	DefaultWorkers   = 2
	DefaultMaxHeight = 720
	maxWebhookBody   = 1 << 20
	queueLength      = 10000
)

// Config is everything an Encoder needs.
type Config struct {
	// APIURL is the API's base URL; Token a token of the pipeline role.
	APIURL string
	Token  string
	// Key verifies the webhooks (jobs.ParseSecret of the shared secret).
	Key []byte
	// S3 reads the videos and writes the renditions, with the company's
	// own credentials.
	S3 *s3.Client
	// Prefix is where renditions go: Prefix + video id + "/index.m3u8".
	Prefix string
	// FFmpeg is the ffmpeg command; "" is ffmpeg on PATH.
	FFmpeg string
	// MaxHeight bounds the rendition's lines; 0: DefaultMaxHeight.
	MaxHeight int
	// Tolerance is how far a webhook's timestamp may be from the clock.
	Tolerance time.Duration
	Workers   int
	// RetryWait is the first wait before an API call is tried again
	// (doubling, 7 attempts); 0: half a second.
	RetryWait time.Duration
	Client    *http.Client
	Logger    *slog.Logger
	Now       func() time.Time
	// Encode, when set, replaces the work done for one video (tests).
	Encode func(ctx context.Context, v contract.Video) error
}

// Encoder receives webhooks and encodes their videos, Workers at a time.
type Encoder struct {
	cfg   Config
	log   *slog.Logger
	queue chan contract.Video

	mu    sync.Mutex
	taken map[string]bool // video ids queued, in work or done by this process
	seen  map[string]bool // webhook ids acknowledged
	wg    sync.WaitGroup
}

// New checks cfg.
func New(cfg Config) (*Encoder, error) {
	switch {
	case cfg.APIURL == "":
		return nil, errors.New("encoder: no API URL")
	case cfg.Token == "":
		return nil, errors.New("encoder: no API token of the pipeline role")
	case len(cfg.Key) == 0:
		return nil, errors.New("encoder: no webhook signing key")
	case cfg.S3 == nil && cfg.Encode == nil:
		return nil, errors.New("encoder: no S3 client")
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.MaxHeight <= 0 {
		cfg.MaxHeight = DefaultMaxHeight
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = 500 * time.Millisecond
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: time.Minute,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Encoder{cfg: cfg, log: cfg.Logger, queue: make(chan contract.Video, queueLength),
		taken: map[string]bool{}, seen: map[string]bool{}}
	if e.cfg.Encode == nil {
		e.cfg.Encode = e.encode
	}
	return e, nil
}

// Run works the queue until ctx ends, then waits for the videos in work
// (their ffmpeg is stopped; they stay `processing` and the next start's
// catch-up takes them again).
func (e *Encoder) Run(ctx context.Context) {
	for range e.cfg.Workers {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case v := <-e.queue:
					e.process(ctx, v)
				}
			}
		}()
	}
	<-ctx.Done()
	e.wg.Wait()
}

// ServeHTTP is the webhook endpoint: 401 for a webhook whose signature or
// timestamp does not verify, 202 once a video.registered event is queued
// (or was already), 204 for other events, 503 when the queue is full (the
// server retries later).
func (e *Encoder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST webhooks here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		http.Error(w, "the body could not be read", http.StatusBadRequest)
		return
	}
	// The signature is checked over the raw bytes, before anything is
	// parsed: an unsigned or replayed message changes nothing.
	if err := jobs.Verify(e.cfg.Key, r.Header, body, e.cfg.Now(), e.cfg.Tolerance); err != nil {
		e.log.Warn("webhook refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	id := r.Header.Get(jobs.HeaderID)
	var ev contract.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Data.ID == "" {
		e.log.Error("webhook signed but not an event", "webhook_id", id, "err", err)
		http.Error(w, "the body is not a vidup event", http.StatusBadRequest)
		return
	}
	if ev.Type != contract.EventVideoRegistered {
		// Status changes (this encoder's own among them) need no work.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	switch e.enqueue(id, ev.Data) {
	case errQueueFull:
		http.Error(w, "the encoder's queue is full; retry later", http.StatusServiceUnavailable)
		return
	case errSeen:
		e.log.Info("webhook seen before", "webhook_id", id, "video_id", ev.Data.ID)
	default:
		e.log.Info("video queued", "webhook_id", id, "video_id", ev.Data.ID, "key", ev.Data.Key)
	}
	w.WriteHeader(http.StatusAccepted)
}

var (
	errSeen      = errors.New("seen")
	errQueueFull = errors.New("queue full")
)

// enqueue takes a video once per process, whatever the webhook id.
func (e *Encoder) enqueue(webhookID string, v contract.Video) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if (webhookID != "" && e.seen[webhookID]) || e.taken[v.ID] {
		return errSeen
	}
	select {
	case e.queue <- v:
	default:
		return errQueueFull
	}
	if webhookID != "" {
		e.seen[webhookID] = true
	}
	e.taken[v.ID] = true
	return nil
}

// CatchUp queues every video still `registered` or `processing`: those
// whose webhook came while no encoder ran, or whose encoding stopped with
// the encoder.
func (e *Encoder) CatchUp(ctx context.Context) (int, error) {
	n, cursor := 0, ""
	for {
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var list contract.VideoList
		if err := e.call(ctx, http.MethodGet, contract.PathVideos+"?"+q.Encode(), nil, &list); err != nil {
			return n, err
		}
		for _, v := range list.Videos {
			if v.Status == contract.StatusRegistered || v.Status == contract.StatusProcessing {
				if e.enqueue("", v) == nil {
					n++
				}
			}
		}
		if cursor = list.NextCursor; cursor == "" {
			return n, nil
		}
	}
}

// process moves one video through processing to ready or failed.
func (e *Encoder) process(ctx context.Context, v contract.Video) {
	log := e.log.With("video_id", v.ID)
	cur, err := e.video(ctx, v.ID)
	if err != nil {
		log.Error("reading the video from the API failed; it is left for the next catch-up", "err", err)
		return
	}
	if cur.Status == contract.StatusReady || cur.Status == contract.StatusFailed {
		log.Info("video done already", "status", cur.Status)
		return
	}
	if err := e.setStatus(ctx, v.ID, contract.StatusProcessing, ""); err != nil {
		log.Error("setting the video processing failed; it is left for the next catch-up", "err", err)
		return
	}
	start := time.Now()
	encErr := e.cfg.Encode(ctx, cur)
	if ctx.Err() != nil {
		log.Warn("stopped while encoding; the video stays processing for the next start", "err", encErr)
		return
	}
	status, reason := contract.StatusReady, ""
	if encErr != nil {
		status, reason = contract.StatusFailed, encErr.Error()
	}
	if err := e.setStatus(ctx, v.ID, status, reason); err != nil {
		log.Error("setting the video's final status failed; it is left for the next catch-up", "status", status, "err", err)
		return
	}
	if encErr != nil {
		log.Warn("video failed", "err", encErr, "duration", time.Since(start).Round(time.Millisecond))
		return
	}
	log.Info("video ready", "rendition", e.cfg.Prefix+v.ID+"/index.m3u8", "duration", time.Since(start).Round(time.Millisecond))
}

// encode reads the video from S3, makes its HLS rendition and writes it.
func (e *Encoder) encode(ctx context.Context, v contract.Video) error {
	dir, err := os.MkdirTemp("", "vidup-encoder-")
	if err != nil {
		return fmt.Errorf("the encoder has no scratch folder: %w", err)
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "source")
	if err := e.download(ctx, v.Bucket, v.Key, in); err != nil {
		return err
	}
	out := filepath.Join(dir, "hls")
	if err := os.Mkdir(out, 0o755); err != nil {
		return err
	}
	if err := e.ffmpeg(ctx, in, out); err != nil {
		return err
	}
	return e.uploadDir(ctx, v.Bucket, e.cfg.Prefix+v.ID+"/", out)
}

func (e *Encoder) download(ctx context.Context, bucket, key, path string) error {
	obj, err := e.cfg.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, obj.Body); err != nil {
		f.Close()
		return fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	return f.Close()
}

// ffmpeg makes one H.264/AAC rendition of at most MaxHeight lines, in 4 s
// segments. The first video stream is required: a file without one fails.
func (e *Encoder) ffmpeg(ctx context.Context, in, out string) error {
	cmd := exec.CommandContext(ctx, e.cfg.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-i", in, "-map", "0:v:0", "-map", "0:a:0?",
		"-vf", fmt.Sprintf("scale=-2:'trunc(min(%d,ih)/2)*2'", e.cfg.MaxHeight), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k",
		"-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod",
		"-hls_segment_filename", filepath.Join(out, "seg-%05d.ts"), filepath.Join(out, "index.m3u8"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		// The scratch path in ffmpeg's line means nothing to the reader.
		return fmt.Errorf("ffmpeg could not encode the video: %s", strings.ReplaceAll(lastLine(stderr.String(), err), in+": ", ""))
	}
	return nil
}

// lastLine is ffmpeg's last line of complaint, which names the problem.
func lastLine(s string, err error) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		if len(l) > 300 {
			l = l[:300]
		}
		return l
	}
	return err.Error()
}

// uploadDir writes the playlist last, so that a reader that finds it finds
// every segment.
func (e *Encoder) uploadDir(ctx context.Context, bucket, prefix, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool {
		return !strings.HasSuffix(entries[i].Name(), ".m3u8") && strings.HasSuffix(entries[j].Name(), ".m3u8")
	})
	for _, de := range entries {
		f, err := os.Open(filepath.Join(dir, de.Name()))
		if err != nil {
			return err
		}
		ct := "video/mp2t"
		if strings.HasSuffix(de.Name(), ".m3u8") {
			ct = "application/vnd.apple.mpegurl"
		}
		_, err = e.cfg.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + de.Name()),
			Body: f, ContentType: aws.String(ct)})
		f.Close()
		if err != nil {
			return fmt.Errorf("write s3://%s/%s: %w", bucket, prefix+de.Name(), err)
		}
	}
	return nil
}

func (e *Encoder) video(ctx context.Context, id string) (contract.Video, error) {
	var v contract.Video
	err := e.retry(ctx, func() error {
		return e.call(ctx, http.MethodGet, contract.PathVideos+"/"+url.PathEscape(id), nil, &v)
	})
	return v, err
}

// setStatus sets a video's status; a 409 (the video moved on already) is
// not an error.
func (e *Encoder) setStatus(ctx context.Context, id, status, reason string) error {
	err := e.retry(ctx, func() error {
		return e.call(ctx, http.MethodPost, contract.StatusPath(url.PathEscape(id)), contract.StatusRequest{Status: status, Error: reason}, nil)
	})
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusConflict {
		return nil
	}
	return err
}

// retry calls f until it succeeds, the API answers an error that is not
// transient (4xx but 408 and 429), or about a minute has passed.
func (e *Encoder) retry(ctx context.Context, f func() error) error {
	wait := e.cfg.RetryWait
	for attempt := 1; ; attempt++ {
		err := f()
		var ae *apiError
		if err == nil || errors.As(err, &ae) && ae.status < 500 && ae.status != http.StatusRequestTimeout && ae.status != http.StatusTooManyRequests || attempt == 7 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// apiError is an answer of the API outside 2xx.
type apiError struct {
	status    int
	msg       string
	requestID string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("the API answered %d: %s (request id %s)", e.status, e.msg, e.requestID)
}

func (e *Encoder) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.cfg.APIURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.cfg.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var ae contract.Error
		if json.Unmarshal(data, &ae) != nil || ae.Error == "" {
			ae.Error = strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return &apiError{status: resp.StatusCode, msg: ae.Error, requestID: resp.Header.Get(contract.RequestIDHeader)}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
