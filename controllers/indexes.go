package controllers

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kmv1 "github.com/keymanager-io/keymanager/api/v1alpha1"
)

// Field indexes from a CR to the names of the objects it references, so that a change of a Secret, a
// ConfigMap or an HSMBackend finds the CRs that use it without listing all of them.
const (
	indexSecrets    = ".spec.secretRefs" //nolint:gosec // an index name, not a credential
	indexConfigMaps = ".spec.configMapRefs"
	indexHSMBackend = ".spec.hsmBackendRef"
	// indexKeyManager maps a KeyRotation to the KeyManagers its simpleCrypto rotation involves: its target
	// and, once started, every KeyManager that shares the KEK Secret key.
	indexKeyManager = ".spec.keyManagerRef"
)

func keyManagerSecrets(o client.Object) []string {
	km := o.(*kmv1.KeyManager) //nolint:forcetypeassert // the indexer is registered for KeyManager only
	names := []string{km.Spec.Database.CredentialsSecretRef.Name}
	if sc := simpleCryptoStore(km); sc != nil {
		names = append(names, sc.KEKSecretRef.Name)
	}
	if ks := keystonePassword(km); ks != nil {
		names = append(names, ks.Name)
	}
	return names
}

func keyManagerConfigMaps(o client.Object) []string {
	km := o.(*kmv1.KeyManager) //nolint:forcetypeassert // the indexer is registered for KeyManager only
	if p := km.Spec.PolicyConfigMapRef; p != nil {
		return []string{p.Name}
	}
	return nil
}

func keyManagerBackend(o client.Object) []string {
	if p := pkcs11Store(o.(*kmv1.KeyManager)); p != nil { //nolint:forcetypeassert // registered for KeyManager only
		return []string{p.HSMBackendRef.Name}
	}
	return nil
}

func hsmBackendSecrets(o client.Object) []string {
	b := o.(*kmv1.HSMBackend) //nolint:forcetypeassert // the indexer is registered for HSMBackend only
	names := []string{b.Spec.LoginPINSecretRef.Name}
	for _, r := range hsmClientSecrets(b) {
		names = append(names, r.name)
	}
	return names
}

func keyRotationBackend(o client.Object) []string {
	if ref := o.(*kmv1.KeyRotation).Spec.HSMBackendRef; ref != nil { //nolint:forcetypeassert // registered for KeyRotation only
		return []string{ref.Name}
	}
	return nil
}

func keyRotationKeyManagers(o client.Object) []string {
	kr := o.(*kmv1.KeyRotation) //nolint:forcetypeassert // registered for KeyRotation only
	if kr.Spec.KeyManagerRef == nil {
		return nil
	}
	names := []string{kr.Spec.KeyManagerRef.Name}
	if k := kr.Status.KEK; k != nil {
		for _, n := range k.KeyManagers {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

func addIndexes(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	for _, i := range []struct {
		obj   client.Object
		field string
		fn    client.IndexerFunc
	}{
		{&kmv1.KeyManager{}, indexSecrets, keyManagerSecrets},
		{&kmv1.KeyManager{}, indexConfigMaps, keyManagerConfigMaps},
		{&kmv1.KeyManager{}, indexHSMBackend, keyManagerBackend},
		{&kmv1.HSMBackend{}, indexSecrets, hsmBackendSecrets},
		{&kmv1.KeyRotation{}, indexHSMBackend, keyRotationBackend},
		{&kmv1.KeyRotation{}, indexKeyManager, keyRotationKeyManagers},
	} {
		if err := idx.IndexField(ctx, i.obj, i.field, i.fn); err != nil {
			return err
		}
	}
	return nil
}

// listRequests lists the objects of list in namespace whose field index has value, as reconcile requests.
func listRequests(ctx context.Context, c client.Reader, list client.ObjectList, namespace, field, value string) []reconcile.Request {
	if err := c.List(ctx, list, client.InNamespace(namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector(field, value)}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing objects that reference a changed object failed", "field", field, "value", value)
		return nil
	}
	var reqs []reconcile.Request
	switch l := list.(type) {
	case *kmv1.KeyManagerList:
		for _, o := range l.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}})
		}
	case *kmv1.HSMBackendList:
		for _, o := range l.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}})
		}
	case *kmv1.KeyRotationList:
		for _, o := range l.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}})
		}
	}
	return reqs
}
