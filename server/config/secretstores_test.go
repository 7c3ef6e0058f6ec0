package config

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/spf13/pflag"
)

func TestSecretStoreFlag(t *testing.T) {
	parse := func(args []string, env map[string]string) (Config, error) {
		c := Default()
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		c.AddFlags(fs)
		if err := fs.Parse(args); err != nil {
			return c, err
		}
		err := c.Resolve(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		return c, err
	}
	c, err := parse([]string{"--enable-multiple-secret-stores",
		"--secret-store", "name=software,plugin=simple_crypto,global_default",
		"--secret-store", "name=hsm, plugin=p11_crypto"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []SecretStore{
		{Suffix: "software", SecretStorePlugin: "store_crypto", CryptoPlugin: "simple_crypto", GlobalDefault: true},
		{Suffix: "hsm", SecretStorePlugin: "store_crypto", CryptoPlugin: "p11_crypto"},
	}
	if !c.SecretStores.EnableMultiple || !reflect.DeepEqual(c.SecretStores.Stores, want) {
		t.Fatalf("unexpected stores %+v", c.SecretStores)
	}

	// The environment holds several stores separated by ';' and replaces the ones of a barbican.conf.
	conf := filepath.Join("testdata", "barbican-multistore.conf")
	c, err = parse([]string{"--barbican-conf", conf}, map[string]string{
		"KEYMANAGER_SECRET_STORE": "name=a,plugin=simple_crypto,global_default=true;name=b,plugin=p11_crypto"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SecretStores.Stores) != 2 || c.SecretStores.Stores[0].Suffix != "a" || !c.SecretStores.EnableMultiple {
		t.Fatalf("the environment should replace the file's stores, got %+v", c.SecretStores)
	}
	c, err = parse([]string{"--barbican-conf", conf}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SecretStores.Stores) == 0 || c.SecretStores.Stores[0].Suffix != "software" {
		t.Fatalf("without a flag the file's stores count, got %+v", c.SecretStores)
	}

	for _, bad := range []string{"plugin=simple_crypto", "name=x", "name=x,plugin=simple_crypto,colour=blue",
		"name=x,plugin=simple_crypto,global_default=perhaps"} {
		if _, err := parse([]string{"--secret-store", bad}, nil); err == nil {
			t.Errorf("--secret-store %q should be refused", bad)
		}
	}
}
