package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vidup/vidup/internal/api"
	"github.com/vidup/vidup/internal/media"
	"github.com/vidup/vidup/internal/retry"
	"github.com/vidup/vidup/internal/sources"
	"github.com/vidup/vidup/internal/transfer"
)

func TestAdviceTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string // "" when no row fits
	}{
		{"bad url", &api.URLError{URL: "videos"}, "set --api-url or VIDUP_API_URL to something like https://videos.example.com"},
		{"url with query", &api.URLError{URL: "http://x/?a=1", QueryOrFragment: true}, "set --api-url or VIDUP_API_URL to the API's base URL only"},
		{"no token", api.ErrNoToken, "set VIDUP_API_TOKEN or --token-file"},
		{"401", &api.StatusError{Op: api.OpCreateSession, Status: 401}, "set VIDUP_API_TOKEN or --token-file"},
		{"403 wrapped", fmt.Errorf("clip.mp4: %w", &api.StatusError{Op: api.OpRegisterVideo, Status: 403}), "ask for a token that may upload, and set VIDUP_API_TOKEN or --token-file"},
		{"404", &api.StatusError{Op: api.OpCreateSession, Status: 404}, "check --api-url / VIDUP_API_URL (it must be the API's base URL)"},
		{"html", &api.StatusError{Op: api.OpCreateSession, Status: 200, HTML: true}, "check --api-url / VIDUP_API_URL (it must be the API's base URL)"},
		{"session gone", &api.StatusError{Op: api.OpRefreshCredentials, Status: 404}, ""},
		{"500", &api.StatusError{Op: api.OpCreateSession, Status: 500}, ""},
		{"clock", &api.BadAnswerError{Problem: "credentials that expired", Clock: true}, "check the clocks of the API server and of this machine"},
		{"bad answer", &api.BadAnswerError{Problem: "invalid JSON"}, "check --api-url / VIDUP_API_URL (it must point at a server that follows the vidup upload contract)"},
		{"not answering, exhausted", &retry.ExhaustedError{Attempts: 11, Err: &api.NetworkError{Err: errors.New("refused")}}, "check --api-url / VIDUP_API_URL"},
		{"broke while reading", &api.NetworkError{Reading: true, Err: errors.New("EOF")}, ""},
		{"incomplete", fmt.Errorf("cut.mp4: %w", &media.Incomplete{Reason: media.ReasonTruncated, Detail: "the file ends inside its mdat box"}), "or pass --allow-incomplete to upload it as it is"},
		{"still writing", &media.Incomplete{Reason: media.ReasonStillWriting, Detail: "x"}, "or pass --allow-incomplete to upload it as it is"},
		{"empty", &media.Incomplete{Reason: media.ReasonEmpty, Detail: "the file is empty"}, "pass --allow-empty to upload it anyway"},
		{"not media", &notMediaError{contentType: "text/plain"}, "--all-files uploads it"},
		{"s3 access denied", fmt.Errorf("clip.mp4: %w", &transfer.S3Error{Op: transfer.OpUploadPart, Code: "AccessDenied", Err: errors.New("403")}), "check that the API's role and session policy allow writing this key"},
		{"s3 part size", &transfer.S3Error{Op: transfer.OpUploadPart, Code: "EntityTooSmall", Err: errors.New("400")}, "choose another --part-size"},
		{"s3 501", &transfer.S3Error{Op: transfer.OpCreateMultipartUpload, Code: "NotImplemented", Err: errors.New("501")}, "choose a --checksum mode the store supports (docs/providers.md)"},
		{"s3 retries ran out", &transfer.S3Error{Op: transfer.OpUploadPart, Code: "SlowDown", Transient: true, Err: errors.New("503")}, "check the network, or raise --retries/--retry-budget"},
		{"s3 refused for good", &transfer.S3Error{Op: transfer.OpUploadPart, Code: "InvalidRequest", Err: errors.New("400")}, ""},
		{"unknown algorithm", fmt.Errorf("upload u1: %w", transfer.ErrUnknownAlgorithm), "upload the file again with --force"},
		{"other", errors.New("disk full"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := advise(tc.err); got != tc.want {
				t.Errorf("advise(%v) = %q, want %q", tc.err, got, tc.want)
			}
			adv := withAdvice(tc.err)
			if !errors.Is(adv, tc.err) {
				t.Error("withAdvice lost the error")
			}
			if tc.want != "" && adv.Error() != tc.err.Error()+"; "+tc.want {
				t.Errorf("withAdvice = %q", adv)
			}
			if again := withAdvice(adv); again.Error() != adv.Error() {
				t.Errorf("advice added twice: %q", again)
			}
		})
	}
}

// TestFlagNamesLiveInTheCLI: no lower layer's message names a flag or a
// variable; the advice does.
func TestFlagNamesLiveInTheCLI(t *testing.T) {
	for _, err := range []error{
		&api.URLError{URL: "videos"}, api.ErrNoToken,
		&api.StatusError{Op: api.OpCreateSession, URL: "http://api", Status: 401, Message: "bad token"},
		&api.StatusError{Op: api.OpCreateSession, URL: "http://api", Status: 404},
		&api.BadAnswerError{Op: api.OpCreateSession, URL: "http://api", Problem: "x"},
		&api.NetworkError{Op: api.OpCreateSession, URL: "http://api", Err: errors.New("refused")},
		&transfer.S3Error{Op: transfer.OpCreateMultipartUpload, Bucket: "b", Key: "k", Code: "NotImplemented", Err: errors.New("501")},
		&transfer.S3Error{Op: transfer.OpUploadPart, Bucket: "b", Key: "k", Code: "SlowDown", Transient: true, Err: errors.New("503")},
		fmt.Errorf("x: %w", transfer.ErrUnknownAlgorithm),
	} {
		if m := err.Error(); strings.Contains(m, "--") || strings.Contains(m, "VIDUP_") {
			t.Errorf("%T says %q", err, m)
		}
	}
}

func TestEventsCarryTheAdvice(t *testing.T) {
	err := fmt.Errorf("clip.mp4: %w", &api.StatusError{Op: api.OpRegisterVideo, URL: "http://api", Status: 401})
	e := adviseEvent(transfer.Event{Kind: transfer.FileFailed, Err: err, Reason: err.Error()})
	for _, s := range []string{e.Err.Error(), e.Reason} {
		if !strings.HasSuffix(s, "(401); set VIDUP_API_TOKEN or --token-file") {
			t.Errorf("event says %q", s)
		}
	}
	var se *api.StatusError
	if !errors.As(e.Err, &se) || !se.AuthFailure() {
		t.Error("the advised error lost its type (exit code 3 depends on it)")
	}
}

func TestSourcesAdvice(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("cams: %w", sources.ErrDirectory), "use -r to upload what it contains"},
		{sources.ErrLinkNotFollowed, "not followed without --follow-symlinks"},
		{sources.ErrLinkedFolderNotFollowed, "** does not follow it without --follow-symlinks"},
		{&sources.TooRecentError{Age: time.Second, MinAge: time.Minute}, "lower --min-age to upload it now"},
		{&sources.TooRecentError{Age: time.Second, MinAge: time.Minute, Future: true}, ""},
		{sources.ErrStdinNeedsName, "add --name NAME"},
		{&sources.OptionError{Option: sources.MinAge, Value: "-1s", Err: errors.New("is negative")}, "give --min-age a duration such as 5m"},
		{&sources.OptionError{Option: sources.Include, Value: "[a", Err: errors.New("bad")}, "fix --include (see vidup upload --help)"},
		{&sources.OptionError{Option: sources.Exclude, Value: "[a", Err: errors.New("bad")}, "fix --exclude (see vidup upload --help)"},
		{&sources.OptionError{Option: sources.FilesFrom, Value: "-", NoStdin: true}, "give --files-from a file instead"},
		{&sources.OptionError{Option: sources.FilesFrom, Value: "l", Err: errors.New("could not be read")}, "check the file given to --files-from"},
	} {
		if got := advise(tc.err); got != tc.want {
			t.Errorf("advise(%v) = %q, want %q", tc.err, got, tc.want)
		}
		if m := tc.err.Error(); strings.Contains(m, "--") {
			t.Errorf("sources says %q: a flag name below the CLI", m)
		}
	}
	s := sources.Skip{Path: "l", Reason: "symbolic link", Why: sources.ErrLinkNotFollowed}
	if got := skipReason(s); got != "symbolic link; not followed without --follow-symlinks" {
		t.Errorf("skipReason = %q", got)
	}
	if got := skipReason(sources.Skip{Reason: "leads back to root"}); got != "leads back to root" {
		t.Errorf("skipReason without a fact = %q", got)
	}
}
