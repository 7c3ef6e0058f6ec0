package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// hsmJob describes a Job that runs a `keymanager manage …` command against an HSMBackend.
type hsmJob struct {
	backend  *kmv1.HSMBackend
	settings hsmSettings
	image    string
	// component names the Job's purpose in its name and labels: ensure-keys, rotate-keys, rewrap.
	component string
	args      []string
	// extraEnv is added after the PKCS#11 settings (the database URL of a rewrap).
	extraEnv []corev1.EnvVar
}

// hash identifies the Job's input: a change of labels, mechanisms, image or command is a new Job, and the
// same input is the same Job, which makes the controllers idempotent across restarts.
func (j hsmJob) hash() string {
	cfg := p11Config(j.backend, j.settings)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%v\n", j.image, j.component, j.args)
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		fmt.Fprintf(h, "%s=%s\n", k, cfg[k])
	}
	fmt.Fprintf(h, "pin=%s/%s\n", j.backend.Spec.LoginPINSecretRef.Name, j.backend.Spec.LoginPINSecretRef.Key)
	fmt.Fprintf(h, "hsm-client=%s\n", hsmClientDigest(j.backend, j.settings))
	for _, e := range j.extraEnv {
		fmt.Fprintf(h, "%s=%s\n", e.Name, e.Value)
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}

// build renders the Job, owned by nothing yet. The PKCS#11 settings are plain environment values (they are
// not secret); the PIN comes from the backend's Secret. One session is all a Job opens, which is what the
// backend's reserved sessions are for.
func (j hsmJob) build(namespace, owner string) *batchv1.Job {
	cfg := p11Config(j.backend, j.settings)
	cfg["KEYMANAGER_HSM_MAX_SESSIONS"] = "1"
	env := make([]corev1.EnvVar, 0, len(cfg)+1+len(j.extraEnv))
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		env = append(env, corev1.EnvVar{Name: k, Value: cfg[k]})
	}
	env = append(env, pinEnv(j.backend))
	env = append(env, j.extraEnv...)
	// The Job loads the vendor client as the servers do: the same init containers, volumes and environment.
	client := hsmClientPod(j.backend, j.settings, j.image)
	tmp, tmpMount := tmpVolume()
	env = append(env, client.env...)
	return oneShotJob(metav1.ObjectMeta{
		Name: jobName(owner, j.component, j.hash()), Namespace: namespace, Labels: objectLabels(owner, j.component),
		Annotations: map[string]string{"keymanager.io/mkek-label": j.settings.mkekLabel, "keymanager.io/hmac-label": j.settings.hmacLabel},
	}, corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:            j.component,
			Image:           j.image,
			Args:            j.args,
			Env:             env,
			SecurityContext: containerSecurityContext(),
			VolumeMounts:    append([]corev1.VolumeMount{tmpMount}, client.mounts...),
		}},
		InitContainers: client.initContainers,
		Volumes:        append([]corev1.Volume{tmp}, client.volumes...),
	})
}

// withLabels returns s with other master key labels.
func withLabels(s hsmSettings, mkek, hmac string) hsmSettings {
	s.mkekLabel, s.hmacLabel = mkek, hmac
	return s
}
