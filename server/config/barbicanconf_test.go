package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	osp16KEK1 = "tfnhUOvlZbrMwdNhga_m0vzJNRf95DhUbMh1wQQ_hcM="
	osp16KEK2 = "6FMiLeAiX09Xpe3BB663Sv_Aw1LAVVn1Ovz9cJi9rXY="
)

func intp(n int) *int { return &n }

func TestReadBarbicanConfOSP16(t *testing.T) {
	b, err := ReadBarbicanConf("testdata/barbican-osp16.conf")
	if err != nil {
		t.Fatal(err)
	}
	if want := "mysql+pymysql://barbican:DbPassw0rd@172.17.1.150/barbican?read_default_file=/etc/my.cnf.d/tripleo.cnf&read_default_group=tripleo"; b.DatabaseURL != want {
		t.Errorf("DatabaseURL = %q, want %q", b.DatabaseURL, want)
	}
	if b.HostHref == nil || *b.HostHref != "https://overcloud.example.com:13311" {
		t.Errorf("HostHref = %v", b.HostHref)
	}
	for name, got := range map[string]struct{ got, want *int }{
		"max_allowed_secret_in_bytes": {b.MaxSecretBytes, intp(10000)}, "max_allowed_request_size_in_bytes": {b.MaxRequestBytes, intp(15000)},
		"default_limit_paging": {b.DefaultLimit, intp(20)}, "max_limit_paging": {b.MaxLimit, intp(200)},
		"quota_secrets": {b.Quotas.Secrets, intp(-1)}, "quota_containers": {b.Quotas.Containers, intp(500)},
		"quota_cas": {b.Quotas.CAs, intp(0)},
	} {
		if got.got == nil || *got.got != *got.want {
			t.Errorf("%s = %v, want %d", name, got.got, *got.want)
		}
	}
	// Both kek lines, in file order (the active one first); the commented sample is not one of them.
	if len(b.KEKs) != 2 || b.KEKs[0].Encode() != osp16KEK1 || b.KEKs[1].Encode() != osp16KEK2 {
		t.Fatalf("KEKs: got %d keys, want the two kek lines in order", len(b.KEKs))
	}
	ss := b.SecretStores
	if fmt.Sprint(ss.EnabledSecretStorePlugins, ss.EnableMultiple, ss.LookupSuffixes, len(ss.Stores), ss.EnabledCryptoPlugins) !=
		"[store_crypto] false [] 0 [simple_crypto]" {
		t.Errorf("SecretStores = %+v", ss)
	}
	if b.KeystoneAuthtoken["password"] != "KeystonePassw0rd" || b.KeystoneAuthtoken["memcached_servers"] != "inet:[fd00:fd00:fd00:2000::10]:11211" {
		t.Errorf("[keystone_authtoken] should be kept as is")
	}
	// Printing the configuration never shows a secret.
	for _, text := range []string{fmt.Sprint(b), fmt.Sprintf("%+v", *b), fmt.Sprintf("%#v", b), fmt.Sprint(b.KeystoneAuthtoken)} {
		for _, secret := range []string{"DbPassw0rd", "KeystonePassw0rd", osp16KEK1, osp16KEK2} {
			if strings.Contains(text, secret) {
				t.Fatalf("a secret is printed: %s", text)
			}
		}
	}
}

func TestReadBarbicanConfMultipleStores(t *testing.T) {
	b, err := ReadBarbicanConf("testdata/barbican-multistore.conf")
	if err != nil {
		t.Fatal(err)
	}
	// The deprecated [DEFAULT] sql_connection, with $$ as a literal $ and ${db_host} from [DEFAULT].
	if want := "mysql+pymysql://barbican:pa$word@db.example.com/barbican"; b.DatabaseURL != want {
		t.Errorf("DatabaseURL = %q, want %q", b.DatabaseURL, want)
	}
	if b.HostHref == nil || *b.HostHref != "" {
		t.Errorf("an empty host_href means: derive it from the request; got %v", b.HostHref)
	}
	want := SecretStores{
		EnabledSecretStorePlugins: []string{"store_crypto"}, EnableMultiple: true,
		LookupSuffixes: []string{"software", "pkcs11"},
		Stores: []SecretStore{
			{Suffix: "software", SecretStorePlugin: "store_crypto", CryptoPlugin: "simple_crypto"},
			{Suffix: "pkcs11", SecretStorePlugin: "store_crypto", CryptoPlugin: "p11_crypto", GlobalDefault: true},
		},
		EnabledCryptoPlugins: []string{"simple_crypto", "p11_crypto"},
	}
	if fmt.Sprintf("%+v", b.SecretStores) != fmt.Sprintf("%+v", want) {
		t.Errorf("SecretStores =\n%+v\nwant\n%+v", b.SecretStores, want)
	}
	if len(b.KEKs) != 1 || b.KEKs[0].Encode() != osp16KEK1 {
		t.Errorf("a quoted kek value should be unquoted")
	}
}

func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "barbican.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadBarbicanConfErrors(t *testing.T) {
	cases := map[string]struct{ text, want string }{
		"an option before any section": {"connection = mysql://u:Secr3t@h/db\n",
			"malformed configuration file: line 1 sets an option before any [section]"},
		"a line without separator": {"[database]\nSecr3t\n",
			"malformed configuration file: line 2 is neither a section, an option nor a comment"},
		"a continuation without option": {"[database]\n\n  Secr3t\n",
			"malformed configuration file: line 3 continues a value but follows no option"},
		"an unclosed section": {"[database\n", "malformed configuration file: line 1: a section header must be [name]"},
		"a paging limit that is not a number": {"[DEFAULT]\nmax_limit_paging = lots\n",
			"barbican.conf: [DEFAULT] max_limit_paging: want an integer"},
		"a malformed KEK": {"[simple_crypto_plugin]\nkek = " + osp16KEK1 + "\nkek = U2VjcjN0\n",
			"barbican.conf: [simple_crypto_plugin] kek, value 2: malformed simple_crypto KEK: line 1, entry 1 is not the url-safe base64 of 32 bytes"},
		"a template keymanager cannot resolve": {"[database]\nconnection = mysql://u:$password@h/db\n",
			"barbican.conf: [database] connection refers to $password, which is not set in this file; write the value out (a literal $ is written $$)"},
		"two different database URLs": {"[DEFAULT]\nsql_connection = mysql://u:Secr3t@a/db\n[database]\nconnection = mysql://u:Secr3t@b/db\n",
			"barbican.conf: [database] connection and [DEFAULT] sql_connection name different databases; Barbican " +
				"versions read different ones, so keep the one your Barbican used and remove the other"},
		"a lookup suffix without its section": {"[secretstore]\nstores_lookup_suffix = hsm\n",
			`barbican.conf: [secretstore] stores_lookup_suffix names "hsm" but there is no [secretstore:hsm] section`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := writeConf(t, tc.text)
			_, err := ReadBarbicanConf(p)
			want := "--barbican-conf " + p + ": " + tc.want
			if err == nil || err.Error() != want {
				t.Fatalf("got %v\nwant %s", err, want)
			}
			if strings.Contains(err.Error(), "Secr3t") {
				t.Fatal("the error shows a secret")
			}
		})
	}
	_, err := ReadBarbicanConf("/nonexistent/barbican.conf")
	if want := "--barbican-conf: open /nonexistent/barbican.conf: no such file or directory"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// TestBarbicanConfPrecedence checks defaults < barbican.conf < environment < flags, for serve's flags and KEKs.
func TestBarbicanConfPrecedence(t *testing.T) {
	resolve := resolveServe
	conf := []string{"--barbican-conf", "testdata/barbican-osp16.conf"}
	c, err := resolve(t, append(conf, "--max-limit-paging", "300"), map[string]string{
		"KEYMANAGER_HOST_HREF": "https://kms.example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.HostHref != "https://kms.example.com" || c.MaxLimit != 300 || c.DefaultLimit != 20 || c.MaxSecretBytes != 10000 ||
		c.MaxRequestBytes != 15000 || c.DBAutoMigrate != AutoMigrateAuto {
		t.Errorf("precedence: host %q max %d default %d secret %d request %d", c.HostHref, c.MaxLimit, c.DefaultLimit,
			c.MaxSecretBytes, c.MaxRequestBytes)
	}
	if !strings.HasPrefix(c.DBURL, "mysql+pymysql://barbican:DbPassw0rd@172.17.1.150/barbican") || !c.DBURLFromBarbicanConf {
		t.Errorf("the database URL should come from barbican.conf (from conf: %v)", c.DBURLFromBarbicanConf)
	}
	if len(c.KEKs) != 2 || c.KEKSource != "[simple_crypto_plugin] kek of testdata/barbican-osp16.conf" ||
		c.Quotas.Containers == nil || *c.Quotas.Containers != 500 || c.KeystoneAuthtoken["username"] != "barbican" {
		t.Errorf("KEKs %d from %q, quotas %+v", len(c.KEKs), c.KEKSource, c.Quotas)
	}

	c, err = resolve(t, nil, map[string]string{"KEYMANAGER_BARBICAN_CONF": "testdata/barbican-osp16.conf",
		"KEYMANAGER_DB_URL": "sqlite:///tmp/x.db", "KEYMANAGER_KEK": osp16KEK2})
	if err != nil {
		t.Fatal(err)
	}
	if c.DBURL != "sqlite:///tmp/x.db" || c.DBURLFromBarbicanConf || c.HostHref != "https://overcloud.example.com:13311" {
		t.Errorf("KEYMANAGER_BARBICAN_CONF should be read and the environment win: %q %v %q", c.DBURL, c.DBURLFromBarbicanConf, c.HostHref)
	}
	if len(c.KEKs) != 1 || c.KEKs[0].Encode() != osp16KEK2 || c.KEKSource != "KEYMANAGER_KEK" {
		t.Errorf("KEYMANAGER_KEK should win over the conf's kek lines")
	}

	noDB := writeConf(t, "[simple_crypto_plugin]\nkek = "+osp16KEK1+"\n")
	_, err = resolve(t, []string{"--barbican-conf", noDB}, nil)
	want := "--barbican-conf " + noDB + " sets no database ([database] connection or [DEFAULT] sql_connection): " +
		"give the database with --db-url or KEYMANAGER_DB_URL"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if _, err = resolve(t, []string{"--barbican-conf", noDB, "--db-url", "sqlite:///tmp/z.db"}, nil); err != nil {
		t.Fatalf("--db-url supplies what the file lacks: %v", err)
	}

	c, err = resolve(t, append(conf, "--db-url", "sqlite:///tmp/y.db"), map[string]string{"KEYMANAGER_KEK_FILE": "/etc/km/kek"})
	if err != nil {
		t.Fatal(err)
	}
	if c.DBURL != "sqlite:///tmp/y.db" || c.DBURLFromBarbicanConf || len(c.KEKs) != 0 || c.KEKFile != "/etc/km/kek" {
		t.Errorf("a flag and KEYMANAGER_KEK_FILE should win: %q %d %q", c.DBURL, len(c.KEKs), c.KEKFile)
	}
}
