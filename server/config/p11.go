package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/keymanager-io/keymanager/hsm"
)

// EnvP11PIN is the environment variable that holds the PKCS#11 user PIN itself: a PIN does not belong on a
// command line (ps shows it), so it has no flag; --p11-login-pin-file names a file instead.
const EnvP11PIN = EnvPrefix + "P11_PIN"

// P11 is the PKCS#11 configuration: Barbican's [p11_crypto_plugin] options (spec §7.4) as --p11-* flags, and the
// session cap. Defaults are the reference's, except where noted.
type P11 struct {
	LibraryPath string
	TokenSerial string
	TokenLabels []string
	SlotID      uint
	PINFile     string
	// PIN comes from KEYMANAGER_P11_PIN, --p11-login-pin-file or [p11_crypto_plugin] login; it prints redacted.
	PIN       hsm.PIN
	PINSource string

	RWSession             bool
	MKEKLabel             string
	MKEKLength            int
	HMACLabel             string
	HMACKeyType           string
	HMACKeygenMechanism   string
	HMACMechanism         string
	EncryptionMechanism   string
	KeyWrapMechanism      string
	KeyWrapGenerateIV     bool
	AESGCMGenerateIV      bool
	AlwaysSetCKASensitive bool
	OSLockingOK           bool
	PKEKLength            int
	PKEKCacheTTL          time.Duration
	PKEKCacheLimit        int
	PluginName            string
	SeedFile              string
	SeedLength            int

	// MaxSessions is the hard cap on this process's sessions at the token (--hsm-max-sessions); SessionWait is how
	// long a request waits for one before a 503 (--hsm-session-wait).
	MaxSessions int
	SessionWait time.Duration
}

// DefaultP11 returns the reference's [p11_crypto_plugin] defaults and keymanager's session cap.
func DefaultP11() P11 {
	return P11{
		SlotID:                1,
		RWSession:             true,
		MKEKLength:            32,
		HMACKeyType:           "CKK_AES",
		HMACKeygenMechanism:   "CKM_AES_KEY_GEN",
		HMACMechanism:         "CKM_SHA256_HMAC",
		EncryptionMechanism:   "CKM_AES_CBC",
		KeyWrapMechanism:      "CKM_AES_CBC_PAD",
		KeyWrapGenerateIV:     true,
		AESGCMGenerateIV:      true,
		AlwaysSetCKASensitive: true,
		PKEKLength:            32,
		PKEKCacheTTL:          900 * time.Second,
		PKEKCacheLimit:        100,
		SeedLength:            32,
		MaxSessions:           8,
		SessionWait:           5 * time.Second,
	}
}

// AddP11Flags registers the PKCS#11 flags (serve and every `manage hsm` command).
func (c *P11) AddP11Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.LibraryPath, "p11-library-path", c.LibraryPath, "the HSM vendor's PKCS#11 library ([p11_crypto_plugin] library_path)")
	fs.StringVar(&c.TokenSerial, "p11-token-serial-number", c.TokenSerial, "select the token by serial number (first precedence)")
	fs.StringSliceVar(&c.TokenLabels, "p11-token-labels", c.TokenLabels, "select the first token with one of these labels, comma separated (second precedence; a Luna HA group label)")
	fs.UintVar(&c.SlotID, "p11-slot-id", c.SlotID, "select the token by slot id when neither serial number nor labels are given")
	fs.StringVar(&c.PINFile, "p11-login-pin-file", c.PINFile, "file holding the token user PIN (or the PIN in "+EnvP11PIN+"; never on the command line)")
	fs.BoolVar(&c.RWSession, "p11-rw-session", c.RWSession, "open read-write sessions")
	fs.StringVar(&c.MKEKLabel, "p11-mkek-label", c.MKEKLabel, "label of the master KEK that wraps new project KEKs")
	fs.IntVar(&c.MKEKLength, "p11-mkek-length", c.MKEKLength, "length of a generated MKEK in bytes")
	fs.StringVar(&c.HMACLabel, "p11-hmac-label", c.HMACLabel, "label of the master HMAC key that signs new project KEKs")
	fs.StringVar(&c.HMACKeyType, "p11-hmac-key-type", c.HMACKeyType, "HMAC key type: CKK_AES, CKK_GENERIC_SECRET or CKK_SHA256_HMAC (nShield)")
	fs.StringVar(&c.HMACKeygenMechanism, "p11-hmac-keygen-mechanism", c.HMACKeygenMechanism, "HMAC key generation: CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN or CKM_NC_SHA256_HMAC_KEY_GEN (nShield)")
	fs.StringVar(&c.HMACMechanism, "p11-hmac-mechanism", c.HMACMechanism, "signs wrapped project KEKs: CKM_SHA256_HMAC or CKM_AES_MAC")
	fs.StringVar(&c.EncryptionMechanism, "p11-encryption-mechanism", c.EncryptionMechanism, "encrypts new secrets: CKM_AES_CBC, CKM_AES_GCM or VENDOR_SAFENET_CKM_AES_GCM")
	fs.StringVar(&c.KeyWrapMechanism, "p11-key-wrap-mechanism", c.KeyWrapMechanism, "wraps new project KEKs: CKM_AES_CBC_PAD, CKM_AES_KEY_WRAP_PAD or CKM_AES_KEY_WRAP_KWP")
	fs.BoolVar(&c.KeyWrapGenerateIV, "p11-key-wrap-generate-iv", c.KeyWrapGenerateIV, "pass a random IV to the key wrap mechanism (SoftHSM2's CKM_AES_KEY_WRAP_PAD takes none: false)")
	fs.BoolVar(&c.AESGCMGenerateIV, "p11-aes-gcm-generate-iv", c.AESGCMGenerateIV, "generate GCM IVs on the host; false lets the HSM generate them")
	fs.BoolVar(&c.AlwaysSetCKASensitive, "p11-always-set-cka-sensitive", c.AlwaysSetCKASensitive, "mark project KEKs sensitive although extractable (false for HSMs that refuse it)")
	fs.BoolVar(&c.OSLockingOK, "p11-os-locking-ok", c.OSLockingOK, "tell the library it may be called from several threads (CKF_OS_LOCKING_OK); without it keymanager serialises its calls")
	fs.IntVar(&c.PKEKLength, "p11-pkek-length", c.PKEKLength, "length of new project KEKs in bytes")
	fs.DurationVar(&c.PKEKCacheTTL, "p11-pkek-cache-ttl", c.PKEKCacheTTL, "how long an unwrapped project KEK stays in the HSM for reuse")
	fs.IntVar(&c.PKEKCacheLimit, "p11-pkek-cache-limit", c.PKEKCacheLimit, "how many unwrapped project KEKs are kept at most")
	fs.StringVar(&c.PluginName, "p11-plugin-name", c.PluginName, "the store's friendly name in /v1/secret-stores (default: PKCS11 HSM)")
	fs.StringVar(&c.SeedFile, "p11-seed-file", c.SeedFile, "seed the HSM's random number generator with --p11-seed-length bytes of this file at start")
	fs.IntVar(&c.SeedLength, "p11-seed-length", c.SeedLength, "bytes read from --p11-seed-file")
	fs.IntVar(&c.MaxSessions, "hsm-max-sessions", c.MaxSessions, "hard cap on this process's HSM sessions (its share of the HSM's connection limit)")
	fs.DurationVar(&c.SessionWait, "hsm-session-wait", c.SessionWait, "how long a request waits for a free HSM session before answering 503")
}

// p11ConfOptions maps [p11_crypto_plugin] options to their flags (deprecated names included).
var p11ConfOptions = map[string]string{
	"library_path": "p11-library-path", "token_serial_number": "p11-token-serial-number",
	"token_labels": "p11-token-labels", "slot_id": "p11-slot-id", "rw_session": "p11-rw-session",
	"mkek_label": "p11-mkek-label", "mkek_length": "p11-mkek-length", "hmac_label": "p11-hmac-label",
	"hmac_key_type": "p11-hmac-key-type", "hmac_keygen_mechanism": "p11-hmac-keygen-mechanism",
	"hmac_mechanism": "p11-hmac-mechanism", "hmac_keywrap_mechanism": "p11-hmac-mechanism",
	"encryption_mechanism": "p11-encryption-mechanism", "key_wrap_mechanism": "p11-key-wrap-mechanism",
	"key_wrap_generate_iv": "p11-key-wrap-generate-iv", "aes_gcm_generate_iv": "p11-aes-gcm-generate-iv",
	"generate_iv": "p11-aes-gcm-generate-iv", "always_set_cka_sensitive": "p11-always-set-cka-sensitive",
	"os_locking_ok": "p11-os-locking-ok", "pkek_length": "p11-pkek-length", "pkek_cache_limit": "p11-pkek-cache-limit",
	"plugin_name": "p11-plugin-name", "seed_file": "p11-seed-file", "seed_length": "p11-seed-length",
}

// applyP11Conf sets the flags of [p11_crypto_plugin] through set; durations are given in seconds there.
func applyP11Conf(conf map[string]string, set func(flag, value string)) {
	for opt, flag := range p11ConfOptions {
		if v, ok := conf[opt]; ok {
			if b, err := parseOsloBool(v); err == nil && (strings.HasSuffix(flag, "-iv") || strings.HasSuffix(flag, "-ok") ||
				strings.HasSuffix(flag, "-session") || strings.HasSuffix(flag, "-sensitive")) {
				v = strconv.FormatBool(b)
			}
			if opt == "token_labels" {
				v = strings.Join(splitList(v), ",") // an oslo ListOpt: blanks around commas are not the labels'
			}
			set(flag, strings.TrimSpace(v))
		}
	}
	if v, ok := conf["pkek_cache_ttl"]; ok {
		set("p11-pkek-cache-ttl", strings.TrimSpace(v)+"s")
	}
}

// ResolvePIN finds the PIN: KEYMANAGER_P11_PIN, else --p11-login-pin-file, else [p11_crypto_plugin] login
// (confPIN). Setting both the variable and the file is refused.
func (c *P11) ResolvePIN(lookup func(string) (string, bool), confPIN, confPath string) error {
	env, inEnv := lookup(EnvP11PIN)
	inEnv = inEnv && env != ""
	switch {
	case inEnv && c.PINFile != "":
		return fmt.Errorf("both %s and --p11-login-pin-file are set: set one", EnvP11PIN)
	case inEnv:
		c.PIN, c.PINSource = hsm.PIN(env), EnvP11PIN
	case c.PINFile != "":
		pin, err := ReadSecretFile(c.PINFile)
		if err != nil {
			return fmt.Errorf("--p11-login-pin-file: %w", err)
		}
		c.PIN, c.PINSource = hsm.PIN(pin), c.PINFile
	case confPIN != "":
		c.PIN, c.PINSource = hsm.PIN(confPIN), "[p11_crypto_plugin] login of "+confPath
	}
	return nil
}

// Module is the hsm configuration of these settings.
func (c *P11) Module() (hsm.Config, error) {
	if c.LibraryPath == "" {
		return hsm.Config{}, errors.New("no PKCS#11 library: give --p11-library-path")
	}
	if c.PIN == "" {
		return hsm.Config{}, fmt.Errorf("no PKCS#11 PIN: set %s or --p11-login-pin-file", EnvP11PIN)
	}
	if c.MaxSessions < 1 {
		return hsm.Config{}, fmt.Errorf("--hsm-max-sessions %d: want at least 1", c.MaxSessions)
	}
	limit := c.PKEKCacheLimit
	if limit == 0 {
		limit = -1 // Barbican's 0 keeps nothing; hsm's 0 means its default
	}
	var seed []byte
	if c.SeedFile != "" {
		f, err := os.Open(c.SeedFile)
		if err != nil {
			return hsm.Config{}, fmt.Errorf("--p11-seed-file: %w", err)
		}
		defer f.Close()
		// The bytes themselves, where the reference's .encode() of them crashes (spec §7.4).
		seed = make([]byte, c.SeedLength)
		if _, err := io.ReadFull(f, seed); err != nil {
			return hsm.Config{}, fmt.Errorf("--p11-seed-file: reading %d bytes: %w", c.SeedLength, err)
		}
	}
	return hsm.Config{LibraryPath: c.LibraryPath, TokenSerial: c.TokenSerial, TokenLabels: c.TokenLabels,
		SlotID: c.SlotID, PIN: c.PIN, ReadOnlySessions: !c.RWSession, OSLockingOK: c.OSLockingOK,
		MaxSessions: c.MaxSessions, SessionWait: c.SessionWait, PKEKCacheTTL: c.PKEKCacheTTL,
		PKEKCacheLimit: limit, Seed: seed}, nil
}

// Settings are the hsm key and mechanism settings of this configuration; every name is checked.
func (c *P11) Settings() (hsm.Settings, error) {
	var errs []error
	look := func(table []hsm.Mechanism, flag, name string) hsm.Mechanism {
		m, err := hsm.Lookup(table, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
		}
		return m
	}
	s := hsm.Settings{
		MKEKLabel: c.MKEKLabel, HMACLabel: c.HMACLabel,
		HMACKeyType:   look(hsm.KeyTypes, "p11-hmac-key-type", c.HMACKeyType),
		HMACMechanism: look(hsm.HMACMechanisms, "p11-hmac-mechanism", c.HMACMechanism),
		WrapMechanism: look(hsm.WrapMechanisms, "p11-key-wrap-mechanism", c.KeyWrapMechanism),
		GenerateIV:    c.KeyWrapGenerateIV,
		PKEKLength:    c.PKEKLength,
		Sensitive:     c.AlwaysSetCKASensitive,
		Encryption:    look(hsm.EncryptionMechanisms, "p11-encryption-mechanism", c.EncryptionMechanism),
		GCMGenerateIV: c.AESGCMGenerateIV,
	}
	look(hsm.KeyGenMechanisms, "p11-hmac-keygen-mechanism", c.HMACKeygenMechanism)
	return s, errors.Join(errs...)
}

// MKEKSpec and HMACSpec describe the master keys to find or generate.
func (c *P11) MKEKSpec() hsm.MasterKeySpec { return hsm.MKEKSpec(c.MKEKLabel, c.MKEKLength) }

// HMACSpec describes the HMAC key; its length is the MKEK's, as barbican-manage's default.
func (c *P11) HMACSpec() (hsm.MasterKeySpec, error) {
	kt, err := hsm.Lookup(hsm.KeyTypes, c.HMACKeyType)
	if err != nil {
		return hsm.MasterKeySpec{}, fmt.Errorf("--p11-hmac-key-type: %w", err)
	}
	kg, err := hsm.Lookup(hsm.KeyGenMechanisms, c.HMACKeygenMechanism)
	if err != nil {
		return hsm.MasterKeySpec{}, fmt.Errorf("--p11-hmac-keygen-mechanism: %w", err)
	}
	return hsm.MasterKeySpec{Label: c.HMACLabel, Length: c.MKEKLength, KeyType: kt, KeyGen: kg}, nil
}
