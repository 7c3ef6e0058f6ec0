package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TokenFile authenticates X-Auth-Token against a file of static tokens, for small installations without
// Keystone. The file holds only SHA-256 hashes of the tokens, one per line with the caller they stand for:
//
//	# sha256:<hex of SHA-256(token)>  project  user  roles (comma separated)
//	sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae  demo  alice  admin
//
// The file is read again when it changes (checked at most once per ReloadInterval); a change that does not
// parse is logged and the previous tokens stay in force.
type TokenFile struct {
	path           string
	adminRole      string
	reloadInterval time.Duration
	now            func() time.Time
	log            *slog.Logger

	table     atomic.Pointer[tokenTable]
	reloading sync.Mutex // one reader of the file at a time; others keep using the current table
}

type tokenTable struct {
	callers   map[tokenKey]*Context
	sum       [sha256.Size]byte // of the file's bytes, to notice a change
	checkedAt time.Time
}

// TokenFileConfig configures NewTokenFile.
type TokenFileConfig struct {
	Path      string
	AdminRole string
	// ReloadInterval bounds how often the file is checked for changes; 0 means once a second.
	ReloadInterval time.Duration
	Now            func() time.Time
	Logger         *slog.Logger
}

// NewTokenFile reads the token file; a file that cannot be read or parsed stops the start.
func NewTokenFile(cfg TokenFileConfig) (*TokenFile, error) {
	f := &TokenFile{path: cfg.Path, adminRole: strings.ToLower(cfg.AdminRole), reloadInterval: cfg.ReloadInterval,
		now: cfg.Now, log: cfg.Logger}
	if f.adminRole == "" {
		f.adminRole = "admin"
	}
	if f.reloadInterval <= 0 {
		f.reloadInterval = time.Second
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	b, err := os.ReadFile(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	t, err := f.parse(b)
	if err != nil {
		return nil, err
	}
	f.table.Store(t)
	return f, nil
}

// Len is how many tokens are in force.
func (f *TokenFile) Len() int { return len(f.table.Load().callers) }

var errUnknownToken = &Error{Status: http.StatusUnauthorized, Message: "The request you have made requires authentication."}

// Authenticate returns the caller X-Auth-Token stands for in the file.
func (f *TokenFile) Authenticate(r *http.Request) (*Context, error) {
	f.maybeReload()
	token := r.Header.Get("X-Auth-Token")
	if token == "" {
		return nil, errUnknownToken
	}
	c, ok := f.table.Load().callers[keyOf(token)]
	if !ok {
		return nil, errUnknownToken
	}
	return c, nil
}

// maybeReload reads the file again once the reload interval has passed since the last look, without making
// any request wait for another's read.
func (f *TokenFile) maybeReload() {
	cur := f.table.Load()
	now := f.now()
	if now.Sub(cur.checkedAt) < f.reloadInterval || !f.reloading.TryLock() {
		return
	}
	defer f.reloading.Unlock()
	cur = f.table.Load()
	b, err := os.ReadFile(f.path)
	if err != nil {
		f.log.Error("cannot read the token file; the tokens read before stay in force", slog.String("path", f.path),
			slog.String("error", err.Error()))
		f.table.Store(&tokenTable{callers: cur.callers, sum: cur.sum, checkedAt: now})
		return
	}
	if sha256.Sum256(b) == cur.sum {
		f.table.Store(&tokenTable{callers: cur.callers, sum: cur.sum, checkedAt: now})
		return
	}
	next, err := f.parse(b)
	if err != nil {
		f.log.Error("the changed token file does not parse; the tokens read before stay in force",
			slog.String("error", err.Error()))
		f.table.Store(&tokenTable{callers: cur.callers, sum: sha256.Sum256(b), checkedAt: now})
		return
	}
	next.checkedAt = now
	f.table.Store(next)
	f.log.Info("token file reloaded", slog.String("path", f.path), slog.Int("tokens", len(next.callers)))
}

// parse reads the file's lines. Errors name the line, never its content (a mistaken line may hold a token).
func (f *TokenFile) parse(b []byte) (*tokenTable, error) {
	t := &tokenTable{callers: map[tokenKey]*Context{}, sum: sha256.Sum256(b), checkedAt: f.now()}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 4 {
			return nil, fmt.Errorf("token file %s line %d: want 4 fields (sha256:HASH project user roles), got %d",
				f.path, n, len(fields))
		}
		hexHash, ok := strings.CutPrefix(fields[0], "sha256:")
		raw, err := hex.DecodeString(hexHash)
		if !ok || err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("token file %s line %d: the first field must be sha256: and the 64 hex digits "+
				"of the token's SHA-256 (e.g. printf %%s \"$TOKEN\" | sha256sum), never the token itself", f.path, n)
		}
		c := &Context{ProjectID: fields[1], UserID: fields[2], Roles: ParseRoles([]string{fields[3]})}
		for _, id := range []struct{ name, v string }{{"project", c.ProjectID}, {"user", c.UserID}} {
			if err := checkID(id.name, id.v); err != nil {
				return nil, fmt.Errorf("token file %s line %d: %w", f.path, n, err)
			}
		}
		for _, role := range c.Roles {
			if role == f.adminRole {
				c.IsAdmin = true
			}
		}
		key := tokenKey(raw)
		if _, dup := t.callers[key]; dup {
			return nil, fmt.Errorf("token file %s line %d: the same token appears twice", f.path, n)
		}
		t.callers[key] = c
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("token file %s: %w", f.path, err)
	}
	return t, nil
}
