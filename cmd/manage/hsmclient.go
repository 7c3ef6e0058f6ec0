package manage

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keymanager-io/keymanager/internal/clientbundle"
	"github.com/keymanager-io/keymanager/server/config"
)

// hsmClientCommand is `manage hsm-client`, run by the init container of a KeyManager whose HSMBackend
// delivers its vendor client as a bundle.
func hsmClientCommand() *cobra.Command {
	var o clientbundle.Options
	var caFile, userFile, passFile string
	install := &cobra.Command{
		Use:   "install",
		Short: "Download, verify and unpack an HSM vendor's client bundle",
		Long: `Download the vendor's PKCS#11 client archive over HTTPS, check its SHA-256 before reading anything
from it, and unpack it into --dest: a tar.gz, a zip, or an ISO 9660 image (Rock Ridge names, modes and symbolic
links; Joliet or plain ISO 9660 names without Rock Ridge). Entries and links that would leave --dest are
refused, and so is a bundle that unpacks to more than --max-unpacked bytes. With --library the PKCS#11 module
must be in the bundle at that path.

The download credentials (HTTP basic auth) come from KEYMANAGER_HSM_CLIENT_USERNAME and
KEYMANAGER_HSM_CLIENT_PASSWORD or from --username-file and --password-file, never from a flag value. Every flag
also reads KEYMANAGER_<FLAG>.`,
		Example: `  keymanager manage hsm-client install --url https://files.example.com/proteccio.tar.gz \
      --sha256 5d41…c0d --format tar.gz --dest /opt/hsm-client --library lib/libnethsm.so
  keymanager manage hsm-client install --url https://files.example.com/LunaClient.iso \
      --sha256 9f86…a08 --format iso --dest /opt/hsm-client --library libs/64/libCryptoki2.so`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return config.ApplyEnv(cmd.Flags(), os.LookupEnv)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Username, err = secretFrom(userFile, "KEYMANAGER_HSM_CLIENT_USERNAME"); err != nil {
				return err
			}
			if o.Password, err = secretFrom(passFile, "KEYMANAGER_HSM_CLIENT_PASSWORD"); err != nil {
				return err
			}
			if caFile != "" {
				pem, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("reading --ca-file: %w", err)
				}
				o.RootCAs = x509.NewCertPool()
				if !o.RootCAs.AppendCertsFromPEM(pem) {
					return errors.New("--ca-file holds no PEM certificate")
				}
			}
			if err := clientbundle.Install(cmd.Context(), o); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed the HSM client into %s\n", o.Dest)
			return nil
		},
	}
	fs := install.Flags()
	fs.StringVar(&o.URL, "url", "", "https:// URL of the client archive")
	fs.StringVar(&o.SHA256, "sha256", "", "expected SHA-256 of the archive, 64 hex digits")
	fs.StringVar(&o.Format, "format", "tar.gz", "archive format: tar.gz, zip or iso")
	fs.StringVar(&o.Dest, "dest", "", "directory to unpack into (created if missing)")
	fs.StringVar(&o.Library, "library", "", "path of the PKCS#11 module inside the bundle, checked after unpacking")
	fs.StringVar(&caFile, "ca-file", "", "PEM file of the CA that signed the download server's certificate (default: the system's CAs)")
	fs.StringVar(&userFile, "username-file", "", "file holding the download user name")
	fs.StringVar(&passFile, "password-file", "", "file holding the download password")
	fs.Int64Var(&o.MaxBytes, "max-bytes", 4<<30, "largest archive accepted")
	fs.Int64Var(&o.MaxUnpacked, "max-unpacked", 4<<30, "most bytes the unpacked files may hold together")
	for _, f := range []string{"url", "sha256", "dest"} {
		_ = install.MarkFlagRequired(f)
	}
	cmd := &cobra.Command{Use: "hsm-client", Short: "Install an HSM vendor's client software (used by init containers)"}
	cmd.AddCommand(install)
	return cmd
}

// secretFrom reads a credential from a file, else from an environment variable.
func secretFrom(file, env string) (string, error) {
	if file == "" {
		return os.Getenv(env), nil
	}
	s, err := config.ReadSecretFile(file)
	if err != nil {
		return "", fmt.Errorf("reading credential file: %w", err)
	}
	return s, nil
}
