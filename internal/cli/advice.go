package cli

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/vidup/vidup/internal/api"
	"github.com/vidup/vidup/internal/media"
	"github.com/vidup/vidup/internal/progress"
	"github.com/vidup/vidup/internal/sources"
	"github.com/vidup/vidup/internal/transfer"
	"github.com/vidup/vidup/internal/units"
)

// The lower layers say what went wrong, as typed errors carrying the facts;
// this table says what to do about it, in the words of the command line:
// flag and variable names live here and nowhere below. The first row that
// matches adds its sentence after the error's own message. Adding advice is
// adding one row.
var adviceTable = []struct {
	match  func(error) bool
	advice string
}{
	{is(transfer.ErrPackagesRefused), "an API that follows only contract v1 does not accept packages (v1.1 section 1b); upload the folder's files one by one with --no-package"},
	{as(func(e *api.URLError) bool { return !e.QueryOrFragment }), "set --api-url or VIDUP_API_URL to something like https://videos.example.com"},
	{as(func(e *api.URLError) bool { return e.QueryOrFragment }), "set --api-url or VIDUP_API_URL to the API's base URL only"},
	{is(api.ErrNoToken), "set VIDUP_API_TOKEN or --token-file"},
	{as(func(e *api.StatusError) bool { return e.S3Code != "" }), "set --api-url or VIDUP_API_URL to the upload API's base URL, not to the S3 endpoint"},
	{as(func(e *api.StatusError) bool { return e.Status == 401 }), "set VIDUP_API_TOKEN or --token-file"},
	{as(func(e *api.StatusError) bool { return e.Status == 403 }), "ask for a token that may upload, and set VIDUP_API_TOKEN or --token-file"},
	{as((*api.StatusError).WrongURL), "check --api-url / VIDUP_API_URL (it must be the API's base URL)"},
	{as(func(e *api.BadAnswerError) bool { return e.Clock }), "check the clocks of the API server and of this machine"},
	{as(func(*api.BadAnswerError) bool { return true }), "check --api-url / VIDUP_API_URL (it must point at a server that follows the vidup upload contract)"},
	{as((*api.NetworkError).PlainHTTP), "the API answers plain HTTP: write http:// in --api-url / VIDUP_API_URL"},
	{as((*api.NetworkError).NotTLS), "check --api-url / VIDUP_API_URL, or add the API's CA certificate to this machine's trust store (SSL_CERT_FILE)"},
	{as(func(e *api.NetworkError) bool { return e.Refused() }), "check --api-url / VIDUP_API_URL and that the API is running"},
	{as(func(e *api.NetworkError) bool { return !e.Reading }), "check --api-url / VIDUP_API_URL"},

	{is(transfer.ErrUnknownAlgorithm), "upload the file again with --force"},
	{s3Code("AccessDenied", "Forbidden"), "check that the API's role and session policy allow writing this key"},
	{s3Code("InvalidAccessKeyId"), "check that the API hands out credentials for this S3 endpoint"},
	{s3Code("SignatureDoesNotMatch"), "check the session's secret key and region on the API"},
	{s3Code("NoSuchBucket"), "check the API's bucket setting"},
	{s3Code("NoSuchUpload"), "upload the file again"},
	{s3Code("ExpiredToken"), "check the API's credentials refresh"},
	{s3Code("EntityTooLarge", "EntityTooSmall"), "choose another --part-size"},
	{as((*transfer.S3Error).NotImplemented), "choose a --checksum mode the store supports (docs/providers.md)"},
	{as((*transfer.S3Error).Unreachable), "check that this machine can reach the S3 endpoint the API hands out (the API's endpoint setting)"},
	{as(func(e *transfer.S3Error) bool { return e.Transient }), "check the network, or raise --retries/--retry-budget"},

	{is(sources.ErrDirectory), "use -r to upload what it contains"},
	{is(sources.ErrLinkNotFollowed), "not followed without --follow-symlinks"},
	{is(sources.ErrLinkedFolderNotFollowed), "** does not follow it without --follow-symlinks"},
	{as(func(*sources.NotRegularError) bool { return true }), "move it out of the folder, or --exclude it"},
	{as(func(e *sources.TooRecentError) bool { return !e.Future }), "lower --min-age to upload it now"},
	{is(sources.ErrStdinNeedsName), "add --name NAME"},
	{option(sources.MinAge), "give --min-age a duration such as 5m"},
	{option(sources.Include), "fix --include (see vidup upload --help)"},
	{option(sources.Exclude), "fix --exclude (see vidup upload --help)"},
	{as(func(e *sources.OptionError) bool { return e.Option == sources.FilesFrom && e.NoStdin }), "give --files-from a file instead"},
	{option(sources.FilesFrom), "check the file given to --files-from"},

	{as(func(e *media.Incomplete) bool { return e.Reason == media.ReasonEmpty }), "pass --allow-empty to upload it anyway"},
	{as(func(e *media.Incomplete) bool { return true }), "or pass --allow-incomplete to upload it as it is"},
	{as(func(*notMediaError) bool { return true }), "--all-files uploads it"},
}

// configFailure reports an error that says the configuration is wrong, not
// the network or the server's mood: an https:// URL of a plain HTTP API, a
// certificate this machine does not trust, an API URL that answers like S3
// or like something other than the API (HTML, a redirect, 404). Such a run exits 2.
func configFailure(err error) bool {
	var ne *api.NetworkError
	if errors.As(err, &ne) && ne.NotTLS() {
		return true
	}
	var se *api.StatusError
	return errors.As(err, &se) && se.WrongURL()
}

// apiBrief says in a few words why an API call failed, for a retry line:
// "503 Service Unavailable: db is busy", "connection refused".
func apiBrief(err error) string {
	var se *api.StatusError
	if errors.As(err, &se) {
		s := fmt.Sprintf("%d %s", se.Status, http.StatusText(se.Status))
		if se.Message != "" {
			s += ": " + se.Message
		}
		return s
	}
	var ne *api.NetworkError
	if errors.As(err, &ne) {
		// The innermost error: "connection refused", not the dial's
		// layers ("dial tcp 127.0.0.1:1: connect: ...").
		inner := ne.Err
		for u := errors.Unwrap(inner); u != nil; u = errors.Unwrap(inner) {
			inner = u
		}
		return units.Text(inner.Error())
	}
	return units.Text(err.Error())
}

// s3Code matches S3 failures with one of codes.
func s3Code(codes ...string) func(error) bool {
	return as(func(e *transfer.S3Error) bool { return slices.Contains(codes, e.Code) })
}

// option matches errors about one option of sources.Options.
func option(o sources.Option) func(error) bool {
	return as(func(e *sources.OptionError) bool { return e.Option == o })
}

// as matches errors of type T for which ok holds.
func as[T error](ok func(T) bool) func(error) bool {
	return func(err error) bool {
		var t T
		return errors.As(err, &t) && ok(t)
	}
}

// is matches errors that are target.
func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// advise returns the sentence that says what to do about err, or "".
func advise(err error) string {
	if err == nil {
		return ""
	}
	for _, row := range adviceTable {
		if row.match(err) {
			return row.advice
		}
	}
	return resumeAdvice(err)
}

// advisedError is an error followed by what to do about it.
type advisedError struct {
	err    error
	advice string
}

func (e *advisedError) Error() string { return e.err.Error() + "; " + e.advice }
func (e *advisedError) Unwrap() error { return e.err }

// withAdvice adds to err the sentence of the table that fits it, once.
func withAdvice(err error) error {
	var done *advisedError
	if err == nil || errors.As(err, &done) {
		return err
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		// Each problem of a list gets its own advice.
		errs := j.Unwrap()
		out := make([]error, len(errs))
		for i, e := range errs {
			out[i] = withAdvice(e)
		}
		return errors.Join(out...)
	}
	if a := advise(err); a != "" {
		return &advisedError{err: err, advice: a}
	}
	return err
}

// adviseEvent adds the advice to a failed file's error, and to its reason
// when the reason is that error's message.
func adviseEvent(e transfer.Event) transfer.Event {
	if e.Err == nil {
		return e
	}
	adv := withAdvice(e.Err)
	if e.Reason == e.Err.Error() {
		e.Reason = adv.Error()
	}
	e.Err = adv
	return e
}

// skipReason is why sources skipped a file, with what to do about it.
func skipReason(s sources.Skip) string {
	if a := advise(s.Why); a != "" {
		return s.Reason + "; " + a
	}
	return s.Reason
}

// advisedRenderer shows every event with its advice.
type advisedRenderer struct{ progress.Renderer }

func (r advisedRenderer) Event(e transfer.Event) { r.Renderer.Event(adviseEvent(e)) }
