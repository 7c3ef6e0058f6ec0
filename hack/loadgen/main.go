// Command loadgen drives a Barbican v1 API (keymanager or the reference) with the mix of the performance
// target: N clients, each looping create / payload get / list / metadata get through the no-auth headers, and
// prints throughput and latency percentiles. It runs as its own process so that a measurement of a server
// includes everything a real client costs it, and so that keymanager and the reference are measured the same
// way in one window:
//
//	go run ./hack/loadgen -url http://127.0.0.1:9311 -clients 8 -duration 20s
//
// Every create it counts as acknowledged answered 201; -acked FILE writes their ids, one per line, so a crash
// test can check each of them afterwards.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:9311", "base URL of the Barbican API")
	clients := flag.Int("clients", 8, "concurrent clients")
	duration := flag.Duration("duration", 20*time.Second, "how long to run")
	warmup := flag.Duration("warmup", 2*time.Second, "load before measuring starts")
	project := flag.String("project", "loadgen", "X-Project-Id of every request")
	acked := flag.String("acked", "", "file to write the ids of acknowledged creates to")
	jsonOut := flag.Bool("json", false, "print the result as JSON")
	flag.Parse()

	transport := &http.Transport{MaxIdleConns: *clients * 2, MaxIdleConnsPerHost: *clients * 2}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	base := strings.TrimRight(*url, "/")

	var (
		mu      sync.Mutex
		lat     = map[string][]time.Duration{}
		errs    = map[string]int{}
		ids     []string
		measure = make(chan struct{})
		stop    = make(chan struct{})
	)
	record := func(op string, d time.Duration, ok bool, measuring bool) {
		if !measuring {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if ok {
			lat[op] = append(lat[op], d)
		} else {
			errs[op]++
		}
	}
	// A Keystone or token-file token comes from the environment: a command line is visible to every user.
	token := os.Getenv("KEYMANAGER_LOADGEN_TOKEN")
	do := func(method, path, accept string, body []byte) (int, []byte, time.Duration) {
		req, err := http.NewRequestWithContext(context.Background(), method, base+path, bytes.NewReader(body))
		if err != nil {
			return 0, nil, 0
		}
		req.Header.Set("X-Project-Id", *project)
		if token != "" {
			req.Header.Set("X-Auth-Token", token)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, time.Since(start)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, data, time.Since(start)
	}
	var wg sync.WaitGroup
	for i := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for {
				measuring := false
				select {
				case <-stop:
					return
				case <-measure:
					measuring = true
				default:
				}
				n++
				body := fmt.Appendf(nil, `{"name": "load-%d-%d", "payload": "s3cr3t-%d", "payload_content_type": "text/plain"}`, i, n, n)
				status, data, d := do("POST", "/v1/secrets", "", body)
				record("create", d, status == 201, measuring)
				if status != 201 {
					continue
				}
				var created struct {
					Ref string `json:"secret_ref"`
				}
				_ = json.Unmarshal(data, &created)
				id := created.Ref[strings.LastIndexByte(created.Ref, '/')+1:]
				if *acked != "" {
					mu.Lock()
					ids = append(ids, id)
					mu.Unlock()
				}
				status, _, d = do("GET", "/v1/secrets/"+id+"/payload", "text/plain", nil)
				record("payload", d, status == 200, measuring)
				status, _, d = do("GET", "/v1/secrets?limit=10", "application/json", nil)
				record("list", d, status == 200, measuring)
				status, _, d = do("GET", "/v1/secrets/"+id, "application/json", nil)
				record("metadata", d, status == 200, measuring)
			}
		}()
	}
	time.Sleep(*warmup)
	close(measure)
	start := time.Now()
	time.Sleep(*duration)
	close(stop)
	elapsed := time.Since(start)
	wg.Wait()

	if *acked != "" {
		if err := os.WriteFile(*acked, []byte(strings.Join(ids, "\n")+"\n"), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	type opResult struct {
		Requests int     `json:"requests"`
		Errors   int     `json:"errors"`
		P50ms    float64 `json:"p50_ms"`
		P99ms    float64 `json:"p99_ms"`
	}
	result := struct {
		URL       string              `json:"url"`
		Clients   int                 `json:"clients"`
		Seconds   float64             `json:"seconds"`
		PerSecond float64             `json:"requests_per_second"`
		P50ms     float64             `json:"p50_ms"`
		P99ms     float64             `json:"p99_ms"`
		Errors    int                 `json:"errors"`
		Ops       map[string]opResult `json:"ops"`
	}{URL: base, Clients: *clients, Seconds: elapsed.Seconds(), Ops: map[string]opResult{}}
	var all []time.Duration
	for op, ds := range lat {
		slices.Sort(ds)
		all = append(all, ds...)
		result.Ops[op] = opResult{Requests: len(ds), Errors: errs[op], P50ms: ms(pct(ds, 50)), P99ms: ms(pct(ds, 99))}
	}
	for _, n := range errs {
		result.Errors += n
	}
	slices.Sort(all)
	result.PerSecond = float64(len(all)) / elapsed.Seconds()
	result.P50ms, result.P99ms = ms(pct(all, 50)), ms(pct(all, 99))
	if *jsonOut {
		_ = json.NewEncoder(os.Stdout).Encode(result)
		return
	}
	fmt.Printf("%s: %d clients, %.1f s: %.0f req/s, p50 %.1f ms, p99 %.1f ms, %d errors\n", base, *clients,
		elapsed.Seconds(), result.PerSecond, result.P50ms, result.P99ms, result.Errors)
	for _, op := range []string{"create", "payload", "list", "metadata"} {
		r := result.Ops[op]
		fmt.Printf("  %-9s %7d requests  p50 %6.1f ms  p99 %6.1f ms  %d errors\n", op, r.Requests, r.P50ms, r.P99ms, r.Errors)
	}
	if result.Errors > 0 {
		os.Exit(1)
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
