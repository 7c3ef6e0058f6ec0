package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds the keymanager binary once for the crash test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "keymanager")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/keymanager-io/keymanager")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building keymanager: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer starts `keymanager serve` and waits until /healthcheck answers (polling a real process is the
// only way to know it listens; the wait is bounded by a deadline, nothing is asserted on time).
func startServer(t *testing.T, bin, dataDir, addr string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr, "--data-dir", dataDir, "--log-level", "warn"},
		args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/healthcheck")
		if err == nil {
			resp.Body.Close()
			return cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("keymanager did not start listening on %s", addr)
	return nil
}

// TestAcknowledgedWritesSurviveKill9 creates secrets from 8 concurrent clients, kills the server with SIGKILL in
// the middle of the stream, restarts it on the same data directory and reads back every secret that was
// acknowledged with a 201: group commit must never acknowledge a write before it is durable.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := buildBinary(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)
	server := startServer(t, bin, dataDir, addr)

	client := &http.Client{Timeout: 10 * time.Second}
	var mu sync.Mutex
	acked := map[string]string{} // id -> payload
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				payload := fmt.Sprintf("w%d-secret-%d", w, i)
				body := `{"payload": "` + payload + `", "payload_content_type": "text/plain"}`
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/secrets", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Project-Id", "crash")
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					continue
				}
				var out struct {
					Ref string `json:"secret_ref"`
				}
				if json.Unmarshal(b, &out) == nil {
					mu.Lock()
					acked[out.Ref[strings.LastIndexByte(out.Ref, '/')+1:]] = payload
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once a few hundred writes were acknowledged, while the clients keep writing. The deadline only
	// bounds a broken server; nothing is asserted on how long the writes take.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatalf("only %d writes were acknowledged before the deadline", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := server.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = server.Wait()
	cancel()
	wg.Wait()

	startServer(t, bin, dataDir, addr)
	mu.Lock()
	defer mu.Unlock()
	for id, payload := range acked {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/secrets/"+id+"/payload", nil)
		req.Header.Set("X-Project-Id", "crash")
		req.Header.Set("Accept", "text/plain")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != payload {
			t.Errorf("acknowledged secret %s lost after kill -9: %d %q", id, resp.StatusCode, b)
		}
	}
	t.Logf("%d acknowledged secrets all survived kill -9", len(acked))
}
