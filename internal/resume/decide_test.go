package resume

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/transfer"
)

func TestDecide(t *testing.T) {
	const ps = 5 << 20
	local := journal.Identity{Path: "/in/clip.mp4", Size: 2*ps + 1, ModTime: time.Unix(1700000000, 0), Inode: 7, Device: 1, Sample: "s"}
	part := func(n int32, size int64) asset.Part {
		return asset.Part{Number: n, Size: size, ETag: `"e"`, Checksum: "AAAAAQ=="}
	}
	every := []asset.Part{part(1, ps), part(2, ps), part(3, 1)}
	rec := func(state journal.State, parts ...asset.Part) *journal.Entry {
		return &journal.Entry{ID: "j1", Source: local, State: state, VideoID: "v9", Parts: parts,
			Upload: asset.Upload{SessionID: "sess-1", UploadID: "up-1", Bucket: "b", Key: "k/clip.mp4", S3UploadID: "s3-1", PartSize: ps}}
	}
	grown, moved, rewritten := local, local, local
	grown.Size++
	moved.Inode = 8
	rewritten.Sample = "t"
	s3Err := errors.New("list parts: access denied")
	listed := transfer.S3State{Status: transfer.S3Listed, Kept: []asset.Part{part(1, ps)}}

	for _, tc := range []struct {
		name   string
		rec    *journal.Entry
		local  journal.Identity
		s3     transfer.S3State
		want   transfer.Action
		reason string // a piece of the reason
	}{
		{"registered, unchanged", rec(journal.Registered), local, transfer.S3State{}, transfer.Skip, "registered as video v9"},
		{"registered, then changed", rec(journal.Registered), grown, transfer.S3State{}, transfer.Restart, "size went from"},
		{"completed: the outbox", rec(journal.Completed), local, transfer.S3State{}, transfer.Register, "registration is missing"},
		{"completed, then changed", rec(journal.Completed), rewritten, transfer.S3State{}, transfer.Restart, "its content differs"},
		{"uploading, S3 not asked", rec(journal.Uploading, part(1, ps)), local, transfer.S3State{}, transfer.Resume, ""},
		{"uploading, file grew", rec(journal.Uploading), grown, transfer.S3State{}, transfer.Restart, "its size went from 10485761 to 10485762 bytes"},
		{"uploading, another file at the path", rec(journal.Uploading), moved, transfer.S3State{}, transfer.Restart, "another file at the same path"},
		{"S3 holds some parts", rec(journal.Uploading, part(1, ps)), local, listed, transfer.Resume, "S3 holds 1 part (5.0 MiB) of it"},
		{"session gone", rec(journal.Uploading, part(1, ps)), local, transfer.S3State{Status: transfer.S3SessionGone}, transfer.Restart, "no longer knows upload session sess-1"},
		{"upload gone, object there, journal has every part", rec(journal.Uploading, every...), local, transfer.S3State{Status: transfer.S3UploadGone, Object: true}, transfer.Complete, "completed the upload already"},
		{"upload aborted after every part", rec(journal.Uploading, every...), local, transfer.S3State{Status: transfer.S3UploadGone}, transfer.Restart, "s3://b/k/clip.mp4 is gone from S3"},
		{"object there, a part missing from the journal", rec(journal.Uploading, every[:2]...), local, transfer.S3State{Status: transfer.S3UploadGone, Object: true}, transfer.Restart, "gone from S3"},
		{"upload gone, a part missing", rec(journal.Uploading, every[:2]...), local, transfer.S3State{Status: transfer.S3UploadGone}, transfer.Restart, "s3://b/k/clip.mp4 is gone from S3"},
		{"upload gone, a part without checksum", rec(journal.Uploading, part(1, ps), part(2, ps), asset.Part{Number: 3, Size: 1, ETag: `"e"`}), local, transfer.S3State{Status: transfer.S3UploadGone}, transfer.Restart, "gone from S3"},
		{"upload gone, parts of another size", rec(journal.Uploading, part(1, ps), part(2, ps), part(3, 2)), local, transfer.S3State{Status: transfer.S3UploadGone}, transfer.Restart, "gone from S3"},
		{"S3 cannot be asked", rec(journal.Uploading, part(1, ps)), local, transfer.S3State{Status: transfer.S3Failed, Err: s3Err}, transfer.Fail, "access denied"},
		{"file changed outweighs S3", rec(journal.Uploading, every...), grown, transfer.S3State{Status: transfer.S3UploadGone, Object: true}, transfer.Restart, "the file changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.rec, tc.local, tc.s3)
			if d.Action != tc.want || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide = %v (%q), want %v (…%s…)", d.Action, d.Reason, tc.want, tc.reason)
			}
			if tc.want == transfer.Fail && !errors.Is(d.Err, s3Err) {
				t.Errorf("Fail carries %v, want the S3 error", d.Err)
			}
			if strings.Contains(d.Reason, "--") || strings.Contains(d.Reason, "vidup ") {
				t.Errorf("reason %q names a flag or a command", d.Reason)
			}
		})
	}
}

func TestChangedSaysHow(t *testing.T) {
	a := journal.Identity{Path: "/x", Size: 1, ModTime: time.Unix(1, 0), Inode: 1, Device: 1, Sample: "a"}
	b := a
	b.Size, b.ModTime = 2, time.Unix(2, 0)
	if got := changed(a, b); got != "the file changed since the last run (its size went from 1 to 2 bytes, its modification time changed)" {
		t.Errorf("changed = %q", got)
	}
	if got := changed(a, a); got != superseded {
		t.Errorf("changed of the same file = %q", got)
	}
}
