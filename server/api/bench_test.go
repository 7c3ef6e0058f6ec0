package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// benchClient issues requests against the test server with a pooled HTTP client.
type benchClient struct {
	base    string
	http    *http.Client
	project string
}

func (c *benchClient) do(method, path, accept string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Project-Id", c.project)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (c *benchClient) create() (string, error) {
	status, body, err := c.do("POST", "/v1/secrets", "", []byte(`{"name": "bench", "payload": "c2VjcmV0LWRhdGEtMzItYnl0ZXMtbG9uZy4uLi4=",
		"payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}`))
	if err != nil || status != http.StatusCreated {
		return "", fmt.Errorf("create: status %d, body %s: %w", status, body, err)
	}
	var out struct {
		Ref string `json:"secret_ref"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", err
	}
	return out.Ref[len(out.Ref)-36:], nil
}

// BenchmarkAPI measures the hot paths through the real handler, HTTP stack, database and simple_crypto.
func BenchmarkAPI(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkAPI(b) })
	b.Run("mariadb", func(b *testing.B) { benchmarkAPI(b, withDB(testbed.NewMySQLDatabase(b))) })
}

func benchmarkAPI(b *testing.B, opts ...setupOption) {
	s := newSetup(b, append(opts, withRealClock())...)
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &benchClient{base: s.server.URL, http: &http.Client{Transport: transport}, project: "bench"}
	seed, err := c.create()
	if err != nil {
		b.Fatal(err)
	}
	for range 200 {
		if _, err := c.create(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("create", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.create(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	for _, op := range []struct{ name, path, accept string }{
		{"payload", "/v1/secrets/" + seed + "/payload", "application/octet-stream"},
		{"metadata", "/v1/secrets/" + seed, "application/json"},
		{"list", "/v1/secrets?limit=10", "application/json"},
	} {
		b.Run(op.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if status, body, err := c.do("GET", op.path, op.accept, nil); err != nil || status != 200 {
						b.Errorf("%s: %d %v %s", op.name, status, err, body)
						return
					}
				}
			})
		})
	}
	b.Run("mix-8-clients", func(b *testing.B) { benchmarkMix(b, c, 8) })
}

// benchmarkMix is the load of the performance target: 8 clients, each looping create, payload get, list and
// metadata get of its own secret. It reports requests/s and the p99 latency.
func benchmarkMix(b *testing.B, c *benchClient, clients int) {
	var next atomic.Int64
	var mu sync.Mutex
	var latencies, creates []time.Duration
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4*b.N/clients+4)
			var localCreates []time.Duration
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				id, err := c.create()
				if err != nil {
					b.Error(err)
					return
				}
				t1 := time.Now()
				steps := []struct{ path, accept string }{
					{"/v1/secrets/" + id + "/payload", "application/octet-stream"},
					{"/v1/secrets?limit=10", "application/json"},
					{"/v1/secrets/" + id, "application/json"},
				}
				local = append(local, t1.Sub(t0))
				localCreates = append(localCreates, t1.Sub(t0))
				for _, st := range steps {
					t0 := time.Now()
					if status, body, err := c.do("GET", st.path, st.accept, nil); err != nil || status != 200 {
						b.Errorf("%s: %d %v %s", st.path, status, err, body)
						return
					}
					local = append(local, time.Since(t0))
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			creates = append(creates, localCreates...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	slices.Sort(creates)
	b.ReportMetric(float64(creates[len(creates)/2].Microseconds())/1000, "create-p50-ms")
	b.ReportMetric(float64(creates[len(creates)*99/100].Microseconds())/1000, "create-p99-ms")
}

// BenchmarkContainers measures a container read, a page of ten of the project's 200 containers, container
// creation (two secret references) and consumer registration through the real handler, on SQLite and MariaDB.
func BenchmarkContainers(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkContainers(b) })
	b.Run("mariadb", func(b *testing.B) { benchmarkContainers(b, withDB(testbed.NewMySQLDatabase(b))) })
}

func benchmarkContainers(b *testing.B, opts ...setupOption) {
	s := newSetup(b, append(opts, withRealClock())...)
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &benchClient{base: s.server.URL, http: &http.Client{Transport: transport}, project: "bench"}
	pub, err := c.create()
	if err != nil {
		b.Fatal(err)
	}
	priv, err := c.create()
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(fmt.Sprintf(`{"type": "rsa", "name": "bench", "secret_refs": [{"name": "public_key", "secret_ref": %q},
		{"name": "private_key", "secret_ref": %q}]}`, s.secretRef(pub), s.secretRef(priv)))
	create := func() (string, error) {
		status, resp, err := c.do("POST", "/v1/containers", "", body)
		if err != nil || status != http.StatusCreated {
			return "", fmt.Errorf("create container: status %d, body %s: %w", status, resp, err)
		}
		var out struct {
			Ref string `json:"container_ref"`
		}
		err = json.Unmarshal(resp, &out)
		return idOf(out.Ref), err
	}
	// 200 containers: the list reads their first page, consumers are spread over them (every registration answers
	// with the whole container, consumers included, so piling them on one would measure the response's growth).
	seeds := make([]string, 200)
	for i := range seeds {
		if seeds[i], err = create(); err != nil {
			b.Fatal(err)
		}
	}
	seed := seeds[0]
	for _, op := range []struct{ name, path string }{
		{"get", "/v1/containers/" + seed},
		{"list", "/v1/containers?limit=10"},
	} {
		b.Run(op.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if status, body, err := c.do("GET", op.path, "application/json", nil); err != nil || status != 200 {
						b.Errorf("%s: %d %v %s", op.name, status, err, body)
						return
					}
				}
			})
		})
	}
	b.Run("create", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := create(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	var n atomic.Int64
	b.Run("consumer-add", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				consumer := []byte(fmt.Sprintf(`{"name": "c%d", "URL": "http://consumer"}`, i))
				path := "/v1/containers/" + seeds[i%int64(len(seeds))] + "/consumers"
				if status, body, err := c.do("POST", path, "", consumer); err != nil || status != 200 {
					b.Errorf("consumer-add: %d %v %s", status, err, body)
					return
				}
			}
		})
	})
}
