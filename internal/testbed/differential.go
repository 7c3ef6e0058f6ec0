package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Differential sends the same HTTP requests to a reference server and to a
// candidate and compares what a client sees of the answers: status, the
// headers clients act on, and the body. Hrefs are compared with each server's
// base URL replaced by {base}, and ids of resources created during the
// comparison by the name they were captured under, so that two servers that
// generate different UUIDs can still be compared.
type Differential struct {
	Reference, Candidate Target
	// Header is sent with every request unless the request overrides it,
	// e.g. X-Project-Id and X-Roles for two no-auth servers.
	Header map[string]string
	// WholeSeconds compares created/updated timestamps without their
	// fraction, for two servers on databases of different precision
	// (MariaDB DATETIME keeps whole seconds, SQLite microseconds).
	WholeSeconds bool
	// ExactTimestamps compares created/updated timestamps as they are, for
	// two servers reading the same rows (a takeover of one database), where
	// any difference is a misread time. Otherwise only their format is
	// compared: two servers writing their own rows have different clocks.
	ExactTimestamps bool

	ids []capturedID
}

// Target is one of the servers compared.
type Target struct {
	// URL is the base URL: scheme, host and port, no trailing slash.
	URL string
	// Client sends the requests; nil means a client of the package's own.
	Client *http.Client
}

type capturedID struct{ name, reference, candidate string }

// DiffRequest is one request sent to both servers. In Path and Body, {name}
// stands for the id captured under name on each side, and {base} for each
// server's base URL (a container's secret_ref must start with the href base
// of the server it is sent to).
type DiffRequest struct {
	Method, Path string
	// Header adds to or overrides Differential.Header; an empty value drops
	// a default header.
	Header map[string]string
	Body   string
}

// Answer is what one server answered.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Exchange is one request and both answers. They are compared with the ids
// captured by the time Differences or String is called, so that the answer
// creating a resource compares equal once Capture has named its id.
type Exchange struct {
	Request              DiffRequest
	Reference, Candidate Answer
	d                    *Differential
	unordered            []string
}

// Unordered returns the exchange with the JSON arrays under the given keys
// compared as sets: for lists a server returns in no defined order.
func (x Exchange) Unordered(keys ...string) Exchange {
	x.unordered = append(append([]string{}, x.unordered...), keys...)
	return x
}

// comparedHeaders are the response headers clients act on; the others
// (Date, Server, request ids, Content-Length) legitimately differ.
var comparedHeaders = []string{"Content-Type", "Location", "Allow", "OpenStack-API-Version"}

// requestTimeout bounds a hung server; it never decides a comparison.
const requestTimeout = 60 * time.Second

var defaultClient = &http.Client{
	Timeout: requestTimeout,
	// A redirect is an answer to compare, not to follow.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Do sends req to both servers and returns the exchange; a transport error
// fails the test.
func (d *Differential) Do(t testing.TB, req DiffRequest) Exchange {
	t.Helper()
	return d.Replay(t, req, d.Record(t, req))
}

// Record sends req to the reference alone and returns its answer, for a
// candidate that can only answer once the reference has gone: one that takes
// over the reference's database. Replay compares the two. A transport error
// fails the test.
func (d *Differential) Record(t testing.TB, req DiffRequest) Answer {
	t.Helper()
	a, err := d.send(d.Reference, req, func(c capturedID) string { return c.reference })
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	return a
}

// Replay sends req to the candidate alone and returns the exchange with the
// reference's answer recorded earlier by Record. The reference's URL still
// names its base in the recorded hrefs, so it must stay set after the
// reference has stopped. A transport error fails the test.
func (d *Differential) Replay(t testing.TB, req DiffRequest, reference Answer) Exchange {
	t.Helper()
	cand, err := d.send(d.Candidate, req, func(c capturedID) string { return c.candidate })
	if err != nil {
		t.Fatalf("candidate: %v", err)
	}
	return Exchange{Request: req, Reference: reference, Candidate: cand, d: d}
}

// views renders both answers as compared.
func (x Exchange) views() (reference, candidate []string) {
	return x.d.view(x.d.Reference.URL, x.Reference, x.unordered, func(c capturedID) string { return c.reference }),
		x.d.view(x.d.Candidate.URL, x.Candidate, x.unordered, func(c capturedID) string { return c.candidate })
}

// Capture records the ids both servers gave a resource created by x, taken
// from "secret_ref" in the body or else from the Location header, under
// name; later requests write {name} for them.
func (d *Differential) Capture(name string, x Exchange) error {
	ref, err := createdID(x.Reference)
	if err != nil {
		return fmt.Errorf("capturing %s from the reference: %w", name, err)
	}
	cand, err := createdID(x.Candidate)
	if err != nil {
		return fmt.Errorf("capturing %s from the candidate: %w", name, err)
	}
	d.ids = append(d.ids, capturedID{name: name, reference: ref, candidate: cand})
	return nil
}

// IDs returns the ids captured under name: the reference's, then the
// candidate's.
func (d *Differential) IDs(name string) (reference, candidate string, ok bool) {
	for _, c := range d.ids {
		if c.name == name {
			return c.reference, c.candidate, true
		}
	}
	return "", "", false
}

func createdID(a Answer) (string, error) {
	var body struct {
		SecretRef string `json:"secret_ref"`
	}
	ref := a.Header.Get("Location")
	if err := json.Unmarshal(a.Body, &body); err == nil && body.SecretRef != "" {
		ref = body.SecretRef
	}
	if ref == "" {
		return "", fmt.Errorf("status %d: no secret_ref and no Location: %s", a.Status, a.Body)
	}
	return ref[strings.LastIndexByte(ref, '/')+1:], nil
}

func (d *Differential) substitute(s string, id func(capturedID) string) string {
	for _, c := range d.ids {
		s = strings.ReplaceAll(s, "{"+c.name+"}", id(c))
	}
	return s
}

func (d *Differential) send(target Target, req DiffRequest, id func(capturedID) string) (Answer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var body io.Reader = http.NoBody
	if req.Body != "" {
		body = strings.NewReader(strings.ReplaceAll(d.substitute(req.Body, id), "{base}", target.URL))
	}
	url := target.URL + d.substitute(req.Path, id)
	r, err := http.NewRequestWithContext(ctx, req.Method, url, body)
	if err != nil {
		return Answer{}, fmt.Errorf("building %s %s: %w", req.Method, url, err)
	}
	for k, v := range d.Header {
		r.Header.Set(k, v)
	}
	for k, v := range req.Header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	client := target.Client
	if client == nil {
		client = defaultClient
	} else {
		c := *client
		c.CheckRedirect = defaultClient.CheckRedirect
		client = &c
	}
	resp, err := client.Do(r)
	if err != nil {
		return Answer{}, fmt.Errorf("%s %s: %w", req.Method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, fmt.Errorf("reading the answer to %s %s: %w", req.Method, url, err)
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// view renders an answer as the lines compared: the status, the compared
// headers and the body, normalised.
func (d *Differential) view(base string, a Answer, unordered []string, id func(capturedID) string) []string {
	norm := func(s string) string {
		s = strings.ReplaceAll(s, base, "{base}")
		for _, c := range d.ids {
			s = strings.ReplaceAll(s, id(c), "{"+c.name+"}")
		}
		return s
	}
	lines := []string{fmt.Sprintf("status %d", a.Status)}
	for _, h := range comparedHeaders {
		vals := a.Header.Values(h)
		if len(vals) == 0 {
			continue
		}
		v := strings.Join(vals, ", ")
		if h == "Allow" {
			v = sortedList(v)
		}
		lines = append(lines, h+": "+norm(v))
	}
	timestamps := timestampFormat
	switch {
	case d.ExactTimestamps:
		timestamps = timestampExact
	case d.WholeSeconds:
		timestamps = timestampWholeSeconds
	}
	return append(lines, "body "+bodyView(a.Body, unordered, timestamps, norm))
}

// sortedList sorts a comma-separated header value: Allow is a set.
func sortedList(v string) string {
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// bodyView renders a JSON body canonically (sorted keys, normalised
// strings, created/updated reduced to their format since the servers' clocks
// differ) and any other body as a quoted string.
func bodyView(body []byte, unordered []string, timestamps timestampView, norm func(string) string) string {
	if len(body) == 0 {
		return "(empty)"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil && !dec.More() {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		n := jsonNormaliser{unordered: unordered, timestamps: timestamps, norm: norm}
		if err := enc.Encode(n.normalise("", v)); err == nil {
			return "json " + strings.TrimSpace(b.String())
		}
	}
	return fmt.Sprintf("%q", norm(string(body)))
}

var (
	timestampRE         = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`)
	timestampFractionRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+$`)
)

// timestampView is how created/updated values are compared.
type timestampView int

const (
	timestampFormat       timestampView = iota // by format: with or without a fraction
	timestampWholeSeconds                      // by format, a fraction ignored
	timestampExact                             // as they are
)

// jsonNormaliser rewrites a decoded JSON value into what is compared.
type jsonNormaliser struct {
	unordered  []string // keys whose arrays compare as sets
	timestamps timestampView
	norm       func(string) string
}

func (n jsonNormaliser) normalise(key string, v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = n.normalise(k, e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = n.normalise(key, e)
		}
		if slices.Contains(n.unordered, key) {
			sortByJSON(out)
		}
		return out
	case string:
		if (key == "created" || key == "updated") && n.timestamps != timestampExact {
			switch {
			case timestampRE.MatchString(v), n.timestamps == timestampWholeSeconds && timestampFractionRE.MatchString(v):
				return "<timestamp>"
			case timestampFractionRE.MatchString(v):
				return "<timestamp with fraction>"
			}
		}
		return n.norm(v)
	default:
		return v
	}
}

// sortByJSON orders values by their JSON text, a canonical order for sets.
func sortByJSON(vals []any) {
	keys := make(map[int]string, len(vals))
	for i, v := range vals {
		b, _ := json.Marshal(v) // values decoded from JSON always encode
		keys[i] = string(b)
	}
	idx := make([]int, len(vals))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	sorted := make([]any, len(vals))
	for i, j := range idx {
		sorted[i] = vals[j]
	}
	copy(vals, sorted)
}

// Difference is one compared part of the answers that differs: "status",
// a header name, or "body".
type Difference struct {
	Field                string
	Reference, Candidate string
}

func (d Difference) String() string {
	return fmt.Sprintf("%s: reference %s, candidate %s", d.Field, orNone(d.Reference), orNone(d.Candidate))
}

// Differences lists the parts of the answers that differ, status first and
// body last; nil means a client could not tell the answers apart.
func (x Exchange) Differences() []Difference {
	refView, candView := x.views()
	ref, cand := indexView(refView), indexView(candView)
	var out []Difference
	for _, k := range unionKeys(ref, cand) {
		if ref[k] != cand[k] {
			out = append(out, Difference{Field: k, Reference: ref[k], Candidate: cand[k]})
		}
	}
	return out
}

// indexView keys each view line by what it is about (status, a header name,
// body).
func indexView(lines []string) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, ": ")
		if strings.HasPrefix(l, "status ") || strings.HasPrefix(l, "body ") {
			k, v, ok = strings.Cut(l, " ")
		}
		if ok {
			m[k] = v
		}
	}
	return m
}

func unionKeys(a, b map[string]string) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	// status first, body last, headers in between: the order a reader wants.
	rank := func(k string) int {
		switch k {
		case "status":
			return 0
		case "body":
			return 2
		}
		return 1
	}
	sort.Slice(keys, func(i, j int) bool {
		if rank(keys[i]) != rank(keys[j]) {
			return rank(keys[i]) < rank(keys[j])
		}
		return keys[i] < keys[j]
	})
	return keys
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// String shows the request and both normalised answers, for test logs.
func (x Exchange) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", x.Request.Method, x.Request.Path)
	keys := make([]string, 0, len(x.Request.Header))
	for k := range x.Request.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n    %s: %s", k, abbreviate(x.Request.Header[k]))
	}
	if x.Request.Body != "" {
		fmt.Fprintf(&b, "\n    body %s", abbreviate(x.Request.Body))
	}
	refView, candView := x.views()
	fmt.Fprintf(&b, "\n  reference:\n    %s", strings.Join(refView, "\n    "))
	fmt.Fprintf(&b, "\n  candidate:\n    %s", strings.Join(candView, "\n    "))
	return b.String()
}

// abbreviate keeps long request values (oversized payloads and headers)
// readable in logs.
func abbreviate(s string) string {
	const limit = 200
	if len(s) <= limit {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:limit], len(s))
}
