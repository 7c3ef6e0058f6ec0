package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// terminationLog is where the kubelet reads a container's termination message (the default
// terminationMessagePath): the rewrap Jobs leave their counts there with --summary-file. The kubelet mounts it
// writable even under a read-only root filesystem.
const terminationLog = "/dev/termination-log"

// jobBuilder renders a Job owned by owner in namespace; its name derives from its input.
type jobBuilder interface {
	build(namespace, owner string) *batchv1.Job
}

// kekJob is a `keymanager manage simple-crypto …` Job against one KeyManager's database, with its KEK Secret
// mounted and its database reached exactly as its server pods do.
type kekJob struct {
	km *kmv1.KeyManager
	// component names the Job's purpose in its name and labels: rewrap, verify.
	component string
	args      []string
}

// hash identifies the Job's input: image, command, database and KEK Secret. The KEK's content is not in it:
// the Job reads whatever the Secret holds when its pod starts.
func (j kekJob) hash() string {
	db, sc := j.km.Spec.Database, simpleCryptoStore(j.km)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%v\n%s:%d/%s %s\n", j.km.Spec.Image, j.component, j.args, db.Host, db.Port, db.Name, db.CredentialsSecretRef.Name)
	if sc != nil {
		fmt.Fprintf(h, "kek=%s/%s\n", sc.KEKSecretRef.Name, sc.KEKSecretRef.Key)
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}

// build renders the Job from the KeyManager's own pieces — its image, database environment, KEK volume and
// security contexts — so that the Job reads the KEKs and the database the way the servers do.
func (j kekJob) build(namespace, owner string) *batchv1.Job {
	km := j.km
	tmp, tmpMount := tmpVolume()
	vols, mounts := []corev1.Volume{tmp}, []corev1.VolumeMount{tmpMount}
	if sc := simpleCryptoStore(km); sc != nil {
		v, m := kekVolume(sc)
		vols, mounts = append(vols, v), append(mounts, m)
	}
	env := append(dbEnv(km), corev1.EnvVar{Name: envKEKFile, Value: kekFile})
	return oneShotJob(metav1.ObjectMeta{
		Name: jobName(owner, j.component, j.hash()), Namespace: namespace, Labels: objectLabels(owner, j.component),
		Annotations: map[string]string{"keymanager.io/keymanager": km.Name},
	}, corev1.PodSpec{
		NodeSelector: km.Spec.Placement.NodeSelector,
		Tolerations:  km.Spec.Placement.Tolerations,
		Containers: []corev1.Container{{
			Name:            j.component,
			Image:           km.Spec.Image,
			ImagePullPolicy: km.Spec.ImagePullPolicy,
			Args:            j.args,
			Env:             env,
			SecurityContext: containerSecurityContext(),
			VolumeMounts:    mounts,
		}},
		Volumes: vols,
	})
}

// jobName names a Job of owner after its purpose and the hash of its input: the same input is the same Job.
func jobName(owner, component, hash string) string { return owner + "-" + component + "-" + hash }

// oneShotJob is the frame every Job of the operator shares: its pod carries the Job's labels, runs once per
// attempt (three retries), as the non-root server user, without a service account token.
func oneShotJob(meta metav1.ObjectMeta, pod corev1.PodSpec) *batchv1.Job {
	pod.RestartPolicy = corev1.RestartPolicyNever
	pod.AutomountServiceAccountToken = ptr.To(false)
	pod.SecurityContext = podSecurityContext()
	return &batchv1.Job{
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](3),
			Template:     corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: meta.Labels}, Spec: pod},
		},
	}
}
