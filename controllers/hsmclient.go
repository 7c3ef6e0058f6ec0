package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// vendorLayout is where a vendor's client lives in a pod. The client volume is mounted at the vendor's own
// install root, so the profile's library path holds whether the client came from an image, a bundle or the
// server image itself; the configuration directory is where the client looks, told by configEnv.
type vendorLayout struct {
	clientRoot string
	// configDir holds the rendered configuration and the certificates it names; configEnv points the client
	// at it. nShield reads cknfastrc from its install root instead (configDir empty).
	configDir, configFile, configEnv string
}

// layouts follow the vendors' installs as Barbican deployments use them (spec/operator-anchors.md §3): the
// RHOSO Proteccio image (ConfigurationPath=/etc/proteccio), the Luna minimal client
// (ChrystokiConfigurationPath), nShield's /opt/nfast with cknfastrc in it.
var layouts = map[kmv1.HSMVendor]vendorLayout{
	kmv1.VendorProteccio: {clientRoot: "/opt/tw_proteccio", configDir: "/etc/proteccio", configFile: "proteccio.rc", configEnv: "ConfigurationPath"},
	kmv1.VendorLuna:      {clientRoot: "/usr/local/luna", configDir: "/usr/local/luna/config", configFile: "Chrystoki.conf", configEnv: "ChrystokiConfigurationPath"},
	kmv1.VendorNShield:   {clientRoot: "/opt/nfast", configFile: "cknfastrc"},
	// SoftHSM2 reads the file SOFTHSM2_CONF names (not a directory): see hsmClientPod.
	kmv1.VendorSoftHSM: {clientRoot: "/opt/hsm-client", configDir: "/etc/softhsm", configFile: "softhsm2.conf", configEnv: "SOFTHSM2_CONF"},
	kmv1.VendorGeneric: {clientRoot: "/opt/hsm-client"},
}

// Names of the files the certificates are projected to, next to the vendor configuration.
const (
	proteccioClientCert = "proteccio_client.crt"
	proteccioClientKey  = "proteccio_client.key"
	lunaClientCert      = "client.pem"
	lunaClientKey       = "clientKey.pem"
	lunaServerCA        = "CAFile.pem"
	// serverCertKey is the key of an HSM server's certificate in its Secret.
	serverCertKey = "ca.crt"
	nshieldKMData = "/opt/nfast/kmdata/local"
	// clientStaging is where the init container sees the client volume.
	clientStaging = "/hsm-client"
	// bundleCADir is where the init container that downloads a bundle finds the download server's CA.
	bundleCADir = "/etc/keymanager/bundle-ca"
	// softHSMTokenDir is where a softhsm backend's token claim is mounted, SoftHSM2's directories.tokendir.
	softHSMTokenDir = "/var/lib/softhsm/tokens" //nolint:gosec // a directory, not a credential
	lunaPort        = 1792
)

// hsmConfigMapName is the ConfigMap of backend b's rendered client configuration.
func hsmConfigMapName(b *kmv1.HSMBackend) string { return b.Name + "-hsm-client" }

// vendorConfig renders b's client configuration file, or "" for vendors that need none (generic, and softhsm
// without a shared token store).
// Only names and paths go in it: certificates and keys stay in their Secrets, projected beside the file.
func vendorConfig(b *kmv1.HSMBackend, s hsmSettings) string {
	l := layouts[b.Spec.Vendor]
	var w strings.Builder
	switch b.Spec.Vendor {
	case kmv1.VendorProteccio:
		// One [PROTECCIO] block per HSM; Mode=2 is high availability across them, Mode=0 a single HSM. The
		// logs go to /tmp, the one writable place under a read-only root filesystem.
		for _, srv := range b.Spec.Servers {
			fmt.Fprintf(&w, "[PROTECCIO]\nIPaddr=%s\nSSL=1\nSrvCert=%s\n\n", srv.Address, filepath.Join(l.configDir, srv.Address+".crt"))
		}
		mode := 0
		if len(b.Spec.Servers) > 1 {
			mode = 2
		}
		fmt.Fprintf(&w, "[CLIENT]\nMode=%d\nLoggingLevel=3\nLogFile=/tmp/proteccio.log\nStatusFile=/tmp/proteccio_status\n", mode)
		if b.Spec.ClientCertificateSecretRef != nil {
			fmt.Fprintf(&w, "ClntKey=%s\nClntCert=%s\n", filepath.Join(l.configDir, proteccioClientKey), filepath.Join(l.configDir, proteccioClientCert))
		}
	case kmv1.VendorLuna:
		fmt.Fprintf(&w, "Chrystoki2 = {\n   LibUNIX64 = %s;\n}\n\n", s.libraryPath)
		w.WriteString("LunaSA Client = {\n   NetClient = 1;\n   TCPKeepAlive = 1;\n   ReceiveTimeout = 20000;\n")
		if b.Spec.ClientCertificateSecretRef != nil {
			fmt.Fprintf(&w, "   ClientCertFile = %s;\n   ClientPrivKeyFile = %s;\n", filepath.Join(l.configDir, lunaClientCert), filepath.Join(l.configDir, lunaClientKey))
		}
		if lunaCASecret(b) != "" {
			fmt.Fprintf(&w, "   ServerCAFile = %s;\n", filepath.Join(l.configDir, lunaServerCA))
		}
		for i, srv := range b.Spec.Servers {
			fmt.Fprintf(&w, "   ServerName%02d = %s;\n   ServerPort%02d = %d;\n   ServerHtl%02d = 0;\n", i, srv.Address, i, ptr.Deref(srv.Port, lunaPort), i)
		}
		w.WriteString("}\n")
		// Several appliances form an HA group, a virtual token whose label is the token label the servers
		// select (as Barbican's token_labels names the HA group).
		if members := lunaMembers(b); len(members) > 1 && len(b.Spec.Token.Labels) > 0 {
			label := b.Spec.Token.Labels[0]
			fmt.Fprintf(&w, "\nVirtualToken = {\n   VirtualToken00Label = %s;\n   VirtualToken00SN = 1%s;\n   VirtualToken00Members = %s;\n}\n",
				label, members[0], strings.Join(members, ","))
			fmt.Fprintf(&w, "\nHASynchronize = {\n   %s = 1;\n}\n\nHAConfiguration = {\n   HAOnly = 1;\n   reconnAtt = -1;\n   AutoReconnectInterval = 60;\n}\n", label)
		}
	case kmv1.VendorSoftHSM:
		if b.Spec.SoftHSM == nil {
			return ""
		}
		// The file object store keeps one file per object under the shared claim; SoftHSM2 locks them, so the
		// servers and the Jobs of the backend can use the token at once. Its log goes to syslog, which a pod
		// has not: keep it to errors.
		fmt.Fprintf(&w, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", softHSMTokenDir)
	case kmv1.VendorNShield:
		w.WriteString("CKNFAST_OVERRIDE_SECURITY_ASSURANCES=explicitness\n")
		if len(b.Spec.Servers) > 1 {
			// Load sharing spreads sessions over every HSM of the Security World.
			w.WriteString("CKNFAST_LOADSHARING=1\n")
		}
	default:
		return ""
	}
	return w.String()
}

func lunaMembers(b *kmv1.HSMBackend) []string {
	var m []string
	for _, srv := range b.Spec.Servers {
		if srv.Partition != "" {
			m = append(m, srv.Partition)
		}
	}
	return m
}

// lunaCASecret is the Secret whose ca.crt becomes Luna's one ServerCAFile: the first server's. Luna reads a
// single CA file, so for an HA group that Secret holds every appliance's certificate, concatenated.
func lunaCASecret(b *kmv1.HSMBackend) string {
	for _, srv := range b.Spec.Servers {
		if srv.CertificateSecretRef != nil {
			return srv.CertificateSecretRef.Name
		}
	}
	return ""
}

// buildHSMConfigMap is the ConfigMap of b's client configuration, nil when the vendor needs none.
func buildHSMConfigMap(b *kmv1.HSMBackend, s hsmSettings) *corev1.ConfigMap {
	conf := vendorConfig(b, s)
	if conf == "" {
		return nil
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: hsmConfigMapName(b), Namespace: b.Namespace, Labels: objectLabels(b.Name, "hsm-client")},
		Data:       map[string]string{layouts[b.Spec.Vendor].configFile: conf},
	}
}

// hsmClientDigest identifies what b puts into a pod besides the PKCS#11 settings: a change of the client
// source or of the rendered configuration rolls the servers and makes new Jobs.
func hsmClientDigest(b *kmv1.HSMBackend, s hsmSettings) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", vendorConfig(b, s))
	if c := b.Spec.Client; c != nil {
		if c.Image != nil {
			fmt.Fprintf(h, "image=%s:%s\n", c.Image.Image, c.Image.Path)
		}
		if bu := c.Bundle; bu != nil {
			fmt.Fprintf(h, "bundle=%s %s %s %v\n", bu.URL, bu.SHA256, bu.Format, bu.CredentialsSecretRef)
			// Fields added later go in only when set, so that an operator upgrade does not roll every server.
			if bu.CASecretRef != nil {
				fmt.Fprintf(h, "bundle-ca=%s/%s\n", bu.CASecretRef.Name, bu.CASecretRef.Key)
			}
		}
	}
	for _, srv := range b.Spec.Servers {
		fmt.Fprintf(h, "server=%s %v\n", srv.Address, srv.CertificateSecretRef)
	}
	fmt.Fprintf(h, "client-cert=%v world=%v\n", b.Spec.ClientCertificateSecretRef, b.Spec.SecurityWorldSecretRef)
	if b.Spec.SoftHSM != nil {
		fmt.Fprintf(h, "softhsm-tokens=%s\n", b.Spec.SoftHSM.TokenClaimName)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// hsmPod is what an HSMBackend adds to a pod whose container loads its PKCS#11 library.
type hsmPod struct {
	initContainers []corev1.Container
	volumes        []corev1.Volume
	// mounts and env go on the container that uses the HSM.
	mounts []corev1.VolumeMount
	env    []corev1.EnvVar
}

// hsmClientPod renders the client delivery of b: an init container that copies the client out of
// client.image, or one that runs `keymanager manage hsm-client install` with installerImage (the
// keymanager image of the pod) to download, verify and unpack client.bundle, both into an emptyDir mounted
// at the vendor's install root; and the vendor configuration with its certificates projected into the
// directory the client reads.
func hsmClientPod(b *kmv1.HSMBackend, s hsmSettings, installerImage string) hsmPod {
	var p hsmPod
	l := layouts[b.Spec.Vendor]
	if c := b.Spec.Client; c != nil && (c.Image != nil || c.Bundle != nil) {
		p.volumes = append(p.volumes, corev1.Volume{Name: "hsm-client", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		p.mounts = append(p.mounts, corev1.VolumeMount{Name: "hsm-client", MountPath: l.clientRoot, ReadOnly: true})
		// The init container fills the volume at a path of its own: mounted at the install root it would
		// hide a client image's files that live there.
		init := corev1.Container{
			Name:            "hsm-client",
			SecurityContext: containerSecurityContext(),
			VolumeMounts:    []corev1.VolumeMount{{Name: "hsm-client", MountPath: clientStaging}},
			// A failed install (bad checksum, refused credentials, no library in the bundle) or copy ends
			// with its error in the log: its tail becomes the termination message the KeyManager reports.
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		}
		if c.Image != nil {
			// The client image brings its own cp; the trailing /. copies the directory's content.
			init.Image = c.Image.Image
			init.Command = []string{"cp", "-R", strings.TrimSuffix(or(c.Image.Path, "/opt/hsm-client"), "/") + "/.", clientStaging + "/"}
		} else {
			bu := c.Bundle
			init.Image = installerImage
			init.Args = []string{"manage", "hsm-client", "install", "--url", bu.URL, "--sha256", bu.SHA256,
				"--format", bu.Format, "--dest", clientStaging}
			if rel, err := filepath.Rel(l.clientRoot, s.libraryPath); err == nil && s.libraryPath != "" && !strings.HasPrefix(rel, "..") {
				init.Args = append(init.Args, "--library", rel)
			}
			if ref := bu.CredentialsSecretRef; ref != nil {
				for _, kv := range [][2]string{{"KEYMANAGER_HSM_CLIENT_USERNAME", "username"}, {"KEYMANAGER_HSM_CLIENT_PASSWORD", "password"}} {
					init.Env = append(init.Env, corev1.EnvVar{Name: kv[0], ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: *ref, Key: kv[1],
					}}})
				}
			}
			if ref := bu.CASecretRef; ref != nil {
				p.volumes = append(p.volumes, corev1.Volume{Name: "hsm-bundle-ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: ref.Name, Items: []corev1.KeyToPath{{Key: ref.Key, Path: "ca.crt"}}, DefaultMode: ptr.To[int32](0o444),
				}}})
				init.VolumeMounts = append(init.VolumeMounts, corev1.VolumeMount{Name: "hsm-bundle-ca", MountPath: bundleCADir, ReadOnly: true})
				init.Args = append(init.Args, "--ca-file", filepath.Join(bundleCADir, "ca.crt"))
			}
			// The installer unpacks through the pod's /tmp (tmpVolume), which the pod already has.
			_, tmpMount := tmpVolume()
			init.VolumeMounts = append(init.VolumeMounts, tmpMount)
		}
		p.initContainers = append(p.initContainers, init)
	}

	if vendorConfig(b, s) == "" {
		return p
	}
	cm := corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{
		LocalObjectReference: corev1.LocalObjectReference{Name: hsmConfigMapName(b)},
		Items:                []corev1.KeyToPath{{Key: l.configFile, Path: l.configFile}},
	}}
	if b.Spec.Vendor == kmv1.VendorNShield {
		// cknfastrc lives in the install root; the Security World's key blobs under kmdata/local.
		p.volumes = append(p.volumes, corev1.Volume{Name: "hsm-config", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{cm}}}})
		p.mounts = append(p.mounts, corev1.VolumeMount{Name: "hsm-config", MountPath: filepath.Join(l.clientRoot, l.configFile), SubPath: l.configFile, ReadOnly: true})
		if w := b.Spec.SecurityWorldSecretRef; w != nil {
			p.volumes = append(p.volumes, corev1.Volume{Name: "hsm-world", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: w.Name}}})
			p.mounts = append(p.mounts, corev1.VolumeMount{Name: "hsm-world", MountPath: nshieldKMData, ReadOnly: true})
		}
		p.env = append(p.env, corev1.EnvVar{Name: "NFAST_HOME", Value: l.clientRoot})
		return p
	}

	sources := []corev1.VolumeProjection{cm}
	secretItems := func(name string, items ...corev1.KeyToPath) {
		sources = append(sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Items: items,
		}})
	}
	certName, keyName := proteccioClientCert, proteccioClientKey
	if b.Spec.Vendor == kmv1.VendorLuna {
		certName, keyName = lunaClientCert, lunaClientKey
	}
	if ref := b.Spec.ClientCertificateSecretRef; ref != nil {
		// 0444 rather than 0400: without fsGroup the files belong to root, and the client runs as the
		// server's non-root user.
		secretItems(ref.Name, corev1.KeyToPath{Key: corev1.TLSCertKey, Path: certName}, corev1.KeyToPath{Key: corev1.TLSPrivateKeyKey, Path: keyName})
	}
	switch b.Spec.Vendor {
	case kmv1.VendorLuna:
		if name := lunaCASecret(b); name != "" {
			secretItems(name, corev1.KeyToPath{Key: serverCertKey, Path: lunaServerCA})
		}
	default:
		for _, srv := range b.Spec.Servers {
			if srv.CertificateSecretRef != nil {
				secretItems(srv.CertificateSecretRef.Name, corev1.KeyToPath{Key: serverCertKey, Path: srv.Address + ".crt"})
			}
		}
	}
	p.volumes = append(p.volumes, corev1.Volume{Name: "hsm-config", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: sources, DefaultMode: ptr.To[int32](0o444),
	}}})
	p.mounts = append(p.mounts, corev1.VolumeMount{Name: "hsm-config", MountPath: l.configDir, ReadOnly: true})
	if b.Spec.Vendor == kmv1.VendorSoftHSM {
		p.env = append(p.env, corev1.EnvVar{Name: l.configEnv, Value: filepath.Join(l.configDir, l.configFile)})
		p.volumes = append(p.volumes, corev1.Volume{Name: "softhsm-tokens", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: b.Spec.SoftHSM.TokenClaimName},
		}})
		p.mounts = append(p.mounts, corev1.VolumeMount{Name: "softhsm-tokens", MountPath: softHSMTokenDir})
		return p
	}
	p.env = append(p.env, corev1.EnvVar{Name: l.configEnv, Value: l.configDir})
	return p
}

// secretKeys is a referenced Secret and the keys a pod reads from it.
type secretKeys struct {
	name string
	keys []string
}

// hsmClientSecrets are the Secrets b's client delivery reads besides the PIN: the client certificate, the
// HSMs' certificates, the Security World data and the bundle's download credentials. The KeyManager
// controller checks them before rolling (a missing one is reported on the KeyManager, not as a pod stuck in
// ContainerCreating) and hashes their versions, so a new certificate rolls the servers.
func hsmClientSecrets(b *kmv1.HSMBackend) []secretKeys {
	var refs []secretKeys
	if r := b.Spec.ClientCertificateSecretRef; r != nil {
		refs = append(refs, secretKeys{r.Name, []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey}})
	}
	if b.Spec.Vendor == kmv1.VendorLuna {
		if name := lunaCASecret(b); name != "" {
			refs = append(refs, secretKeys{name, []string{serverCertKey}})
		}
	} else if b.Spec.Vendor != kmv1.VendorNShield {
		for _, srv := range b.Spec.Servers {
			if srv.CertificateSecretRef != nil {
				refs = append(refs, secretKeys{srv.CertificateSecretRef.Name, []string{serverCertKey}})
			}
		}
	}
	if r := b.Spec.SecurityWorldSecretRef; r != nil && b.Spec.Vendor == kmv1.VendorNShield {
		refs = append(refs, secretKeys{name: r.Name})
	}
	if c := b.Spec.Client; c != nil && c.Bundle != nil && c.Bundle.CredentialsSecretRef != nil {
		refs = append(refs, secretKeys{c.Bundle.CredentialsSecretRef.Name, []string{"username", "password"}})
	}
	if c := b.Spec.Client; c != nil && c.Bundle != nil && c.Bundle.CASecretRef != nil {
		refs = append(refs, secretKeys{c.Bundle.CASecretRef.Name, []string{c.Bundle.CASecretRef.Key}})
	}
	return refs
}
