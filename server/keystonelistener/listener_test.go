package keystonelistener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/store"
)

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "km.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// addSecret stores a metadata-only secret in the project with Keystone id project and returns its id.
func addSecret(t *testing.T, db *store.DB, project string) string {
	t.Helper()
	var id string
	err := db.Write(context.Background(), func(tx *store.Tx) error {
		pid, err := tx.EnsureProject(project)
		if err != nil {
			return err
		}
		name := "k"
		s := &store.Secret{Name: &name, ProjectID: pid}
		if err := tx.CreateSecret(s, nil); err != nil {
			return err
		}
		id = s.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func live(t *testing.T, db *store.DB, secretID string) bool {
	t.Helper()
	_, err := db.Read(context.Background()).Secret(secretID, store.LoadOptions{})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// publish sends body to Keystone's notification exchange as Keystone would.
func publish(t *testing.T, url, body string) {
	t.Helper()
	ch := testbed.AMQPChannel(t, url)
	err := ch.PublishWithContext(context.Background(), "keystone", "notifications.info", false, false,
		amqp.Publishing{ContentType: "application/json", Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
}

// TestProjectDeletedInKeystone deletes a real project in the real Keystone and waits for its secrets to go,
// after messages that must delete nothing: malformed, another event type, a deletion without a project id.
func TestProjectDeletedInKeystone(t *testing.T) {
	url := testbed.AMQPURL(t)
	ks := testbed.StartKeystone(t)
	db := openStore(t)
	queue := fmt.Sprintf("keymanager-test-%d", time.Now().UnixNano())
	l, err := New(Config{URL: url, Queue: queue, Retry: 100 * time.Millisecond, Logger: slog.Default()}, db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{}, 1)
	stopped := make(chan struct{})
	go func() { l.Run(ctx, func() { ready <- struct{}{} }); close(stopped) }()
	testbed.DeleteQueueAtCleanup(t, url, queue)
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the listener did not start consuming")
	}

	admin := ks.Admin(t)
	p, err := projects.Create(context.Background(), admin, projects.CreateOpts{
		Name: queue, DomainID: "default"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	doomed := addSecret(t, db, p.ID)
	kept := addSecret(t, db, "another-project")

	for _, body := range []string{
		`not json`,
		`{"oslo.version": "2.0", "oslo.message": "{\"event_type\": \"identity.project.deleted\"}"}`,
		`{"oslo.version": "2.0", "oslo.message": "{\"event_type\": \"identity.project.deleted\", \"payload\": {\"resource_info\": 42}}"}`,
		`{"event_type": "identity.project.updated", "payload": {"resource_info": "` + p.ID + `"}}`,
		`{"oslo.version": "2.0", "oslo.message": "{broken"}`,
	} {
		publish(t, url, body)
	}
	if err := projects.Delete(context.Background(), admin, p.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	// Bounded wait for the asynchronous deletion; the outcome is decided by the store, not the clock.
	for i := 0; live(t, db, doomed); i++ {
		if i == 600 {
			t.Fatal("the deleted project's secret is still there after 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !live(t, db, kept) {
		t.Fatal("another project's secret was deleted")
	}
}
