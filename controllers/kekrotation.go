package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
	"github.com/keymanager-io/keymanager/server/crypto/simplecrypto"
)

// annotationKEKRotation on a KEK Secret names (by UID) the KeyRotation whose KEK is its first line. It is written
// in the same Update as the KEK, so a rotation that finds it there knows its KEK is in place — after an operator
// restart or a lost status write — without status ever holding the key or anything derived from it.
const annotationKEKRotation = "keymanager.io/kek-rotation"

// stepKEK advances a rotation of a KeyManager's simpleCrypto KEK: the same phases as an HSM rotation, with the
// new key written by the operator into the KEK Secret, before the old ones, which stay for decryption.
func (r *KeyRotationReconciler) stepKEK(ctx context.Context, kr *kmv1.KeyRotation, status *kmv1.KeyRotationStatus) error {
	switch status.Phase {
	case kmv1.PhasePending:
		return r.startKEK(ctx, kr, status)
	case kmv1.PhaseGeneratingKeys:
		return r.writeKEK(ctx, kr, status)
	case kmv1.PhaseRollingOut:
		return r.rollOutKEK(ctx, kr, status)
	case kmv1.PhaseRewrapping:
		return r.rewrapKEK(ctx, kr, status, false)
	case kmv1.PhaseVerifying:
		return r.rewrapKEK(ctx, kr, status, true)
	}
	return nil
}

// kekUsers are the KeyManagers whose simpleCrypto store reads the KEKs from ref, by name.
func (r *KeyRotationReconciler) kekUsers(ctx context.Context, ns string, ref corev1.SecretKeySelector) ([]kmv1.KeyManager, error) {
	var kms kmv1.KeyManagerList
	if err := r.List(ctx, &kms, client.InNamespace(ns), client.MatchingFields{indexSecrets: ref.Name}); err != nil {
		return nil, fmt.Errorf("listing the KeyManagers of Secret %s: %w", ref.Name, err)
	}
	users := slices.DeleteFunc(kms.Items, func(km kmv1.KeyManager) bool {
		sc := simpleCryptoStore(&km)
		return !km.DeletionTimestamp.IsZero() || sc == nil || sc.KEKSecretRef.Name != ref.Name || sc.KEKSecretRef.Key != ref.Key
	})
	slices.SortFunc(users, func(a, c kmv1.KeyManager) int { return strings.Compare(a.Name, c.Name) })
	return users, nil
}

// startKEK takes the KEK Secret key when no rotation of any KeyManager that shares it runs or waits before
// this one, and records which Secret and KeyManagers the rotation is about.
func (r *KeyRotationReconciler) startKEK(ctx context.Context, kr *kmv1.KeyRotation, status *kmv1.KeyRotationStatus) error {
	name := kr.Spec.KeyManagerRef.Name
	km := &kmv1.KeyManager{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: kr.Namespace, Name: name}, km); err != nil {
		if apierrors.IsNotFound(err) {
			status.Message = fmt.Sprintf("waiting for KeyManager %s", name)
			return nil
		}
		return fmt.Errorf("reading KeyManager %s: %w", name, err)
	}
	i := slices.IndexFunc(km.Spec.SecretStores, func(s kmv1.SecretStore) bool { return s.Name == kr.Spec.SecretStore })
	if i < 0 || km.Spec.SecretStores[i].SimpleCrypto == nil {
		return &problem{message: fmt.Sprintf("KeyManager %s has no simpleCrypto secret store named %q", name, kr.Spec.SecretStore)}
	}
	ref := km.Spec.SecretStores[i].SimpleCrypto.KEKSecretRef
	users, err := r.kekUsers(ctx, kr.Namespace, ref)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(users))
	for _, u := range users {
		names = append(names, u.Name)
	}
	if !slices.Contains(names, name) { // the cache has not indexed the KeyManager's store yet
		names = append(names, name)
		slices.Sort(names)
	}
	// One rotation at a time per Secret key: the rotations of every KeyManager that shares it.
	what := fmt.Sprintf("the KEK in Secret %s", ref.Name)
	for _, n := range names {
		var rots kmv1.KeyRotationList
		if err := r.List(ctx, &rots, client.InNamespace(kr.Namespace), client.MatchingFields{indexKeyManager: n}); err != nil {
			return fmt.Errorf("listing the rotations of KeyManager %s: %w", n, err)
		}
		if wait := waitFor(kr, rots.Items, what); wait != "" {
			status.Message = wait
			return nil
		}
	}
	status.KEK = &kmv1.KEKRotationStatus{SecretName: ref.Name, Key: ref.Key, KeyManagers: names}
	begin(kr, status, fmt.Sprintf("writing a new KEK into Secret %s before the old ones", ref.Name))
	return nil
}

// kekSecret reads the rotation's KEK Secret and counts the KEKs it holds. A Secret whose key the server could not
// read is a problem; the parse error names a line and entry, never key material.
func (r *KeyRotationReconciler) kekSecret(ctx context.Context, kr *kmv1.KeyRotation, k *kmv1.KEKRotationStatus) (*corev1.Secret, []simplecrypto.Key, error) {
	s := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: kr.Namespace, Name: k.SecretName}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, &problem{message: fmt.Sprintf("KEK Secret %s was deleted during the rotation", k.SecretName)}
		}
		return nil, nil, fmt.Errorf("reading KEK Secret %s: %w", k.SecretName, err)
	}
	keys, err := simplecrypto.ParseKEKs(string(s.Data[k.Key]))
	if err != nil {
		return nil, nil, &problem{message: fmt.Sprintf("Secret %s key %s does not hold KEKs the server can read: %v", k.SecretName, k.Key, err)}
	}
	return s, keys, nil
}

// writeKEK puts a new KEK first in the Secret, the old ones after it, and marks the Secret with this rotation's
// UID in the same Update. The Update carries the resourceVersion it read: a concurrent writer makes it fail
// (and the next reconcile reads again) rather than one of the two KEKs being lost. Once the mark is there the
// KEK is never written again.
func (r *KeyRotationReconciler) writeKEK(ctx context.Context, kr *kmv1.KeyRotation, status *kmv1.KeyRotationStatus) error {
	k := status.KEK
	s, keys, err := r.kekSecret(ctx, kr, k)
	if err != nil {
		return err
	}
	if s.Annotations[annotationKEKRotation] != string(kr.UID) {
		next, err := simplecrypto.GenerateKEK()
		if err != nil {
			return err
		}
		old := s.Data[k.Key]
		// The comment is for people reading the Secret; the server skips it.
		content := fmt.Appendf(nil, "# KeyRotation %s, %s: the next key is active; older keys follow for decryption\n%s\n",
			kr.Name, time.Now().UTC().Format(time.RFC3339), next.Encode())
		content = append(content, old...)
		s.Data[k.Key] = content
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[annotationKEKRotation] = string(kr.UID)
		err = r.Update(ctx, s)
		clear(content)
		switch {
		case apierrors.IsInvalid(err) || apierrors.IsForbidden(err):
			return &problem{message: fmt.Sprintf("the new KEK cannot be written into Secret %s: %s", k.SecretName, apierrors.ReasonForError(err))}
		case err != nil:
			return fmt.Errorf("writing the new KEK into Secret %s: %w", k.SecretName, err)
		}
		keys = append(keys, next)
	}
	k.Keys = int32(min(len(keys), 1<<30)) //nolint:gosec // bounded just above
	status.Phase = kmv1.PhaseRollingOut
	status.Message = fmt.Sprintf("Secret %s holds the new KEK first and %d old ones; rolling the KeyManagers onto it", k.SecretName, len(keys)-1)
	return nil
}

// rollOutKEK waits until every KeyManager sharing the Secret runs pods rendered from the Secret as the rotation
// wrote it. A Secret that lost the rotation's mark or one of its KEKs meanwhile fails the rotation before any
// project key is moved: whoever rewrote it must check that no KEK was lost.
func (r *KeyRotationReconciler) rollOutKEK(ctx context.Context, kr *kmv1.KeyRotation, status *kmv1.KeyRotationStatus) error {
	k := status.KEK
	s, keys, err := r.kekSecret(ctx, kr, k)
	if err != nil {
		return err
	}
	if marked := s.Annotations[annotationKEKRotation] == string(kr.UID); !marked || len(keys) < int(k.Keys) {
		mark := "still names"
		if !marked {
			mark = "no longer names"
		}
		return &problem{message: fmt.Sprintf("Secret %s was rewritten during the rotation: it holds %d KEKs (the rotation left %d) and %s "+
			"this rotation; make sure it still holds every KEK, the new one first, then create a new KeyRotation",
			k.SecretName, len(keys), k.Keys, mark)}
	}
	for _, name := range k.KeyManagers {
		km := &kmv1.KeyManager{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: kr.Namespace, Name: name}, km); err != nil {
			if apierrors.IsNotFound(err) {
				continue // no pods run with the old KEK
			}
			return fmt.Errorf("reading KeyManager %s: %w", name, err)
		}
		if sc := simpleCryptoStore(km); sc == nil || sc.KEKSecretRef.Name != k.SecretName {
			continue // it moved to another Secret meanwhile
		}
		if km.Status.ObservedGeneration != km.Generation || km.Status.KEKSecretVersion != s.ResourceVersion {
			status.Message = waitingFor(km, "to render the new KEK")
			return nil
		}
		if ok, err := r.keyManagerRolledOut(ctx, km); err != nil || !ok {
			status.Message = waitingFor(km, "to roll out")
			return err
		}
	}
	status.Phase = kmv1.PhaseRewrapping
	status.Message = fmt.Sprintf("%d KeyManagers run with the new KEK; rewrapping project keys", len(k.KeyManagers))
	return nil
}

// rewrapKEK runs `manage simple-crypto rewrap` against the database of every KeyManager sharing the Secret;
// verify runs it with --verify, which fails while any project key is left under an old KEK (--dry-run in a dry
// run).
func (r *KeyRotationReconciler) rewrapKEK(ctx context.Context, kr *kmv1.KeyRotation, status *kmv1.KeyRotationStatus, verify bool) error {
	k := status.KEK
	var kms []kmv1.KeyManager
	for _, name := range k.KeyManagers {
		km := kmv1.KeyManager{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: kr.Namespace, Name: name}, &km); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("reading KeyManager %s: %w", name, err)
		}
		if sc := simpleCryptoStore(&km); sc != nil && sc.KEKSecretRef.Name == k.SecretName && sc.KEKSecretRef.Key == k.Key {
			kms = append(kms, km)
		}
	}
	if len(kms) == 0 {
		return &problem{message: fmt.Sprintf("no KeyManager uses the KEK in Secret %s any more", k.SecretName)}
	}
	return r.rewrapPhase(ctx, kr, status, kms, verify, "simple-crypto rewrap", func(km *kmv1.KeyManager, component string, args []string) (jobBuilder, error) {
		return kekJob{km: km, component: component, args: args}, nil
	}, func() string {
		return fmt.Sprintf("rotated the KEK in Secret %s; its %d old KEKs stay after it for decryption", k.SecretName, k.Keys-1)
	})
}
