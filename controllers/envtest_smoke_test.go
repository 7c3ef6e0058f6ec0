package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// TestEnvtestSmoke proves that the kube-apiserver and etcd built by
// hack/deps/envtest.sh form a working control plane: objects written through
// a controller-runtime client can be read back.
func TestEnvtestSmoke(t *testing.T) {
	cfg := testbed.StartKube(t)

	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	ctx := t.Context()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "smoke-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	want := map[string]string{"greeting": "hello", "empty": ""}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: ns.Name},
		Data:       want,
	}
	if err := c.Create(ctx, cm); err != nil {
		t.Fatalf("creating configmap: %v", err)
	}

	var got corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKeyFromObject(cm), &got); err != nil {
		t.Fatalf("reading configmap back: %v", err)
	}
	if got.UID == "" || got.UID != cm.UID {
		t.Errorf("read back UID %q, want the created object's UID %q", got.UID, cm.UID)
	}
	if len(got.Data) != len(want) {
		t.Errorf("read back data %v, want %v", got.Data, want)
	}
	for k, v := range want {
		if got.Data[k] != v {
			t.Errorf("data[%q] = %q, want %q", k, got.Data[k], v)
		}
	}
}
