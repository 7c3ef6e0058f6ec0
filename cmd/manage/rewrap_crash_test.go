package manage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server"
	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/crypto/p11crypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// TestRewrapKilledMidwayCompletesOnRerun kills `keymanager manage hsm rewrap-pkek` with SIGKILL once it has
// reported progress, then runs it again: the rerun finishes, every row ends on the new labels, and every pKEK
// verifies and unwraps under them.
func TestRewrapKilledMidwayCompletesOnRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	tok := testbed.NewSoftHSM2Token(t)
	env := map[string]string{config.EnvP11PIN: tok.PIN}
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "km.db")
	old, next := softHSM2Flags(tok, "mkek_0", "hmac_0"), softHSM2Flags(tok, "mkek_1", "hmac_1")
	for _, flags := range [][]string{old, next} {
		if out, err := run(t, env, append([]string{"hsm", "ensure-keys"}, flags...)...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	const rows = 3000
	fillPKEKs(t, p11Config(tok, "mkek_0", "hmac_0"), dbURL, rows)
	plugin, err := server.OpenP11Plugin(context.Background(), p11Config(tok, "mkek_1", "hmac_1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plugin.Module().Close()

	bin := filepath.Join(t.TempDir(), "keymanager")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/keymanager-io/keymanager").CombinedOutput(); err != nil {
		t.Fatalf("building keymanager: %v\n%s", err, out)
	}
	args := append([]string{"manage", "hsm", "rewrap-pkek", "--db-url", dbURL, "--workers", "1"}, next...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), config.EnvP11PIN+"="+tok.PIN)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill at the first progress line: a few rows rewrapped, most not.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no progress from rewrap-pkek: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	db, err := store.Open(context.Background(), dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	left, err := p11crypto.Remaining(context.Background(), db, plugin)
	if err != nil || left == 0 || left == rows {
		t.Fatalf("after the kill at %q: %d of %d rows left on the old labels (%v); want some done, some not",
			strings.TrimSpace(line), left, rows, err)
	}
	out, err := run(t, env, args[1:]...)
	if err != nil || !strings.Contains(out, fmt.Sprintf("rewrapped %d of %d", left, left)) ||
		!strings.Contains(out, "0 project KEKs remain on other labels") {
		t.Fatalf("the rerun after the kill (%d rows left): %v\n%s", left, err, out)
	}
	checked := 0
	err = p11crypto.EachWrapped(context.Background(), db, func(row store.KEKMeta, w hsm.WrappedKey, err error) error {
		if err == nil && (w.MKEKLabel != "mkek_1" || w.HMACLabel != "hmac_1") {
			err = fmt.Errorf("under %s/%s", w.MKEKLabel, w.HMACLabel)
		}
		if err == nil {
			err = plugin.Module().CheckPKEK(context.Background(), w, plugin.Settings())
		}
		if err != nil {
			return fmt.Errorf("kek_data %s: %w", row.ID, err)
		}
		checked++
		return nil
	})
	if err != nil || checked != rows {
		t.Fatalf("%d of %d rows verified: %v", checked, rows, err)
	}
	t.Logf("killed at %q with %d of %d rows left; the rerun rewrapped them", strings.TrimSpace(line), left, rows)
}

// p11Config is the SoftHSM2 configuration of tok with the given labels.
func p11Config(tok testbed.SoftHSM2Token, mkek, hmac string) config.P11 {
	p := config.DefaultP11()
	p.LibraryPath, p.TokenLabels, p.PIN, p.OSLockingOK = tok.Module, []string{tok.Label}, hsm.PIN(tok.PIN), true
	p.MKEKLabel, p.HMACLabel = mkek, hmac
	p.HMACKeyType, p.HMACKeygenMechanism = "CKK_GENERIC_SECRET", "CKM_GENERIC_SECRET_KEY_GEN"
	p.KeyWrapMechanism, p.KeyWrapGenerateIV = "CKM_AES_KEY_WRAP_PAD", false
	return p
}

// fillPKEKs binds n p11_crypto project KEKs with p, one project each, in one transaction.
func fillPKEKs(t *testing.T, p config.P11, dbURL string, n int) {
	t.Helper()
	ctx := context.Background()
	plugin, err := server.OpenP11Plugin(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plugin.Module().Close()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	keks := make([]crypto.KEK, n)
	for i := range keks {
		keks[i].Label = fmt.Sprintf("project-%d-key", i)
		if err := plugin.BindKEK(ctx, &keks[i]); err != nil {
			t.Fatal(err)
		}
		_ = plugin.Module().ForgetPKEK(ctx, keks[i].Label)
	}
	err = db.Write(ctx, func(tx *store.Tx) error {
		for i, k := range keks {
			pid, err := tx.EnsureProject(fmt.Sprintf("project-%d", i))
			if err != nil {
				return err
			}
			if err := tx.CreateKEK(&store.KEKDatum{PluginName: p11crypto.ClassPath, KEKLabel: &k.Label, ProjectID: pid,
				BindCompleted: true, Algorithm: &k.Algorithm, BitLength: &k.BitLength, Mode: &k.Mode,
				PluginMeta: &k.PluginMeta}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
