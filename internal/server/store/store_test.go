package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/server/store/storetest"
)

// eachBackend runs test against SQLite and PostgreSQL. open returns a new
// instance on the test's one database each time it is called: two calls
// are two API instances sharing it.
func eachBackend(t *testing.T, test func(t *testing.T, open func() Store)) {
	t.Run("sqlite", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "vidup.db")
		test(t, func() Store {
			s, err := OpenSQLite(context.Background(), file)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := storetest.PostgresURL(t)
		test(t, func() Store {
			s, err := OpenPostgres(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

// count runs a SELECT count(*) on s's database.
func count(t *testing.T, s Store, q string, args ...any) int {
	t.Helper()
	var n int
	var err error
	switch s := s.(type) {
	case *SQLite:
		err = s.db.QueryRow(q, args...).Scan(&n)
	case *Postgres:
		err = s.pool.QueryRow(context.Background(), numbered(q), args...).Scan(&n)
	default:
		t.Fatalf("count on a %T", s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// jobs records the jobs a store enqueues, as the job queue would: inside
// the transaction, failing when fail is set.
type jobs struct {
	mu     sync.Mutex
	events []Event
	fail   error
	// failVideo, when set, fails the jobs of that video only.
	failVideo string
}

func (j *jobs) add(ev Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return j.fail
	}
	if j.failVideo != "" && ev.VideoID == j.failVideo {
		return fmt.Errorf("no job for video %s", ev.VideoID)
	}
	j.events = append(j.events, ev)
	return nil
}

func (j *jobs) list() []Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Event(nil), j.events...)
}

func withJobs(s Store, j *jobs) {
	switch s := s.(type) {
	case *SQLite:
		s.SetEnqueuer(func(_ context.Context, _ *sql.Tx, ev Event) error { return j.add(ev) })
	case *Postgres:
		s.SetEnqueuer(func(_ context.Context, _ pgx.Tx, ev Event) error { return j.add(ev) })
	}
}

func TestMigrationsReapply(t *testing.T) { eachBackend(t, testMigrationsReapply) }

// A second instance on a used database applies nothing twice and reads
// what the first one wrote.
func testMigrationsReapply(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := open()
	seedSession(t, s, "s1", "u1")
	again := open()
	u, err := again.Upload(ctx, "u1")
	if err != nil || u.SessionID != "s1" || u.Size != 10 {
		t.Fatalf("upload from a second instance = %+v, %v", u, err)
	}
	if err := again.CheckWrite(ctx); err != nil {
		t.Fatalf("CheckWrite: %v", err)
	}
	if err := again.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	files, _ := pgMigrations.ReadDir("pgmigrations")
	if _, ok := s.(*SQLite); ok {
		files, _ = migrations.ReadDir("migrations")
	}
	if n := count(t, again, `SELECT count(*) FROM schema_migrations`); n != len(files) {
		t.Fatalf("schema_migrations has %d rows, want %d (one per migration)", n, len(files))
	}
}

func TestStatusCycle(t *testing.T) { eachBackend(t, testStatusCycle) }

func testStatusCycle(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := open()
	j := &jobs{}
	withJobs(s, j)
	seedSession(t, s, "s1", "u1")
	reg, created, err := s.RegisterVideo(ctx, video("v1", "u1", "s1"))
	if err != nil || !created {
		t.Fatalf("register: %v %v", created, err)
	}
	if reg.Video.Status != contract.StatusRegistered || reg.Video.StatusAt == nil {
		t.Fatalf("a new video is %q at %v, want registered", reg.Video.Status, reg.Video.StatusAt)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	steps := []struct {
		status, errText string
		changed         bool
		err             error
		want            string
	}{
		{contract.StatusProcessing, "", true, nil, contract.StatusProcessing},
		{contract.StatusProcessing, "", false, nil, contract.StatusProcessing}, // a replay
		{contract.StatusRegistered, "", false, ErrTransition, ""},
		{contract.StatusFailed, "ffmpeg: no video stream", true, nil, contract.StatusFailed},
		{contract.StatusReady, "", false, ErrTransition, ""},
		{"bogus", "", false, ErrTransition, ""},
	}
	for i, st := range steps {
		v, changed, err := s.SetStatus(ctx, "v1", st.status, st.errText, at.Add(time.Duration(i)*time.Second))
		if !errors.Is(err, st.err) || (err == nil && (changed != st.changed || v.Status != st.want)) {
			t.Fatalf("step %d, set %s: status=%q changed=%v err=%v; want %q changed=%v err=%v",
				i, st.status, v.Status, changed, err, st.want, st.changed, st.err)
		}
	}
	v, err := s.Video(ctx, "v1")
	if err != nil || v.Status != contract.StatusFailed || v.Error != "ffmpeg: no video stream" || !v.StatusAt.Equal(at.Add(3*time.Second)) {
		t.Fatalf("video after the cycle = %q %q %v, %v", v.Status, v.Error, v.StatusAt, err)
	}
	if _, _, err := s.SetStatus(ctx, "nope", contract.StatusReady, "", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("status of an unknown video: %v, want ErrNotFound", err)
	}
	// One event per change, in order, each enqueued, each readable.
	evs := j.list()
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Type+":"+ev.Status)
		stored, err := s.Event(ctx, ev.ID)
		if err != nil || string(stored.Payload) != string(ev.Payload) || stored.VideoID != "v1" {
			t.Fatalf("event %s stored as %+v, %v", ev.ID, stored, err)
		}
	}
	if want := "[video.registered:registered video.status:processing video.status:failed]"; fmt.Sprint(got) != want {
		t.Fatalf("events = %v, want %s", got, want)
	}
	ds, err := s.Deliveries(ctx, "v1")
	if err != nil || len(ds) != 3 || ds[0].State != contract.DeliveryPending || ds[2].Status != contract.StatusFailed {
		t.Fatalf("deliveries = %+v, %v", ds, err)
	}
}

func TestEventCommitsWithItsChange(t *testing.T) { eachBackend(t, testEventCommitsWithItsChange) }

// A job that cannot be enqueued rolls back the change it announces: no
// video is ever registered without its webhook.
func testEventCommitsWithItsChange(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := open()
	j := &jobs{fail: errors.New("queue down")}
	withJobs(s, j)
	seedSession(t, s, "s1", "u1")
	if _, _, err := s.RegisterVideo(ctx, video("v1", "u1", "s1")); err == nil {
		t.Fatal("registered with a failing queue")
	}
	if n := count(t, s, `SELECT count(*) FROM videos`); n != 0 {
		t.Fatalf("%d videos after a failed enqueue, want 0", n)
	}
	if n := count(t, s, `SELECT count(*) FROM events`); n != 0 {
		t.Fatalf("%d events after a failed enqueue, want 0", n)
	}
	j.fail = nil
	if _, created, err := s.RegisterVideo(ctx, video("v1", "u1", "s1")); err != nil || !created {
		t.Fatalf("register once the queue is back: %v %v", created, err)
	}
	j.fail = errors.New("queue down")
	if _, _, err := s.SetStatus(ctx, "v1", contract.StatusReady, "", time.Now()); err == nil {
		t.Fatal("status set with a failing queue")
	}
	if v, _ := s.Video(ctx, "v1"); v.Status != contract.StatusRegistered {
		t.Fatalf("status %q after a failed enqueue, want registered", v.Status)
	}
	if n := len(j.list()); n != 1 {
		t.Fatalf("%d events enqueued, want 1", n)
	}
}

func TestMarkDelivery(t *testing.T) { eachBackend(t, testMarkDelivery) }

func testMarkDelivery(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := open()
	j := &jobs{}
	withJobs(s, j)
	seedSession(t, s, "s1", "u1")
	if _, _, err := s.RegisterVideo(ctx, video("v1", "u1", "s1")); err != nil {
		t.Fatal(err)
	}
	id := j.list()[0].ID
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, d := range []Delivery{
		{State: contract.DeliveryFailing, Attempts: 1, LastError: "503", At: now},
		{State: contract.DeliveryDelivered, Attempts: 2, At: now.Add(time.Second)},
		// A duplicate attempt that fails late does not undo the delivery.
		{State: contract.DeliveryFailing, Attempts: 3, LastError: "timeout", At: now.Add(2 * time.Second)},
	} {
		if err := s.MarkDelivery(ctx, id, d); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := s.Deliveries(ctx, "v1")
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries = %+v, %v", ds, err)
	}
	if d := ds[0]; d.State != contract.DeliveryDelivered || d.Attempts != 2 || d.LastError != "" || !d.UpdatedAt.Equal(now.Add(time.Second)) {
		t.Fatalf("delivery = %+v", d)
	}
	if err := s.MarkDelivery(ctx, "msg_nope", Delivery{State: contract.DeliveryFailed, At: now}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown event: %v, want ErrNotFound", err)
	}
	// Without an enqueuer, no event is recorded.
	plain := open()
	seedSession(t, plain, "s2", "u2")
	if _, _, err := plain.RegisterVideo(ctx, video("v2", "u2", "s2")); err != nil {
		t.Fatal(err)
	}
	if ds, _ := plain.Deliveries(ctx, "v2"); len(ds) != 0 {
		t.Fatalf("events recorded without a queue: %+v", ds)
	}
}

func TestStaleSessions(t *testing.T) { eachBackend(t, testStaleSessions) }

func testStaleSessions(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := open()
	old := time.Now().Add(-48 * time.Hour)
	for _, sess := range []struct {
		id      string
		created time.Time
	}{{"old", old}, {"older", old.Add(-time.Hour)}, {"new", time.Now()}} {
		if err := s.CreateSession(ctx, Session{ID: sess.id, Principal: "cam-1", CreatedAt: sess.created}, []Upload{
			{ID: sess.id + "-a", Key: "uploads/" + sess.id + "/a/a.mp4", Name: "a.mp4", Size: 1},
			{ID: sess.id + "-b", Key: "uploads/" + sess.id + "/b/b.mp4", Name: "b.mp4", Size: 1},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.RegisterVideo(ctx, video("v1", "old-a", "old")); err != nil {
		t.Fatal(err)
	}
	stale, err := s.StaleSessions(ctx, time.Now().Add(-24*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range stale {
		var ups []string
		for _, u := range st.Uploads {
			ups = append(ups, u.ID)
		}
		got = append(got, fmt.Sprintf("%s%v", st.Session.ID, ups))
	}
	if want := "[older[older-a older-b] old[old-b]]"; fmt.Sprint(got) != want {
		t.Fatalf("stale sessions = %v, want %s", got, want)
	}
	closed := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.CloseSession(ctx, "older", closed); err != nil {
		t.Fatal(err)
	}
	if sess, err := s.Session(ctx, "older"); err != nil || !sess.ClosedAt.Equal(closed) {
		t.Fatalf("closed session = %+v, %v", sess, err)
	}
	if stale, err = s.StaleSessions(ctx, time.Now().Add(-24*time.Hour), 10); err != nil || len(stale) != 1 || stale[0].Session.ID != "old" {
		t.Fatalf("stale sessions after closing one = %+v, %v", stale, err)
	}
	if err := s.CloseSession(ctx, "nope", closed); !errors.Is(err, ErrNotFound) {
		t.Fatalf("close of an unknown session: %v", err)
	}
}

func TestInstancesRegisterOnce(t *testing.T) { eachBackend(t, testInstancesRegisterOnce) }

// Two instances register the same 200 uploads at once, each upload from
// both: one video per upload, one event per video.
func testInstancesRegisterOnce(t *testing.T, open func() Store) {
	ctx := context.Background()
	j := &jobs{}
	a, b := open(), open()
	withJobs(a, j)
	withJobs(b, j)
	const n = 200
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("u%03d", i))
	}
	seedSession(t, a, "s1", ids...)
	var wg sync.WaitGroup
	var mu sync.Mutex
	createdBy := map[string]int{}
	errs := make(chan error, 2*n)
	sem := make(chan struct{}, 16)
	for i, id := range ids {
		for k, inst := range []Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				got, created, err := inst.RegisterVideo(ctx, video(fmt.Sprintf("v%d-%d", i, k), id, "s1"))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if created {
					createdBy[id]++
				}
				mu.Unlock()
				if got.Video.UploadID != id {
					errs <- fmt.Errorf("registration of %s answered %s", id, got.Video.UploadID)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, id := range ids {
		if createdBy[id] != 1 {
			t.Errorf("upload %s created %d times, want once", id, createdBy[id])
		}
	}
	if c := count(t, a, `SELECT count(*) FROM videos`); c != n {
		t.Fatalf("%d videos, want %d", c, n)
	}
	if c := len(j.list()); c != n {
		t.Fatalf("%d events enqueued, want %d", c, n)
	}
}

func TestRegisterVideoOncePerUpload(t *testing.T) { eachBackend(t, testRegisterVideoOncePerUpload) }

func testRegisterVideoOncePerUpload(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := open()
	seedSession(t, s, "s1", "u1")

	first, created, err := s.RegisterVideo(ctx, video("v1", "u1", "s1"))
	if err != nil || !created {
		t.Fatalf("first register: created=%v err=%v", created, err)
	}
	// Concurrent replays with other video ids: the UNIQUE constraint must
	// keep the first row and hand it back to every one of them.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, created, err := s.RegisterVideo(ctx, video(fmt.Sprintf("other-%d", i), "u1", "s1"))
			switch {
			case err != nil:
				errs <- err
			case created:
				errs <- fmt.Errorf("replay %d created a row", i)
			case got.Video.ID != first.Video.ID || got.RequestDigest != first.RequestDigest:
				errs <- fmt.Errorf("replay %d got video %s (%s), want %s (%s)", i, got.Video.ID, got.RequestDigest, first.Video.ID, first.RequestDigest)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := count(t, s, `SELECT count(*) FROM videos WHERE upload_id = 'u1'`); n != 1 {
		t.Fatalf("%d rows for upload u1, want 1", n)
	}
	got, err := s.Video(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Checksum == nil || got.Checksum.Value != "AAAAAAAAAAA=" || got.Metadata["camera"] != "cam-3" || got.Principal != "cam-1" {
		t.Fatalf("stored video lost fields: %+v", got)
	}
	if _, err := s.Video(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown video: err = %v, want ErrNotFound", err)
	}
}

func TestRegisterVideoNeedsKnownUpload(t *testing.T) {
	eachBackend(t, testRegisterVideoNeedsKnownUpload)
}

func testRegisterVideoNeedsKnownUpload(t *testing.T, open func() Store) {
	s := open()
	seedSession(t, s, "s1", "u1")
	if _, _, err := s.RegisterVideo(context.Background(), video("v1", "unknown", "s1")); err == nil {
		t.Fatal("a video of an unknown upload was stored; the foreign key must refuse it")
	}
}

func TestListVideosPages(t *testing.T) { eachBackend(t, testListVideosPages) }

// Each page is read from another instance: the cursor is the database's.
func testListVideosPages(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := open()
	instances := []Store{s, open()}
	var ids []string
	for i := range 5 {
		ids = append(ids, fmt.Sprintf("u%d", i))
	}
	seedSession(t, s, "s1", ids...)
	for i, u := range ids {
		if _, _, err := s.RegisterVideo(ctx, video(fmt.Sprintf("v%d", i), u, "s1")); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var before int64
	pages := 0
	for {
		page, next, err := instances[pages%2].ListVideos(ctx, "", before, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range page {
			got = append(got, v.ID)
		}
		if next == 0 {
			break
		}
		before = next
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	want := []string{"v4", "v3", "v2", "v1", "v0"}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Fatalf("pages=%d ids=%v, want 3 pages of %v", pages, got, want)
	}
}

func TestListVideosOfOnePrincipal(t *testing.T) { eachBackend(t, testListVideosOfOnePrincipal) }

func testListVideosOfOnePrincipal(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := open()
	seedSessionOf(t, s, "cam-1", "s1", "u1", "u2")
	seedSessionOf(t, s, "cam-2", "s2", "u3")
	for _, r := range []Registration{videoOf("cam-1", "v1", "u1", "s1"), videoOf("cam-2", "v3", "u3", "s2"), videoOf("cam-1", "v2", "u2", "s1")} {
		if _, _, err := s.RegisterVideo(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for principal, want := range map[string]string{"cam-1": "[v2 v1]", "cam-2": "[v3]", "nobody": "[]", "": "[v2 v3 v1]"} {
		page, _, err := s.ListVideos(ctx, principal, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, v := range page {
			ids = append(ids, v.ID)
		}
		if got := fmt.Sprint(ids); got != want {
			t.Errorf("list of %q = %s, want %s", principal, got, want)
		}
	}
	if _, _, err := s.RegisterVideo(ctx, videoOf("", "v9", "u9", "s1")); err == nil {
		t.Fatal("a video without principal was stored")
	}
}

func TestInstancesSetStatusOnce(t *testing.T) { eachBackend(t, testInstancesSetStatusOnce) }

// Two instances set the same status of 50 videos at once: each video
// changes once and announces it once.
func testInstancesSetStatusOnce(t *testing.T, open func() Store) {
	ctx := context.Background()
	j := &jobs{}
	a, b := open(), open()
	withJobs(a, j)
	withJobs(b, j)
	var ids []string
	for i := range 50 {
		ids = append(ids, fmt.Sprintf("u%02d", i))
	}
	seedSession(t, a, "s1", ids...)
	for i, u := range ids {
		if _, _, err := a.RegisterVideo(ctx, video(fmt.Sprintf("v%02d", i), u, "s1")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	changes := map[string]int{}
	for i := range ids {
		for _, inst := range []Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("v%02d", i)
				v, changed, err := inst.SetStatus(ctx, id, contract.StatusProcessing, "", time.Now())
				if err != nil || v.Status != contract.StatusProcessing {
					t.Errorf("set status of %s: %q %v", id, v.Status, err)
					return
				}
				if changed {
					mu.Lock()
					changes[id]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for i := range ids {
		if id := fmt.Sprintf("v%02d", i); changes[id] != 1 {
			t.Errorf("video %s changed %d times, want once", id, changes[id])
		}
	}
	if n := len(j.list()); n != 100 { // 50 registrations, 50 status changes
		t.Fatalf("%d events, want 100", n)
	}
}

// BenchmarkRegisterVideo registers videos from parallel goroutines on two
// instances of one database: the store's share of a registration.
func BenchmarkRegisterVideo(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var dsn string
			if backend == "sqlite" {
				dsn = filepath.Join(b.TempDir(), "vidup.db")
			} else {
				dsn = storetest.PostgresURL(b) + "&pool_max_conns=8"
			}
			var insts []Store
			for range 2 {
				s, err := Open(context.Background(), dsn)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				insts = append(insts, s)
			}
			ids := make([]string, b.N)
			var ups []Upload
			for i := range b.N {
				ids[i] = fmt.Sprintf("u%d", i)
				ups = append(ups, Upload{ID: ids[i], SessionID: "s1", Key: "uploads/s1/" + ids[i], Name: "a.mp4", Size: 1})
			}
			if err := insts[0].CreateSession(context.Background(), Session{ID: "s1", Principal: "cam-1", CreatedAt: time.Now()}, ups); err != nil {
				b.Fatal(err)
			}
			var next atomicCounter
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.add()
					if _, _, err := insts[i%2].RegisterVideo(context.Background(), video(fmt.Sprintf("v%d", i), ids[i], "s1")); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
		})
	}
}

type atomicCounter struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCounter) add() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n - 1
}

// TestRegisterVideoKeepsMedia: the registration's media object is stored
// and read back whole by every read; a video registered without one has
// none (NULL, not an empty object).
func TestRegisterVideoKeepsMedia(t *testing.T) { eachBackend(t, testRegisterVideoKeepsMedia) }

func testRegisterVideoKeepsMedia(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := open()
	seedSession(t, s, "s1", "u1", "u2")
	with := video("v1", "u1", "s1")
	with.Video.Media = &contract.Media{
		Container: "mov", DurationS: 2.002, Complete: false, FastStart: true, StartTimecode: "10:00:00:00",
		Incomplete: &contract.MediaIncomplete{Reason: "truncated", Detail: "the file ends inside its mdat box"},
		Streams: []contract.MediaStream{
			{Type: "video", Codec: "h264", Profile: "High", Width: 1920, Height: 1080, FPS: 29.97},
			{Type: "audio", Codec: "aac", Profile: "LC", SampleRate: 48000, Channels: 2},
		},
	}
	if _, created, err := s.RegisterVideo(ctx, with); err != nil || !created {
		t.Fatalf("register: created=%v err=%v", created, err)
	}
	if _, _, err := s.RegisterVideo(ctx, video("v2", "u2", "s1")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Video(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Media, with.Video.Media) {
		t.Fatalf("media read back = %+v, want %+v", got.Media, with.Video.Media)
	}
	reg, err := s.VideoByUpload(ctx, "u1")
	if err != nil || !reflect.DeepEqual(reg.Video.Media, with.Video.Media) {
		t.Fatalf("media by upload = %+v, %v", reg.Video.Media, err)
	}
	list, _, err := s.ListVideos(ctx, "", 0, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v, %v", list, err)
	}
	if list[0].ID != "v2" || list[0].Media != nil || !reflect.DeepEqual(list[1].Media, with.Video.Media) {
		t.Fatalf("listed media: v2 %+v, v1 %+v", list[0].Media, list[1].Media)
	}
	if n := count(t, s, `SELECT count(*) FROM videos WHERE id = 'v2' AND media IS NULL`); n != 1 {
		t.Fatalf("a video without media stores NULL: %d rows", n)
	}
}

func TestRegisterVideosInOneTransaction(t *testing.T) {
	eachBackend(t, testRegisterVideosInOneTransaction)
}

// RegisterVideos stores a batch as RegisterVideo stores each: created rows
// with their events and jobs, a replay answered with the row there, and
// a registration that fails (an unknown upload, no principal, a job that
// cannot be enqueued) left out alone, with nothing of it stored, while
// the others commit.
func testRegisterVideosInOneTransaction(t *testing.T, open func() Store) {
	ctx := context.Background()
	s := open()
	j := &jobs{}
	withJobs(s, j)
	seedSession(t, s, "s1", "u1", "u2", "u3", "u4", "u5", "u6", "u7")
	if _, _, err := s.RegisterVideo(ctx, video("v0", "u1", "s1")); err != nil {
		t.Fatal(err)
	}
	res, err := s.RegisterVideos(ctx, []Registration{
		video("v2", "u2", "s1"),
		video("v1-again", "u1", "s1"),
		video("v3", "unknown", "s1"),
		videoOf("", "v4", "u4", "s1"),
		video("v5", "u5", "s1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 {
		t.Fatalf("%d results for 5 registrations", len(res))
	}
	for _, i := range []int{0, 4} {
		if r := res[i]; !r.Created || r.Err != nil || r.Stored.Video.Status != contract.StatusRegistered || r.Stored.Video.ID != []string{"v2", "", "", "", "v5"}[i] {
			t.Fatalf("registration %d: %+v", i, r)
		}
	}
	if r := res[1]; r.Created || r.Err != nil || r.Stored.Video.ID != "v0" || r.Stored.RequestDigest != "digest-v0" {
		t.Fatalf("the replay: %+v, want the stored v0", r)
	}
	if res[2].Err == nil || res[3].Err == nil || res[2].Created || res[3].Created {
		t.Fatalf("an unknown upload and a registration without principal: %+v, %+v; want errors", res[2], res[3])
	}
	if n := count(t, s, `SELECT count(*) FROM videos`); n != 3 {
		t.Fatalf("%d videos, want v0, v2 and v5", n)
	}
	for _, id := range []string{"v2", "v5"} {
		if ds, err := s.Deliveries(ctx, id); err != nil || len(ds) != 1 {
			t.Fatalf("webhooks of %s: %+v, %v; want its registration's", id, ds, err)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM events`); n != 3 {
		t.Fatalf("%d events, want 3", n)
	}
	// (The fake queue keeps the jobs of a transaction rolled back too,
	// which the real one, inside the transaction, does not.)
	enqueued := map[string]bool{}
	for _, ev := range j.list() {
		enqueued[ev.VideoID] = true
	}
	if !enqueued["v2"] || !enqueued["v5"] {
		t.Fatalf("jobs enqueued for %v, want v2 and v5 among them", enqueued)
	}

	// A job that cannot be enqueued fails its registration only: nothing
	// of it is stored, the other one commits.
	j.failVideo = "v7"
	res, err = s.RegisterVideos(ctx, []Registration{video("v6", "u6", "s1"), video("v7", "u7", "s1")})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Created || res[1].Err == nil || !strings.Contains(res[1].Err.Error(), "no job for video v7") {
		t.Fatalf("a failing job: %+v, %+v", res[0], res[1])
	}
	if _, err := s.VideoByUpload(ctx, "u7"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the registration whose job failed is stored: %v", err)
	}
	if n := count(t, s, `SELECT count(*) FROM events WHERE video_id = ?`, "v7"); n != 0 {
		t.Fatalf("%d events of the registration whose job failed", n)
	}
	if n := count(t, s, `SELECT count(*) FROM events WHERE video_id = ?`, "v6"); n != 1 {
		t.Fatalf("%d events of v6, want 1", n)
	}
	left, err := s.UnregisteredUploads(ctx, "s1")
	if err != nil || len(left) != 3 || left[0].ID != "u3" || left[1].ID != "u4" || left[2].ID != "u7" {
		t.Fatalf("unregistered uploads %+v, %v; want u3, u4 and u7", left, err)
	}

	// A transaction that cannot run stores nothing and says so.
	j.failVideo = ""
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.RegisterVideos(cancelled, []Registration{video("v3", "u3", "s1"), video("v7", "u7", "s1")}); err == nil {
		t.Fatal("registered with a cancelled context")
	}
	if n := count(t, s, `SELECT count(*) FROM videos`); n != 4 {
		t.Fatalf("%d videos after a failed transaction, want the 4 before", n)
	}
}
