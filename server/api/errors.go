package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// Error is an HTTP error answered in Barbican's shape: {"code": N, "title": "...", "description": "..."}.
// Description is nil only for the bare 406 of an Accept check, which the reference renders as null.
type Error struct {
	Status      int
	Description *string
	// Allow lists the methods of a 405 answer.
	Allow string
}

func (e *Error) Error() string {
	if e.Description == nil {
		return http.StatusText(e.Status)
	}
	return *e.Description
}

// newError is an error with a literal description (explicit aborts, body validation).
func newError(status int, description string) *Error {
	return &Error{Status: status, Description: &description}
}

// bareError is an abort without a message. The reference renders them differently (measured): routing 404s and
// 405s carry "description": "", the 406 of pecan's Accept check carries "description": null.
func bareError(status int) *Error {
	if status == http.StatusNotAcceptable {
		return &Error{Status: status}
	}
	return newError(status, "")
}

// issue is a Barbican HTTP exception raised inside a handler: "{op} issue seen - {message}.".
func issue(status int, op, message string) *Error {
	return newError(status, op+" issue seen - "+message+".")
}

// denied is a policy refusal.
func denied(op string) *Error {
	return newError(http.StatusForbidden, op+" attempt not allowed - please review your user/project privileges")
}

// titles are WebOb's reason phrases, which Barbican puts in the error body's title.
var titles = map[int]string{
	http.StatusBadRequest:            "Bad Request",
	http.StatusUnauthorized:          "Unauthorized",
	http.StatusForbidden:             "Forbidden",
	http.StatusNotFound:              "Not Found",
	http.StatusMethodNotAllowed:      "Method Not Allowed",
	http.StatusNotAcceptable:         "Not Acceptable",
	http.StatusConflict:              "Conflict",
	statusClientClosedRequest:        "Client Closed Request",
	http.StatusRequestEntityTooLarge: "Request Entity Too Large",
	http.StatusUnsupportedMediaType:  "Unsupported Media Type",
	http.StatusInternalServerError:   "Internal Server Error",
	http.StatusServiceUnavailable:    "Service Unavailable",
}

type errorBody struct {
	Code        int     `json:"code"`
	Title       string  `json:"title"`
	Description *string `json:"description"`
}

// writeError answers err (see asError).
func (a *API) writeError(w http.ResponseWriter, r *http.Request, op string, err error) {
	writeErrorBody(w, r, a.asError(r, op, err))
}

// asError turns err into its answer. A request whose client went away is a 499; *Error values are kept as they
// are; store.ErrUnavailable becomes a 503;
// crypto.ErrUnavailable (every HSM session busy) a 503;
// store.ErrInvalid (a value that can never be stored) a 400; anything else is a 500 whose description names the
// operation and the request id but never the cause, which is logged.
func (a *API) asError(r *http.Request, op string, err error) *Error {
	var apiErr *Error
	switch {
	case clientGone(r):
		return clientClosed(r, op, err)
	case errors.As(err, &apiErr):
		return apiErr
	case errors.Is(err, store.ErrUnavailable):
		logger(r).Error("database unavailable", slog.String("operation", op), slog.Any("error", err))
		return newError(http.StatusServiceUnavailable,
			op+" failure seen - the database is unavailable, please retry later. Request ID: "+requestID(r))
	case errors.Is(err, crypto.ErrUnavailable):
		logger(r).Warn("secret store unavailable", slog.String("operation", op), slog.Any("error", err))
		return newError(http.StatusServiceUnavailable,
			op+" failure seen - the secret store is busy, please retry later. Request ID: "+requestID(r))
	case errors.Is(err, store.ErrQuotaReached):
		return issue(http.StatusForbidden, op, "Creation not allowed because a quota has been reached")
	case errors.Is(err, store.ErrInvalid):
		return issue(http.StatusBadRequest, op, "Provided information cannot be stored: a value is too long")
	default:
		logger(r).Error("request failed", slog.String("operation", op), slog.Any("error", err))
		return newError(http.StatusInternalServerError,
			op+" failure seen - please contact site administrator. Request ID: "+requestID(r))
	}
}

// statusClientClosedRequest is nginx's 499: the client closed the connection before the answer. It is what logs and
// metrics record for such a request, so that a client going away never counts as a server fault.
const statusClientClosedRequest = 499

// clientGone reports whether the request's client has closed (or half-closed) its connection: net/http then
// cancels the request's context, and whatever the handler was waiting for fails with that cancellation -- or, on
// MariaDB, with the driver's error for the connection it dropped. Once the client is gone, either way the failure
// is the client's doing.
func clientGone(r *http.Request) bool { return errors.Is(r.Context().Err(), context.Canceled) }

// clientClosed is the answer to a request whose client went away (nobody reads it; logs and metrics do). A write
// in progress was rolled back whole or committed whole by the store (see store.DB.Write).
func clientClosed(r *http.Request, op string, err error) *Error {
	logger(r).Info("client closed request", slog.String("operation", op), slog.Any("error", err))
	return newError(statusClientClosedRequest, op+" abandoned - the client closed the connection.")
}

func writeErrorBody(w http.ResponseWriter, r *http.Request, e *Error) {
	title, ok := titles[e.Status]
	if !ok {
		title = http.StatusText(e.Status)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Encoding")
	if e.Allow != "" {
		h.Set("Allow", e.Allow)
	}
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(errorBody{Code: e.Status, Title: title, Description: e.Description})
}

// writeJSON answers v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
