package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/vidup/vidup/internal/api"
	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/transfer"
)

// batchAPI is the API client with batch registration (contract v1.1
// section 3c) as the engine asks for it: each entry of a batch answers as
// its single registration would have, errors included, so that the
// advice and the exit codes are the same either way.
type batchAPI struct{ *api.Client }

var _ transfer.BatchAPI = batchAPI{}

func (b batchAPI) RegisterVideos(ctx context.Context, sessionID string, reqs []contract.VideoRequest) ([]transfer.Registration, error) {
	entries, err := b.RegisterBatch(ctx, sessionID, reqs)
	if errors.Is(err, api.ErrNoBatch) {
		return nil, fmt.Errorf("%w: %w", transfer.ErrNoBatch, err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]transfer.Registration, len(entries))
	for i, e := range entries {
		switch e.Status {
		case http.StatusCreated, http.StatusOK:
			out[i] = transfer.Registration{Video: e.Video, Created: e.Status == http.StatusCreated}
		default:
			out[i].Err = &api.StatusError{Op: api.OpRegisterVideo, URL: b.BaseURL(), Status: e.Status, Message: e.Error}
		}
	}
	return out, nil
}
