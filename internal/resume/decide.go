package resume

import (
	"fmt"
	"strings"

	"github.com/vidup/vidup/internal/asset"
	"github.com/vidup/vidup/internal/journal"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/units"
)

// Decide is the resume decision: what becomes of rec, an upload an earlier
// run recorded of a file whose identity is local now, given what the API
// and S3 hold of it (s3.Status is S3NotAsked while they were not asked). It
// does no I/O. The actions:
//
//   - Skip: rec is registered and the file unchanged; nothing to do.
//   - Restart: the file changed since rec was recorded, or the API forgot
//     its session, or S3 no longer has its multipart upload nor its object.
//   - Register: rec is complete and verified on S3; only its registration
//     is missing (the outbox). S3 need not be asked.
//   - Resume: rec is in progress and the file unchanged. Before S3 was
//     asked it means "ask S3, then decide again"; after, send the parts S3
//     does not hold.
//   - Complete: S3 no longer lists the multipart upload, the journal has
//     every part, and S3 shows their object (s3.Object): the Complete that
//     ended it was never recorded. Without the object it was aborted:
//     Restart.
//   - Fail: the API or S3 could not be asked; the upload stays for later.
func Decide(rec *journal.Entry, local journal.Identity, s3 transfer.S3State) transfer.Decision {
	if !rec.Source.Same(local) {
		return transfer.Decision{Action: transfer.Restart, Reason: changed(rec.Source, local)}
	}
	switch rec.State {
	case journal.Registered:
		return transfer.Decision{Action: transfer.Skip, Reason: fmt.Sprintf("already uploaded and registered as video %s", rec.VideoID)}
	case journal.Completed:
		return transfer.Decision{Action: transfer.Register, Reason: "complete on S3 already; only its registration is missing"}
	}
	switch s3.Status {
	case transfer.S3NotAsked:
		return transfer.Decision{Action: transfer.Resume}
	case transfer.S3SessionGone:
		return transfer.Decision{Action: transfer.Restart,
			Reason: fmt.Sprintf("the API no longer knows upload session %s (404), so its upload cannot continue; starting a new upload", rec.SessionID)}
	case transfer.S3UploadGone:
		// Every part in the journal is not enough: an upload aborted after
		// its last part has them all too. Only the object S3 shows is.
		if s3.Object && allParts(rec.Parts, local.Size, rec.PartSize) {
			return transfer.Decision{Action: transfer.Complete, Reason: "S3 completed the upload already; verifying and registering it"}
		}
		return transfer.Decision{Action: transfer.Restart,
			Reason: fmt.Sprintf("the multipart upload of s3://%s/%s is gone from S3 (aborted, or expired by a lifecycle rule); starting a new upload", rec.Bucket, rec.Key)}
	case transfer.S3Listed:
		return transfer.Decision{Action: transfer.Resume,
			Reason: fmt.Sprintf("continuing an earlier upload: S3 holds %s (%s) of it", units.Count(len(s3.Kept), "part", "parts"), units.Bytes(asset.Bytes(s3.Kept)))}
	}
	reason := "S3 could not be asked what it holds of the upload"
	if s3.Err != nil {
		reason = s3.Err.Error()
	}
	return transfer.Decision{Action: transfer.Fail, Reason: reason, Err: s3.Err}
}

// allParts reports whether parts are every part of a file of size in parts
// of partSize, each with its checksum.
func allParts(parts []asset.Part, size, partSize int64) bool {
	if partSize <= 0 || size <= 0 {
		return false
	}
	n := int((size + partSize - 1) / partSize)
	if len(parts) != n {
		return false
	}
	for i, p := range parts {
		if int(p.Number) != i+1 || p.Size != min(partSize, size-int64(i)*partSize) || p.Checksum == "" {
			return false
		}
	}
	return true
}

// changed says how the file differs from the one an earlier upload read.
func changed(old, now journal.Identity) string {
	var what []string
	if old.Size != now.Size {
		what = append(what, fmt.Sprintf("its size went from %d to %d bytes", old.Size, now.Size))
	}
	if !old.ModTime.Equal(now.ModTime) {
		what = append(what, "its modification time changed")
	}
	if old.Inode != now.Inode || old.Device != now.Device {
		what = append(what, "it is another file at the same path")
	}
	if len(what) == 0 && old.Sample != now.Sample {
		what = append(what, "its content differs")
	}
	if len(what) == 0 {
		return superseded
	}
	return "the file changed since the last run (" + strings.Join(what, ", ") + ")"
}

// superseded is why an upload of an unchanged file is given up: a newer
// upload of the same file is the one continued.
const superseded = "a newer upload of the file superseded this one"
