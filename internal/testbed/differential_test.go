package testbed

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeServer answers like a tiny secrets API: POST creates id, GET lists
// what the test sets, every answer uses the server's own base URL.
type fakeServer struct {
	*httptest.Server
	id       string
	allow    string
	list     string // JSON of the list answer; {base} is replaced
	created  string
	gotBody  string
	gotProj  string
	gotExtra string
}

func newFakeServer(t *testing.T, id string) *fakeServer {
	f := &fakeServer{id: id, allow: "GET, POST", created: "2024-01-02T03:04:05"}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.gotBody, f.gotProj, f.gotExtra = string(body), r.Header.Get("X-Project-Id"), r.Header.Get("X-Extra")
		ref := f.URL + "/v1/secrets/" + f.id
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST":
			w.Header().Set("Location", ref)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"secret_ref": %q}`, ref)
		case r.URL.Path == "/v1/secrets/"+f.id:
			fmt.Fprintf(w, `{"secret_ref": %q, "created": %q}`, ref, f.created)
		case r.Method == "GET" && r.URL.Path == "/v1/secrets":
			fmt.Fprint(w, strings.ReplaceAll(f.list, "{base}", f.URL))
		default:
			w.Header().Set("Allow", f.allow)
			w.WriteHeader(http.StatusMethodNotAllowed)
			fmt.Fprint(w, `{"code": 405}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func TestDifferential(t *testing.T) {
	ref := newFakeServer(t, "11111111-1111-4111-8111-111111111111")
	cand := newFakeServer(t, "22222222-2222-4222-8222-222222222222")
	d := &Differential{Reference: Target{URL: ref.URL}, Candidate: Target{URL: cand.URL},
		Header: map[string]string{"X-Project-Id": "p", "X-Extra": "default"}}

	x := d.Do(t, DiffRequest{Method: "POST", Path: "/v1/secrets", Body: `{}`, Header: map[string]string{"X-Extra": ""}})
	if len(x.Differences()) == 0 {
		t.Error("before capture, two different ids should differ")
	}
	if ref.gotProj != "p" || ref.gotExtra != "" || cand.gotBody != "{}" {
		t.Errorf("default headers should be sent and an empty override should drop one: project %q, extra %q, body %q",
			ref.gotProj, ref.gotExtra, cand.gotBody)
	}
	if err := d.Capture("s", x); err != nil {
		t.Fatal(err)
	}
	if diffs := x.Differences(); diffs != nil {
		t.Errorf("after capture, hrefs differing only by base URL and id should compare equal: %v", diffs)
	}

	t.Run("placeholders become each side's id", func(t *testing.T) {
		x := d.Do(t, DiffRequest{Method: "GET", Path: "/v1/secrets/{s}"})
		if x.Reference.Status != 200 || x.Candidate.Status != 200 {
			t.Fatalf("each server should get its own id: %d, %d", x.Reference.Status, x.Candidate.Status)
		}
		if diffs := x.Differences(); diffs != nil {
			t.Errorf("equal answers should not differ: %v", diffs)
		}
	})
	t.Run("timestamps compare by format", func(t *testing.T) {
		cand.created = "2030-12-31T23:59:59.123456"
		defer func() { cand.created = ref.created }()
		diffs := d.Do(t, DiffRequest{Method: "GET", Path: "/v1/secrets/{s}"}).Differences()
		if len(diffs) != 1 || diffs[0].Field != "body" || !strings.Contains(diffs[0].Candidate, "<timestamp with fraction>") {
			t.Errorf("a fraction should show as a format difference, got %v", diffs)
		}
		d.WholeSeconds = true
		defer func() { d.WholeSeconds = false }()
		if diffs := d.Do(t, DiffRequest{Method: "GET", Path: "/v1/secrets/{s}"}).Differences(); diffs != nil {
			t.Errorf("with WholeSeconds a fraction should not count: %v", diffs)
		}
	})
	t.Run("a recorded answer compares with a candidate asked later", func(t *testing.T) {
		gone := newFakeServer(t, ref.id)
		rd := &Differential{Reference: Target{URL: gone.URL}, Candidate: Target{URL: cand.URL}, ExactTimestamps: true}
		if err := rd.Capture("s", rd.Do(t, DiffRequest{Method: "POST", Path: "/v1/secrets", Body: `{}`})); err != nil {
			t.Fatal(err)
		}
		req := DiffRequest{Method: "GET", Path: "/v1/secrets/{s}"}
		recorded := rd.Record(t, req)
		gone.Close()
		x := rd.Replay(t, req, recorded)
		if x.Reference.Status != http.StatusOK || x.Candidate.Status != http.StatusOK {
			t.Fatalf("both answers should be the secret: %d, %d", x.Reference.Status, x.Candidate.Status)
		}
		if diffs := x.Differences(); diffs != nil {
			t.Errorf("the recorded answer should equal the candidate's, hrefs by the gone server's base: %v", diffs)
		}
		cand.created = "2024-01-02T03:04:06"
		defer func() { cand.created = ref.created }()
		diffs := rd.Replay(t, req, recorded).Differences()
		if len(diffs) != 1 || !strings.Contains(diffs[0].Reference, "03:04:05") || !strings.Contains(diffs[0].Candidate, "03:04:06") {
			t.Errorf("with ExactTimestamps another time of the same format should differ by value, got %v", diffs)
		}
	})
	t.Run("Allow compares as a set, other headers exactly", func(t *testing.T) {
		cand.allow = "POST,GET"
		x := d.Do(t, DiffRequest{Method: "PATCH", Path: "/v1/secrets"})
		if x.Reference.Status != http.StatusMethodNotAllowed {
			t.Fatalf("the fake should answer PATCH with 405, got %d", x.Reference.Status)
		}
		if diffs := x.Differences(); diffs != nil {
			t.Errorf("the same methods in another order should not differ: %v", diffs)
		}
		cand.allow = "GET, HEAD, POST"
		diffs := d.Do(t, DiffRequest{Method: "PATCH", Path: "/v1/secrets"}).Differences()
		if len(diffs) != 1 || diffs[0].Field != "Allow" {
			t.Errorf("an extra method should be an Allow difference, got %v", diffs)
		}
	})
	t.Run("lists compare in order unless unordered", func(t *testing.T) {
		ref.list = `{"secrets": [{"secret_ref": "{base}/v1/secrets/` + ref.id + `"}, {"name": "b"}], "total": 2}`
		cand.list = `{"secrets": [{"name": "b"}, {"secret_ref": "{base}/v1/secrets/` + cand.id + `"}], "total": 2}`
		x := d.Do(t, DiffRequest{Method: "GET", Path: "/v1/secrets"})
		if len(x.Differences()) != 1 {
			t.Errorf("the same items in another order should differ, got %v", x.Differences())
		}
		if diffs := x.Unordered("secrets").Differences(); diffs != nil {
			t.Errorf("as a set the lists should be equal: %v", diffs)
		}
		cand.list = `{"secrets": [{"name": "b"}], "total": 2}`
		if diffs := d.Do(t, DiffRequest{Method: "GET", Path: "/v1/secrets"}).Unordered("secrets").Differences(); len(diffs) != 1 {
			t.Errorf("a missing item should differ even as a set, got %v", diffs)
		}
	})
	t.Run("a difference names the field and both values", func(t *testing.T) {
		got := Difference{Field: "status", Reference: "406", Candidate: ""}.String()
		if got != "status: reference 406, candidate (none)" {
			t.Errorf("got %q", got)
		}
	})
}
