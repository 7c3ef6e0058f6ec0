package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func hashLine(token, rest string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:]) + " " + rest + "\n"
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, path, "# comment\n\n"+hashLine("tok-a", "proj-a user-a Admin,creator")+hashLine("tok-b", "proj-b user-b observer"))
	clock := &fakeClock{now: time.Unix(1000, 0)}
	f, err := NewTokenFile(TokenFileConfig{Path: path, AdminRole: "admin", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	get := func(token string) (*Context, error) {
		r, _ := http.NewRequest(http.MethodGet, "/v1/secrets", nil)
		if token != "" {
			r.Header.Set("X-Auth-Token", token)
		}
		return f.Authenticate(r)
	}
	c, err := get("tok-a")
	if err != nil || c.ProjectID != "proj-a" || c.UserID != "user-a" || !slices.Equal(c.Roles, []string{"admin", "creator"}) || !c.IsAdmin {
		t.Fatalf("tok-a: %+v %v", c, err)
	}
	for _, tok := range []string{"", "tok-c", hashLine("tok-a", "")[:71]} {
		_, err := get(tok)
		wantStatus(t, err, http.StatusUnauthorized)
	}

	// A change is picked up once the reload interval has passed; a broken change keeps the old tokens.
	writeFile(t, path, hashLine("tok-c", "proj-c user-c reader"))
	if _, err := get("tok-c"); err == nil {
		t.Fatal("the file should not be read again within the reload interval")
	}
	clock.Set(clock.Now().Add(2 * time.Second))
	if c, err := get("tok-c"); err != nil || c.ProjectID != "proj-c" {
		t.Fatalf("tok-c after the reload: %+v %v", c, err)
	}
	if _, err := get("tok-a"); err == nil {
		t.Fatal("a token removed from the file should be refused")
	}
	writeFile(t, path, "tok-d proj user admin\n")
	clock.Set(clock.Now().Add(2 * time.Second))
	if _, err := get("tok-c"); err != nil {
		t.Fatalf("a broken file should keep the tokens in force: %v", err)
	}
}

func TestTokenFileRefusesBadLines(t *testing.T) {
	cases := map[string]string{
		"a plain token":   "s3cr3t-token proj user admin\n",
		"missing roles":   hashLine("t", "proj user"),
		"duplicate token": hashLine("t", "p u admin") + hashLine("t", "p u reader"),
		"long project":    hashLine("t", strings.Repeat("p", 256)+" u admin"),
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens")
			writeFile(t, path, text)
			_, err := NewTokenFile(TokenFileConfig{Path: path})
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the error shows the line's content: %v", err)
			}
		})
	}
}
