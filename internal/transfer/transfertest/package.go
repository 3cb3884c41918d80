package transfertest

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/testenv"
)

// Packages (contract v1.1 sections 1b and 3b): one session, keys under a
// prefix, one registration that the server checks object by object.

func (a *API) createPackage(w http.ResponseWriter, r *http.Request, p *contract.PackageRequest) {
	a.mu.Lock()
	v1 := a.V1
	a.mu.Unlock()
	if v1 {
		writeError(w, http.StatusBadRequest, "a session covers 1 to 100 files")
		return
	}
	if len(p.Files) == 0 || len(p.Files) > contract.MaxFilesPerPackage {
		writeError(w, http.StatusBadRequest, "a package holds 1 to 100000 files")
		return
	}
	id := testenv.RandomHex(8)
	creds, err := a.mint(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusBadGateway, "mint credentials: "+err.Error())
		return
	}
	uid := testenv.RandomHex(8)
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &contract.Session{SessionID: id, Bucket: a.Bucket, Region: a.s3.Region, Endpoint: a.Endpoint, PathStyle: true,
		Checksum: a.Checksum, Credentials: creds,
		Package: &contract.PackageUpload{UploadID: uid, Prefix: "uploads/" + id + "/" + uid + "/"}}
	a.sessions[id] = s
	a.packages[uid] = p
	writeJSON(w, http.StatusCreated, s)
}

func (a *API) registerPackage(w http.ResponseWriter, r *http.Request, req contract.VideoRequest) {
	p := req.Package
	if r.Header.Get(contract.IdempotencyKeyHeader) != p.UploadID || p.UploadID == "" {
		writeError(w, http.StatusBadRequest, "Idempotency-Key must be the package's upload_id")
		return
	}
	a.mu.Lock()
	a.attempts[p.UploadID]++
	n, fault := a.attempts[p.UploadID], a.RegisterFault
	a.mu.Unlock()
	if fault != nil {
		if status, msg := fault(p.UploadID, n); status != 0 {
			writeError(w, status, msg)
			return
		}
	}
	a.mu.Lock()
	sess := a.sessions[p.SessionID]
	declared := a.packages[p.UploadID]
	v, done := a.videos[p.UploadID]
	a.mu.Unlock()
	if done {
		writeJSON(w, http.StatusOK, v)
		return
	}
	if sess == nil || declared == nil || sess.Package == nil || sess.Package.UploadID != p.UploadID {
		writeError(w, http.StatusNotFound, "no package "+p.UploadID+" in session "+p.SessionID)
		return
	}
	if len(p.Objects) != len(declared.Files) {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("%d objects registered, %d declared", len(p.Objects), len(declared.Files)))
		return
	}
	ctx := context.WithoutCancel(r.Context())
	objs := make([]contract.PackageObject, len(p.Objects))
	for i, o := range p.Objects {
		key := sess.Package.Prefix + o.Path
		head, err := a.s3.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "object "+key+" not found: "+err.Error())
			return
		}
		if aws.ToInt64(head.ContentLength) != o.Size {
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("object %s has %d bytes, not %d", key, aws.ToInt64(head.ContentLength), o.Size))
			return
		}
		held := map[string]string{"CRC64NVME": aws.ToString(head.ChecksumCRC64NVME), "CRC32C": aws.ToString(head.ChecksumCRC32C)}
		if o.Checksum != nil && held[o.Checksum.Algorithm] != o.Checksum.Value && !a.trustChecksum() {
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("object %s checksums %v do not match %+v", key, held, o.Checksum))
			return
		}
		objs[i] = o
		objs[i].Key = key
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Two attempts of one package may verify at once (a held first attempt
	// and a re-run's); the first to get here registers it, as a unique
	// constraint on upload_id does in a real store, and the other replays.
	if v, done := a.videos[p.UploadID]; done {
		writeJSON(w, http.StatusOK, v)
		return
	}
	v = contract.Video{ID: "vid-" + testenv.RandomHex(6), UploadID: p.UploadID, SessionID: p.SessionID, Bucket: a.Bucket,
		Key: sess.Package.Prefix, Filename: p.Name, Kind: p.Kind, Objects: objs, Metadata: req.Metadata, CreatedAt: time.Now().UTC()}
	a.videos[p.UploadID] = v
	a.pkgRegs = append(a.pkgRegs, req)
	writeJSON(w, http.StatusCreated, v)
}

// PackageRegistrations returns the package registrations that created a
// video, in order.
func (a *API) PackageRegistrations() []contract.VideoRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]contract.VideoRequest(nil), a.pkgRegs...)
}
