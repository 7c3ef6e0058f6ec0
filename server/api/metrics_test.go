package api

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetricLabelsAreBounded sends requests with a made-up method through the whole handler and checks that
// the method label folds it into "OTHER", so an unauthenticated client cannot mint series.
func TestMetricLabelsAreBounded(t *testing.T) {
	s := newSetup(t)
	for _, method := range []string{"BREW", "X-" + strings.Repeat("A", 200)} {
		req, err := http.NewRequest(method, s.server.URL+"/v1/secrets", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	resp, err := http.Get(s.server.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	if strings.Contains(text, "BREW") || strings.Contains(text, "X-AAA") {
		t.Fatalf("a client-chosen method became a label:\n%s", text)
	}
	if !strings.Contains(text, `keymanager_http_requests_total{code=`) || !strings.Contains(text, `method="OTHER"`) {
		t.Fatalf(`want the made-up methods counted as method="OTHER":\n%s`, text)
	}
}

func TestStatusLabel(t *testing.T) {
	for status, want := range map[int]string{0: "200", 200: "200", 404: "404", 418: "418", 299: "2xx", 599: "5xx", 999: "other"} {
		if got := statusLabel(status); got != want {
			t.Errorf("statusLabel(%d) = %q, want %q", status, got, want)
		}
	}
}
