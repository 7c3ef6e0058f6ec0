package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keymanager-io/keymanager/server/auth"
)

// statusRecorder remembers the status for the access log and metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

var globalRequestID = regexp.MustCompile(`^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// withRequest is the outermost layer: request id (oslo request_id middleware), one access-log line per request,
// metrics, and recovery so that a bug answers 500 in Barbican's shape instead of dropping the connection.
func (a *API) withRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := "req-" + uuid.NewString()
		attrs := []any{slog.String("request_id", id)}
		if g := r.Header.Get("X-Openstack-Request-Id"); globalRequestID.MatchString(g) {
			attrs = append(attrs, slog.String("global_request_id", g))
		}
		st := &requestState{id: id, log: a.log.With(attrs...)}
		rec := &statusRecorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		defer func() {
			if v := recover(); v != nil {
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				// The panic value and stack may mention request data, never secrets: handlers keep payloads
				// out of panics by construction (no panics on input), so this is a bug report.
				st.log.Error("panic serving request", slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())))
				if rec.status == 0 {
					a.writeError(rec, r, "Request", fmt.Errorf("panic: %v", v))
				}
			}
			elapsed := time.Since(start)
			route := st.route()
			a.metrics.observe(r.Method, route, rec.status, elapsed)
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelError
			}
			st.log.Log(r.Context(), level, "request",
				slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", rec.status), slog.Duration("duration", elapsed))
		}()
		if r.Method == http.MethodOptions {
			// The reference's outermost filter, oslo's CORS middleware, turns every non-2xx answer to OPTIONS
			// into an empty 200 of its own (no Content-Type, no request id), and its app never answers 2xx to
			// OPTIONS. Without allowed origins configured it adds no CORS headers either.
			st.pattern = "OPTIONS"
			rec.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("X-Openstack-Request-Id", id)
		next.ServeHTTP(rec, r)
	})
}

// route is a bounded label for logs and metrics: the matched pattern, never the raw path (which holds ids).
func (s *requestState) route() string {
	if s.pattern != "" {
		return s.pattern
	}
	return "unmatched"
}

// withTrailingSlash treats empty trailing path segments as absent: /v1/secrets/ is /v1/secrets, with no
// redirect (python-barbicanclient POSTs to collection URLs with a trailing slash).
func withTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			trimmed := strings.TrimRight(p, "/")
			if trimmed == "" {
				trimmed = "/"
			}
			r2 := r.Clone(r.Context())
			r2.URL.Path = trimmed
			r2.URL.RawPath = ""
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// withAuth establishes the caller for everything under /v1; the version root and the healthcheck are public.
func (a *API) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isV1(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		c, err := a.auth.Authenticate(r)
		if err != nil {
			status, msg := http.StatusUnauthorized, "Authentication required"
			var ae *auth.Error
			if errors.As(err, &ae) {
				status, msg = ae.Status, ae.Message
				for k, vs := range ae.Header {
					for _, v := range vs {
						w.Header().Add(k, v)
					}
				}
				if ae.Body != nil {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(status)
					if r.Method != http.MethodHead {
						_, _ = w.Write(ae.Body)
					}
					return
				}
			} else {
				logger(r).Warn("authentication failed", slog.Any("error", err))
			}
			writeErrorBody(w, r, newError(status, msg))
			return
		}
		stateOf(r).log = stateOf(r).log.With(slog.String("project_id", c.ProjectID))
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), c)))
	})
}

func isV1(path string) bool { return path == "/v1" || strings.HasPrefix(path, "/v1/") }

// Microversions of the key-manager API this server speaks: 1.0 to 1.2.
const (
	minMicroversion = 0
	maxMicroversion = 2
)

// withMicroversion parses OpenStack-API-Version and echoes the effective version on every response that
// reaches it (everything but authentication failures and the healthcheck), as microversion_parse does.
func withMicroversion(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthcheck" {
			next.ServeHTTP(w, r)
			return
		}
		minor, err := parseMicroversion(r.Header.Values("Openstack-Api-Version"))
		if err != nil {
			writeErrorBody(w, r, err)
			return
		}
		stateOf(r).version = minor
		w.Header().Set("Openstack-Api-Version", "key-manager 1."+strconv.Itoa(minor))
		w.Header().Add("Vary", "Openstack-Api-Version")
		next.ServeHTTP(w, r)
	})
}

func parseMicroversion(values []string) (int, *Error) {
	var found string
	for _, v := range values {
		for _, entry := range strings.Split(v, ",") {
			fields := strings.Fields(entry)
			if len(fields) == 2 && strings.EqualFold(fields[0], "key-manager") {
				found = fields[1]
			}
		}
	}
	switch {
	case found == "":
		return minMicroversion, nil
	case strings.EqualFold(found, "latest"):
		return maxMicroversion, nil
	}
	major, minorText, ok := strings.Cut(found, ".")
	maj, err1 := strconv.Atoi(major)
	minor, err2 := strconv.Atoi(minorText)
	if !ok || err1 != nil || err2 != nil || maj < 0 || minor < 0 {
		return 0, newError(http.StatusBadRequest, "Invalid microversion: invalid version string: "+found)
	}
	if maj != 1 || minor > maxMicroversion {
		return 0, newError(http.StatusNotAcceptable, "Invalid microversion: Unacceptable version header: "+found)
	}
	return minor, nil
}
