package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// Labels and annotations on the objects the operator owns.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
	labelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "keymanager-operator"

	// annotationConfigHash on the pod template changes when the rendered configuration or a referenced
	// Secret or ConfigMap changes, which rolls the pods.
	annotationConfigHash = "keymanager.io/config-hash"
	// annotationMigrationRevision on a migration Job names the revision it migrates to.
	annotationMigrationRevision = "keymanager.io/migration-revision"
)

// Paths inside the server and Job containers.
const (
	kekDir     = "/etc/keymanager/kek"
	kekFile    = kekDir + "/kek"
	policyDir  = "/etc/keymanager/policy"
	policyFile = policyDir + "/policy.yaml"
	dataDir    = "/var/lib/keymanager"
	apiPort    = 9311
	serverUID  = 65532
	envDBUser  = "KEYMANAGER_DB_USERNAME"
	envDBPass  = "KEYMANAGER_DB_PASSWORD" //nolint:gosec // the name of a variable, not a credential
	envP11PIN  = "KEYMANAGER_P11_PIN"     //nolint:gosec // the name of a variable, not a credential
	envDBURL   = "KEYMANAGER_DB_URL"
	envKEKFile = "KEYMANAGER_KEK_FILE"
	// envKeystonePass is the server's KEYMANAGER_KEYSTONE_PASSWORD.
	envKeystonePass = "KEYMANAGER_KEYSTONE_PASSWORD" //nolint:gosec // the name of a variable, not a credential
	serverName      = "server"
	// preStopSeconds is how long a terminating server keeps serving before it shuts down: kube-proxy takes it
	// out of the Service's rules meanwhile.
	preStopSeconds = 5
	// minReadySeconds is how long a new server pod must have been ready before the rollout counts it available
	// and stops the next old pod: kube-proxy adds it to the Service's rules meanwhile. Without it the last old
	// pod of a rollout can start terminating before the new ones are routed to, and once its preStop pause is
	// over, on a loaded node, the Service would have nobody behind it.
	minReadySeconds = 5
	migrateName     = "migrate"
)

// kmInputs is everything the KeyManager's objects are built from, gathered by the reconciler.
type kmInputs struct {
	km *kmv1.KeyManager
	// hsm is the backend of the pkcs11 store, nil without one.
	hsm *kmv1.HSMBackend
	// settings are hsm's effective settings.
	settings hsmSettings
	// workers is the granted sessions per pod.
	workers int32
	// versions are the resourceVersions of the referenced Secrets and ConfigMaps by "kind/name": their
	// changes roll the pods without their content entering a hash anyone can read.
	versions map[string]string
}

func selectorLabels(km *kmv1.KeyManager) map[string]string {
	return map[string]string{labelName: "keymanager", labelInstance: km.Name, labelComponent: serverName}
}

// objectLabels are the labels of what the operator creates for instance (a KeyManager, HSMBackend or
// KeyRotation, by name): its server objects, its Jobs, its HSM client ConfigMap.
func objectLabels(instance, component string) map[string]string {
	return map[string]string{
		labelName: "keymanager", labelInstance: instance, labelComponent: component, labelManagedBy: managedBy,
	}
}

func storeFlag(s kmv1.SecretStore, multiple bool) string {
	plugin := "simple_crypto"
	if s.PKCS11 != nil {
		plugin = "p11_crypto"
	}
	v := "name=" + s.Name + ",plugin=" + plugin
	if multiple && s.GlobalDefault {
		v += ",global_default"
	}
	return v
}

// renderConfig is the non-secret configuration of the server, as the KEYMANAGER_* environment variables of
// its flags. It holds no secret: the PIN, the database password and the KEKs reach the pods from their
// Secrets directly.
func renderConfig(in kmInputs) map[string]string {
	km := in.km
	multiple := len(km.Spec.SecretStores) > 1
	stores := make([]string, len(km.Spec.SecretStores))
	for i, s := range km.Spec.SecretStores {
		stores[i] = storeFlag(s, multiple)
	}
	cfg := map[string]string{
		"KEYMANAGER_LISTEN":       "0.0.0.0:" + strconv.Itoa(apiPort),
		"KEYMANAGER_DATA_DIR":     dataDir,
		"KEYMANAGER_LOG_FORMAT":   "json",
		"KEYMANAGER_SECRET_STORE": strings.Join(stores, ";"),
	}
	if ks := km.Spec.Auth.Keystone; km.Spec.Auth.Mode == kmv1.AuthModeKeystone && ks != nil {
		cfg["KEYMANAGER_AUTH"] = "keystone"
		cfg["KEYMANAGER_KEYSTONE_AUTH_URL"] = ks.AuthURL
		cfg["KEYMANAGER_KEYSTONE_USERNAME"] = ks.Username
		cfg["KEYMANAGER_KEYSTONE_USER_DOMAIN_NAME"] = ks.UserDomainName
		cfg["KEYMANAGER_KEYSTONE_PROJECT_NAME"] = ks.ProjectName
		cfg["KEYMANAGER_KEYSTONE_PROJECT_DOMAIN_NAME"] = ks.ProjectDomainName
	} else {
		cfg["KEYMANAGER_AUTH"] = "noauth"
		// No-auth trusts the X-Project-Id and X-Roles headers: the Service must be reachable only through an
		// authenticating proxy or a NetworkPolicy (docs/operator.md).
		cfg["KEYMANAGER_INSECURE_NOAUTH_ANY_ADDRESS"] = "true"
	}
	if multiple {
		cfg["KEYMANAGER_ENABLE_MULTIPLE_SECRET_STORES"] = "true"
	}
	if km.Spec.HostHref != "" {
		cfg["KEYMANAGER_HOST_HREF"] = km.Spec.HostHref
	}
	if km.Spec.PolicyConfigMapRef != nil {
		cfg["KEYMANAGER_POLICY_FILE"] = policyFile
	}
	if simpleCryptoStore(km) != nil {
		cfg[envKEKFile] = kekFile
	}
	if in.hsm != nil {
		maps.Copy(cfg, p11Config(in.hsm, in.settings))
		cfg["KEYMANAGER_HSM_MAX_SESSIONS"] = strconv.Itoa(int(in.workers))
	}
	return cfg
}

// p11Config is the PKCS#11 part of the configuration, shared by the server and the HSM Jobs.
func p11Config(b *kmv1.HSMBackend, s hsmSettings) map[string]string {
	cfg := map[string]string{
		"KEYMANAGER_P11_LIBRARY_PATH": s.libraryPath,
		"KEYMANAGER_P11_MKEK_LABEL":   s.mkekLabel,
		"KEYMANAGER_P11_MKEK_LENGTH":  strconv.Itoa(int(s.mkekLength)),
		"KEYMANAGER_P11_HMAC_LABEL":   s.hmacLabel,
	}
	switch t := b.Spec.Token; {
	case t.SerialNumber != "":
		cfg["KEYMANAGER_P11_TOKEN_SERIAL_NUMBER"] = t.SerialNumber
	case len(t.Labels) > 0:
		cfg["KEYMANAGER_P11_TOKEN_LABELS"] = strings.Join(t.Labels, ",")
	case t.SlotID != nil:
		cfg["KEYMANAGER_P11_SLOT_ID"] = strconv.FormatInt(*t.SlotID, 10)
	}
	for k, v := range map[string]string{
		"KEYMANAGER_P11_HMAC_KEY_TYPE":         s.hmacKeyType,
		"KEYMANAGER_P11_HMAC_KEYGEN_MECHANISM": s.hmacKeygenMechanism,
		"KEYMANAGER_P11_HMAC_MECHANISM":        s.hmacMechanism,
		"KEYMANAGER_P11_ENCRYPTION_MECHANISM":  s.encryptionMechanism,
		"KEYMANAGER_P11_KEY_WRAP_MECHANISM":    s.keyWrapMechanism,
	} {
		if v != "" {
			cfg[k] = v
		}
	}
	for k, v := range map[string]*bool{
		"KEYMANAGER_P11_KEY_WRAP_GENERATE_IV":     s.keyWrapGenerateIV,
		"KEYMANAGER_P11_AES_GCM_GENERATE_IV":      s.aesGCMGenIV,
		"KEYMANAGER_P11_ALWAYS_SET_CKA_SENSITIVE": s.alwaysSetSensitive,
		"KEYMANAGER_P11_OS_LOCKING_OK":            s.osLockingOK,
	} {
		if v != nil {
			cfg[k] = strconv.FormatBool(*v)
		}
	}
	return cfg
}

func simpleCryptoStore(km *kmv1.KeyManager) *kmv1.SimpleCryptoStore {
	for _, s := range km.Spec.SecretStores {
		if s.SimpleCrypto != nil {
			return s.SimpleCrypto
		}
	}
	return nil
}

// keystonePassword is the Secret key of the Keystone service user's password, nil without Keystone auth.
func keystonePassword(km *kmv1.KeyManager) *corev1.SecretKeySelector {
	if ks := km.Spec.Auth.Keystone; km.Spec.Auth.Mode == kmv1.AuthModeKeystone && ks != nil {
		return &ks.PasswordSecretRef
	}
	return nil
}

func pkcs11Store(km *kmv1.KeyManager) *kmv1.PKCS11Store {
	for _, s := range km.Spec.SecretStores {
		if s.PKCS11 != nil {
			return s.PKCS11
		}
	}
	return nil
}

// configHash hashes the rendered configuration, the pod-relevant spec and the referenced objects' versions,
// in a fixed order, so that equal inputs always give the same hash and a no-op reconcile changes nothing.
func configHash(cfg map[string]string, in kmInputs) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		fmt.Fprintf(h, "%s=%s\n", k, cfg[k])
	}
	for _, k := range slices.Sorted(maps.Keys(in.versions)) {
		fmt.Fprintf(h, "%s@%s\n", k, in.versions[k])
	}
	if in.hsm != nil {
		fmt.Fprintf(h, "hsm-client=%s\n", hsmClientDigest(in.hsm, in.settings))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func configMapName(km *kmv1.KeyManager) string { return km.Name + "-config" }

func buildConfigMap(in kmInputs, cfg map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: configMapName(in.km), Namespace: in.km.Namespace, Labels: objectLabels(in.km.Name, serverName),
		},
		Data: cfg,
	}
}

// dbEnv is the database URL assembled in the container from the credentials Secret: Kubernetes expands
// $(VAR) references to variables defined earlier in the list, so the password never enters the pod spec.
func dbEnv(km *kmv1.KeyManager) []corev1.EnvVar {
	db := km.Spec.Database
	ref := func(key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: db.CredentialsSecretRef, Key: key,
		}}
	}
	return []corev1.EnvVar{
		{Name: envDBUser, ValueFrom: ref("username")},
		{Name: envDBPass, ValueFrom: ref("password")},
		{Name: envDBURL, Value: dbURL(km)},
	}
}

// dbURL is km's database URL, its credentials left to the environment's $(…) expansion: it names the database
// and nothing secret.
func dbURL(km *kmv1.KeyManager) string {
	db := km.Spec.Database
	return fmt.Sprintf("mysql://$(%s):$(%s)@%s:%d/%s", envDBUser, envDBPass, db.Host, db.Port, db.Name)
}

func pinEnv(b *kmv1.HSMBackend) corev1.EnvVar {
	return corev1.EnvVar{Name: envP11PIN, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: b.Spec.LoginPINSecretRef.DeepCopy()}}
}

func podSecurityContext() *corev1.PodSecurityContext {
	// fsGroup is what lets the non-root server read the KEK at all: a Secret volume's files belong to root, so
	// without it a 0400 KEK is unreadable by uid 65532 (seen on a real kubelet: "permission denied"). With it
	// the kubelet makes the file root:65532 0440, which the server accepts because root owns it and the group
	// is its own (simplecrypto.privateKEKFile); any other group or any access by others is still refused.
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](serverUID),
		RunAsGroup:     ptr.To[int64](serverUID),
		FSGroup:        ptr.To[int64](serverUID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func containerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// volumes are the server's volumes: the KEK mounted 0400 (0440 root:fsGroup once the kubelet applies fsGroup), the policy, and writable scratch space under a
// read-only root filesystem.
func volumes(km *kmv1.KeyManager) ([]corev1.Volume, []corev1.VolumeMount) {
	tmp, tmpMount := tmpVolume()
	vols := []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, tmp}
	mounts := []corev1.VolumeMount{{Name: "data", MountPath: dataDir}, tmpMount}
	if sc := simpleCryptoStore(km); sc != nil {
		v, m := kekVolume(sc)
		vols, mounts = append(vols, v), append(mounts, m)
	}
	if p := km.Spec.PolicyConfigMapRef; p != nil {
		vols = append(vols, corev1.Volume{Name: "policy", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: p.LocalObjectReference,
			Items:                []corev1.KeyToPath{{Key: p.Key, Path: "policy.yaml"}},
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "policy", MountPath: policyDir, ReadOnly: true})
	}
	return vols, mounts
}

// tmpVolume is the writable /tmp of every container the operator runs under a read-only root filesystem.
func tmpVolume() (corev1.Volume, corev1.VolumeMount) {
	return corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"}
}

// kekVolume mounts the KEK Secret's key at kekFile, mode 0400, as the server and the KEK rewrap Jobs read it.
func kekVolume(sc *kmv1.SimpleCryptoStore) (corev1.Volume, corev1.VolumeMount) {
	return corev1.Volume{Name: "kek", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  sc.KEKSecretRef.Name,
			Items:       []corev1.KeyToPath{{Key: sc.KEKSecretRef.Key, Path: "kek", Mode: ptr.To[int32](0o400)}},
			DefaultMode: ptr.To[int32](0o400),
		}}},
		corev1.VolumeMount{Name: "kek", MountPath: kekDir, ReadOnly: true}
}

// buildPodTemplate is the server pod of km, for its Deployment or its StatefulSet.
func buildPodTemplate(in kmInputs, hash string) corev1.PodTemplateSpec {
	km := in.km
	vols, mounts := volumes(km)
	env := dbEnv(km)
	var inits []corev1.Container
	if in.hsm != nil {
		env = append(env, pinEnv(in.hsm))
		p := hsmClientPod(in.hsm, in.settings, km.Spec.Image)
		inits, vols, mounts, env = p.initContainers, append(vols, p.volumes...), append(mounts, p.mounts...), append(env, p.env...)
	}
	if ks := keystonePassword(km); ks != nil {
		env = append(env, corev1.EnvVar{Name: envKeystonePass, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: ks.DeepCopy()}})
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds: period, TimeoutSeconds: 5, FailureThreshold: 3,
		}
	}
	pl := km.Spec.Placement
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      objectLabels(km.Name, serverName),
			Annotations: map[string]string{annotationConfigHash: hash},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName:           km.Name,
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext:              podSecurityContext(),
			NodeSelector:                 pl.NodeSelector,
			Tolerations:                  pl.Tolerations,
			Affinity:                     pl.Affinity,
			TopologySpreadConstraints:    pl.TopologySpreadConstraints,
			PriorityClassName:            pl.PriorityClassName,
			Volumes:                      vols,
			InitContainers:               inits,
			// The preStop pause and the server's own shutdown timeout (30 s), with a margin.
			TerminationGracePeriodSeconds: ptr.To[int64](preStopSeconds + 30 + 5),
			Containers: []corev1.Container{{
				Name:            serverName,
				Image:           km.Spec.Image,
				ImagePullPolicy: km.Spec.ImagePullPolicy,
				Args:            []string{"serve"},
				EnvFrom:         []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(km)}}}},
				Env:             env,
				Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: apiPort, Protocol: corev1.ProtocolTCP}},
				ReadinessProbe:  probe("/readyz", 10),
				LivenessProbe:   probe("/healthcheck", 10),
				StartupProbe:    &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthcheck", Port: intstr.FromString("http")}}, PeriodSeconds: 2, FailureThreshold: 60},
				// A terminating pod leaves the Service's endpoints while kube-proxy and load balancers
				// catch up, a few seconds in which they still send it connections: it keeps serving
				// them before the server begins its graceful shutdown. Without the pause a rolling
				// update refused some requests (the cluster e2e counted them). A sleep action, as the
				// image has no shell.
				Lifecycle:       &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: preStopSeconds}}},
				Resources:       km.Spec.Resources,
				SecurityContext: containerSecurityContext(),
				VolumeMounts:    mounts,
				// A server that refuses to start prints "ERROR: …" as its last words and exits 1: with the
				// log's tail as its termination message, the container's status says why, and the operator
				// reports it on the KeyManager (podfailures.go) without anyone reading the pod's log.
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
		},
	}
}

// usesStatefulSet reports whether km's pods run under a StatefulSet rather than a Deployment: those of a
// KeyManager with a pkcs11 store. Its pods hold HSM sessions against a connection budget, and a Deployment
// creates the replacement of a terminating pod at once, so during a rollout (even with maxSurge 0) or a node
// drain the terminating pod and its replacement hold sessions together: on the real cluster a 2-replica
// rollout peaked at 3 pods' sessions. A StatefulSet recreates a pod only once the old one is gone, so the
// pods never exceed the replicas and their sessions never exceed replicas × workers.
func usesStatefulSet(km *kmv1.KeyManager) bool { return pkcs11Store(km) != nil }

// buildDeployment is the workload of a KeyManager without an HSM: it rolls with one surge pod.
func buildDeployment(in kmInputs, hash string) *appsv1.Deployment {
	km := in.km
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: km.Name, Namespace: km.Namespace, Labels: objectLabels(km.Name, serverName)},
		Spec: appsv1.DeploymentSpec{
			Replicas:        ptr.To(ptr.Deref(km.Spec.Replicas, 2)),
			Selector:        &metav1.LabelSelector{MatchLabels: selectorLabels(km)},
			MinReadySeconds: minReadySeconds,
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0)),
			}},
			Template: buildPodTemplate(in, hash),
		},
	}
}

// buildStatefulSet is the workload of a KeyManager with a pkcs11 store (see usesStatefulSet): pods start
// and stop in parallel, and a rollout replaces one pod at a time, each after the previous one has exited.
func buildStatefulSet(in kmInputs, hash string) *appsv1.StatefulSet {
	km := in.km
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: km.Name, Namespace: km.Namespace, Labels: objectLabels(km.Name, serverName)},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(ptr.Deref(km.Spec.Replicas, 2)),
			Selector:            &metav1.LabelSelector{MatchLabels: selectorLabels(km)},
			ServiceName:         km.Name,
			MinReadySeconds:     minReadySeconds,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{
				Partition: ptr.To[int32](0), MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			}},
			Template: buildPodTemplate(in, hash),
		},
	}
}

func buildService(km *kmv1.KeyManager) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: km.Name, Namespace: km.Namespace, Labels: objectLabels(km.Name, serverName), Annotations: km.Spec.Service.Annotations},
		Spec: corev1.ServiceSpec{
			Type:     km.Spec.Service.Type,
			Selector: selectorLabels(km),
			Ports: []corev1.ServicePort{{
				Name: "http", Port: km.Spec.Service.Port, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

func buildPDB(km *kmv1.KeyManager) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: km.Name, Namespace: km.Namespace, Labels: objectLabels(km.Name, serverName)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(km)},
			MaxUnavailable: ptr.To(ptr.Deref(km.Spec.PodDisruptionBudget.MaxUnavailable, intstr.FromInt32(1))),
		},
	}
}

// wantPDB reports whether km gets a PodDisruptionBudget: one replica cannot keep any available while it is
// evicted, so a budget would only block node drains.
func wantPDB(km *kmv1.KeyManager) bool {
	return ptr.Deref(km.Spec.PodDisruptionBudget.Enabled, true) && ptr.Deref(km.Spec.Replicas, 2) > 1
}

func buildServiceAccount(km *kmv1.KeyManager) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: km.Name, Namespace: km.Namespace, Labels: objectLabels(km.Name, serverName)},
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// migrationRevision identifies a migration: the image (which carries the schema revision it migrates to) and
// the database it migrates. A change of either runs a new Job.
func migrationRevision(km *kmv1.KeyManager) string {
	db := km.Spec.Database
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\n%s:%d/%s", km.Spec.Image, db.Host, db.Port, db.Name))
	return hex.EncodeToString(sum[:])[:10]
}

func migrationJobName(km *kmv1.KeyManager, rev string) string {
	return km.Name + "-db-migrate-" + rev
}

func buildMigrationJob(km *kmv1.KeyManager, rev string) *batchv1.Job {
	labels := objectLabels(km.Name, migrateName)
	tmp, tmpMount := tmpVolume()
	return oneShotJob(metav1.ObjectMeta{
		Name: migrationJobName(km, rev), Namespace: km.Namespace, Labels: labels,
		Annotations: map[string]string{annotationMigrationRevision: rev},
	}, corev1.PodSpec{
		ServiceAccountName: km.Name,
		NodeSelector:       km.Spec.Placement.NodeSelector,
		Tolerations:        km.Spec.Placement.Tolerations,
		Containers: []corev1.Container{{
			Name:            migrateName,
			Image:           km.Spec.Image,
			ImagePullPolicy: km.Spec.ImagePullPolicy,
			Args:            []string{"manage", "db", "upgrade"},
			Env:             dbEnv(km),
			SecurityContext: containerSecurityContext(),
			VolumeMounts:    []corev1.VolumeMount{tmpMount},
		}},
		Volumes: []corev1.Volume{tmp},
	})
}
