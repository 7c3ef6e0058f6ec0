package simplecrypto

import (
	"context"
	"errors"
	"testing"

	"github.com/keymanager-io/keymanager/server/crypto"
)

func TestCheckKEK(t *testing.T) {
	ctx := context.Background()
	keys := newKeys(t, 2)
	oldKEK, newKEK := keys[0], keys[1]
	writer := newPlugin(t, []Key{oldKEK}, Options{})
	kek := boundKEK(t, writer, "project-p-key-1")
	if err := writer.CheckKEK(ctx, kek); err != nil {
		t.Fatalf("the KEK that wrapped it should unwrap it: %v", err)
	}
	if err := newPlugin(t, []Key{newKEK, oldKEK}, Options{}).CheckKEK(ctx, kek); err != nil {
		t.Fatalf("a retired KEK listed after the active one should unwrap it: %v", err)
	}
	err := newPlugin(t, []Key{newKEK}, Options{}).CheckKEK(ctx, kek)
	if want := "simple_crypto KEK project-p-key-1: " + crypto.ErrKEKUnwrap.Error(); err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if err := writer.CheckKEK(ctx, crypto.KEK{Label: "unbound"}); !errors.Is(err, crypto.ErrKEKNotBound) {
		t.Fatalf("an unbound row: got %v", err)
	}
}
