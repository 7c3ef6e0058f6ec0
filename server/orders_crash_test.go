package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashClient talks to the server under test as one project.
type crashClient struct {
	http    *http.Client
	base    string
	project string
}

func (c *crashClient) do(ctx context.Context, method, path, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Project-Id", c.project)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// getJSON GETs path and decodes the object it answers, failing the test on anything but 200.
func (c *crashClient) getJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	status, body, err := c.do(context.Background(), "GET", path, "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", path, status, body, err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func lastSegment(ref any) string {
	s, _ := ref.(string)
	return s[strings.LastIndexByte(s, '/')+1:]
}

// TestAcknowledgedOrdersSurviveKill9 orders symmetric keys and RSA key pairs from concurrent clients, kills the
// server with SIGKILL while orders are queued and being generated, restarts it on the same data directory, and
// checks that every order -- every acknowledged one among them -- reaches ACTIVE with exactly one result: the
// project holds exactly the secrets its orders made, none lost, none twice.
func TestAcknowledgedOrdersSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := buildBinary(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)
	server := startServer(t, bin, dataDir, addr, "--order-workers", "2")
	c := &crashClient{http: &http.Client{Timeout: 10 * time.Second}, base: "http://" + addr, project: "order-crash"}

	var mu sync.Mutex
	acked := map[string]string{} // order id -> type
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		orderType, meta := "key", `{"algorithm": "aes", "bit_length": 256, "mode": "cbc"}`
		if w < 2 {
			// RSA generation keeps the two workers busy, so orders queue up behind it.
			orderType, meta = "asymmetric", `{"algorithm": "rsa", "bit_length": 2048}`
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				body := fmt.Sprintf(`{"type": %q, "meta": %s}`, orderType, strings.Replace(meta, "{",
					fmt.Sprintf(`{"name": "w%d-%d", `, w, i), 1))
				status, b, err := c.do(ctx, "POST", "/v1/orders", body)
				if err != nil {
					return // the server is gone
				}
				var out struct {
					Ref string `json:"order_ref"`
				}
				if status == http.StatusAccepted && json.Unmarshal(b, &out) == nil {
					mu.Lock()
					acked[lastSegment(out.Ref)] = orderType
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once enough orders of both kinds were acknowledged. The deadline only bounds a broken server.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n, pairs := len(acked), 0
		for _, typ := range acked {
			if typ == "asymmetric" {
				pairs++
			}
		}
		mu.Unlock()
		if n >= 200 && pairs >= 10 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatalf("only %d orders (%d key pairs) were acknowledged before the deadline", n, pairs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stored := c.getJSON(t, "/v1/orders?limit=1")["total"]
	if err := server.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = server.Wait()
	cancel()
	wg.Wait()
	t.Logf("killed with %d orders acknowledged (%v in the database)", len(acked), stored)

	startServer(t, bin, dataDir, addr, "--order-workers", "2")
	// Every order of the project, acknowledged or not, must finish; orders claimed at the kill are taken again
	// once their lease runs out.
	all := map[string]map[string]any{}
	for offset := 0; ; offset += 100 {
		page := c.getJSON(t, fmt.Sprintf("/v1/orders?limit=100&offset=%d", offset))
		items, _ := page["orders"].([]any)
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			o := it.(map[string]any)
			all[lastSegment(o["order_ref"])] = o
		}
	}
	pendingAtKill := 0
	for id, o := range all {
		if o["status"] == "PENDING" {
			pendingAtKill++
		}
		deadline := time.Now().Add(3 * time.Minute)
		for o["status"] == "PENDING" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			o = c.getJSON(t, "/v1/orders/"+id)
		}
		all[id] = o
	}
	if pendingAtKill == 0 {
		t.Error("the kill should have left orders PENDING; the test proved nothing")
	}
	wantSecrets := 0
	for id, o := range all {
		switch {
		case o["status"] != "ACTIVE":
			t.Errorf("order %s did not reach ACTIVE: %v", id, o)
		case o["type"] == "key" && o["secret_ref"] != nil:
			wantSecrets++
			c.getJSON(t, "/v1/secrets/"+lastSegment(o["secret_ref"]))
		case o["type"] == "asymmetric" && o["container_ref"] != nil:
			wantSecrets += 2
		default:
			t.Errorf("order %s has no result: %v", id, o)
		}
	}
	for id := range acked {
		if _, ok := all[id]; !ok {
			t.Errorf("acknowledged order %s was lost", id)
		}
	}
	got := c.getJSON(t, "/v1/secrets?limit=1")["total"]
	if got != float64(wantSecrets) {
		t.Errorf("the %d orders should have made exactly %d secrets, the project has %v", len(all), wantSecrets, got)
	}
	t.Logf("%d orders (%d acknowledged, %d PENDING after the kill) all ACTIVE with %d secrets", len(all), len(acked),
		pendingAtKill, wantSecrets)
}
