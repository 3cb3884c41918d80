package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/google/uuid"

	"github.com/vidup/vidup/internal/contract"
)

type requestIDKey struct{}

// RequestID is the id of the request ctx serves, "" outside a request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID names every request: the caller's X-Request-Id when it is
// valid (a load balancer's or a client's, so one id follows the request
// across them), else a new one. The answer carries it, and every log line
// written with the request's context has it as request_id.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(contract.RequestIDHeader)
		if !contract.ValidRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set(contract.RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// requestIDHandler adds request_id to every record logged with the context
// of a request.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestID(ctx); id != "" {
		rec = rec.Clone()
		rec.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
