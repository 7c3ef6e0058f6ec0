package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// noAuthClient is a gophercloud key-manager client for the no-auth pipeline.
func noAuthClient(s *setup, project string) *gophercloud.ServiceClient {
	return &gophercloud.ServiceClient{
		ProviderClient: &gophercloud.ProviderClient{HTTPClient: *s.server.Client()},
		Endpoint:       s.server.URL + "/v1/",
		ResourceBase:   s.server.URL + "/v1/",
		MoreHeaders:    map[string]string{"X-Project-Id": project, "X-User-Id": "gopher"},
	}
}

// TestGophercloudSecrets drives the API with gophercloud's keymanager/v1 client, which fixes the expected status
// codes, parses timestamps without a zone and pages by following "next".
func TestGophercloudSecrets(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, append(opts, withRealClock())...)
		client := noAuthClient(s, "gopher-project")
		ctx := context.Background()
		exp := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second)

		created, err := secrets.Create(ctx, client, secrets.CreateOpts{
			Name: "gopher", Algorithm: "aes", BitLength: 256, Mode: "cbc", Payload: "hello gopher",
			PayloadContentType: "text/plain", SecretType: secrets.OpaqueSecret, Expiration: &exp,
		}).Extract()
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		id := created.SecretRef[len(created.SecretRef)-36:]
		got, err := secrets.Get(ctx, client, id).Extract()
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got.Name != "gopher" || got.BitLength != 256 || got.CreatorID != "gopher" || !got.Expiration.Equal(exp) {
			t.Errorf("unexpected secret %+v", got)
		}
		if got.Created.IsZero() || time.Since(got.Created) > time.Hour {
			t.Errorf("created should parse as a recent time, got %v", got.Created)
		}
		payload, err := secrets.GetPayload(ctx, client, id, nil).Extract()
		if err != nil || string(payload) != "hello gopher" {
			t.Fatalf("payload: %q %v", payload, err)
		}

		empty, err := secrets.Create(ctx, client, secrets.CreateOpts{Name: "two-step"}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		emptyID := empty.SecretRef[len(empty.SecretRef)-36:]
		if err := secrets.Update(ctx, client, emptyID, secrets.UpdateOpts{Payload: "later", ContentType: "text/plain"}).ExtractErr(); err != nil {
			t.Fatalf("update: %v", err)
		}
		if p, err := secrets.GetPayload(ctx, client, emptyID, secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}).Extract(); err != nil || string(p) != "later" {
			t.Fatalf("payload after update: %q %v", p, err)
		}

		md, err := secrets.CreateMetadata(ctx, client, id, secrets.MetadataOpts{"env": "test"}).Extract()
		if err != nil || md["metadata_ref"] == "" {
			t.Fatalf("create metadata: %v %v", md, err)
		}
		if err := secrets.CreateMetadatum(ctx, client, id, secrets.MetadatumOpts{Key: "team", Value: "a"}).ExtractErr(); err != nil {
			t.Fatalf("create metadatum: %v", err)
		}
		if m, err := secrets.UpdateMetadatum(ctx, client, id, secrets.MetadatumOpts{Key: "team", Value: "b"}).Extract(); err != nil || m.Value != "b" {
			t.Fatalf("update metadatum: %v %v", m, err)
		}
		all, err := secrets.GetMetadata(ctx, client, id).Extract()
		if err != nil || all["env"] != "test" || all["team"] != "b" {
			t.Fatalf("get metadata: %v %v", all, err)
		}
		if err := secrets.DeleteMetadatum(ctx, client, id, "team").ExtractErr(); err != nil {
			t.Fatalf("delete metadatum: %v", err)
		}

		for i := range 23 {
			if _, err := secrets.Create(ctx, client, secrets.CreateOpts{Name: fmt.Sprintf("bulk-%02d", i)}).Extract(); err != nil {
				t.Fatal(err)
			}
		}
		pages, seen := 0, map[string]bool{}
		err = secrets.List(client, secrets.ListOpts{Limit: 5}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
			pages++
			list, err := secrets.ExtractSecrets(p)
			for _, sec := range list {
				if seen[sec.SecretRef] {
					t.Errorf("secret %s listed twice", sec.SecretRef)
				}
				seen[sec.SecretRef] = true
			}
			return true, err
		})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(seen) != 25 || pages != 5 {
			t.Errorf("paging through next links should see 25 secrets on 5 pages, saw %d on %d", len(seen), pages)
		}
		filtered, err := secrets.List(client, secrets.ListOpts{Name: "bulk-0%", CreatedQuery: &secrets.DateQuery{
			Date: time.Now().UTC().Add(-time.Hour), Filter: secrets.DateFilterGT}}).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if list, _ := secrets.ExtractSecrets(filtered); len(list) != 10 {
			t.Errorf("expected the 10 secrets named bulk-0x, got %d", len(list))
		}

		if err := secrets.Delete(ctx, client, id).ExtractErr(); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err = secrets.Get(ctx, client, id).Extract()
		if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			t.Fatalf("a deleted secret should be 404, got %v", err)
		}
	})
}

// TestGophercloudContainers drives containers, their secret references and consumers with gophercloud's
// keymanager/v1/containers package, which fixes the status codes it accepts (201, 200, 204) and pages by "next".
func TestGophercloudContainers(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, append(opts, withRealClock())...)
		client := noAuthClient(s, "gopher-project")
		ctx := context.Background()
		secret := func(name string) string {
			t.Helper()
			created, err := secrets.Create(ctx, client, secrets.CreateOpts{Name: name}).Extract()
			if err != nil {
				t.Fatal(err)
			}
			return created.SecretRef
		}
		pub, priv, extra := secret("pub"), secret("priv"), secret("extra")

		c, err := containers.Create(ctx, client, containers.CreateOpts{Type: containers.RSAContainer, Name: "pair",
			SecretRefs: []containers.SecretRef{{Name: "public_key", SecretRef: pub}, {Name: "private_key", SecretRef: priv}}}).Extract()
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		id := c.ContainerRef[len(c.ContainerRef)-36:]
		got, err := containers.Get(ctx, client, id).Extract()
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got.Name != "pair" || got.Type != "rsa" || got.Status != "ACTIVE" || got.CreatorID != "gopher" ||
			len(got.SecretRefs) != 2 || got.SecretRefs[0].Name != "private_key" || got.SecretRefs[0].SecretRef != priv ||
			got.Created.IsZero() || !got.Updated.Equal(got.Created) || time.Since(got.Created) > time.Hour {
			t.Fatalf("unexpected container %+v", got)
		}

		generic, err := containers.Create(ctx, client, containers.CreateOpts{Type: containers.GenericContainer,
			Name: "bag"}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		gid := generic.ContainerRef[len(generic.ContainerRef)-36:]
		if _, err := containers.CreateSecretRef(ctx, client, gid, containers.SecretRef{Name: "x", SecretRef: extra}).Extract(); err != nil {
			t.Fatalf("create secret ref: %v", err)
		}
		if err := containers.DeleteSecretRef(ctx, client, gid, containers.SecretRef{Name: "x", SecretRef: extra}).ExtractErr(); err != nil {
			t.Fatalf("delete secret ref: %v", err)
		}

		withConsumer, err := containers.CreateConsumer(ctx, client, id, containers.CreateConsumerOpts{Name: "lb",
			URL: "http://lb/1"}).Extract()
		if err != nil || len(withConsumer.Consumers) != 1 || withConsumer.Consumers[0].URL != "http://lb/1" {
			t.Fatalf("create consumer should answer the container with it (URL matched case-insensitively): %+v %v",
				withConsumer, err)
		}
		for i := range 4 {
			if _, err := containers.CreateConsumer(ctx, client, id, containers.CreateConsumerOpts{
				Name: fmt.Sprintf("c%d", i), URL: "http://c"}).Extract(); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		// gophercloud defines ToContainerListConsumersQuery on ListOpts, not on ListConsumersOpts.
		err = containers.ListConsumers(client, id, containers.ListOpts{Limit: 2}).EachPage(ctx,
			func(_ context.Context, p pagination.Page) (bool, error) {
				list, err := containers.ExtractConsumers(p)
				for _, cc := range list {
					names = append(names, cc.Name)
				}
				return true, err
			})
		if err != nil || fmt.Sprint(names) != "[c0 c1 c2 c3 lb]" {
			t.Fatalf("consumers by name over pages expected, got %v %v", names, err)
		}
		if left, err := containers.DeleteConsumer(ctx, client, id, containers.DeleteConsumerOpts{Name: "lb",
			URL: "http://lb/1"}).Extract(); err != nil || len(left.Consumers) != 4 {
			t.Fatalf("delete consumer: %+v %v", left, err)
		}

		for i := range 5 {
			if _, err := containers.Create(ctx, client, containers.CreateOpts{Type: containers.GenericContainer,
				Name: fmt.Sprintf("bulk-%d", i)}).Extract(); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		err = containers.List(client, containers.ListOpts{Limit: 3}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
			list, err := containers.ExtractContainers(p)
			for _, cc := range list {
				seen[cc.ContainerRef] = true
			}
			return true, err
		})
		if err != nil || len(seen) != 7 {
			t.Fatalf("paging through next links should see 7 containers, saw %d (%v)", len(seen), err)
		}

		if err := containers.Delete(ctx, client, id).ExtractErr(); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := containers.Get(ctx, client, id).Extract(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			t.Fatalf("a deleted container should be 404, got %v", err)
		}
	})
}

// TestGophercloudACLs drives secret and container ACLs with gophercloud's keymanager/v1/acls package: Set is
// PUT, Update is PATCH, Delete expects exactly 200.
func TestGophercloudACLs(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, append(opts, withRealClock())...)
		client := noAuthClient(s, "gopher-project")
		ctx := context.Background()
		created, err := secrets.Create(ctx, client, secrets.CreateOpts{Name: "guarded"}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		c, err := containers.Create(ctx, client, containers.CreateOpts{Type: containers.GenericContainer}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		type kind struct {
			id     string
			set    func(context.Context, *gophercloud.ServiceClient, string, acls.SetOptsBuilder) acls.ACLRefResult
			update func(context.Context, *gophercloud.ServiceClient, string, acls.SetOptsBuilder) acls.ACLRefResult
			get    func(context.Context, *gophercloud.ServiceClient, string) acls.ACLResult
			del    func(context.Context, *gophercloud.ServiceClient, string) acls.DeleteResult
		}
		for _, k := range []kind{
			{created.SecretRef[len(created.SecretRef)-36:], acls.SetSecretACL, acls.UpdateSecretACL, acls.GetSecretACL, acls.DeleteSecretACL},
			{c.ContainerRef[len(c.ContainerRef)-36:], acls.SetContainerACL, acls.UpdateContainerACL, acls.GetContainerACL, acls.DeleteContainerACL},
		} {
			users, private := []string{"u2", "u1"}, false
			ref, err := k.set(ctx, client, k.id, acls.SetOpts{{Type: "read", Users: &users, ProjectAccess: &private}}).Extract()
			if err != nil || !strings.HasSuffix(string(*ref), k.id+"/acl") {
				t.Fatalf("set: %v %v", ref, err)
			}
			acl, err := k.get(ctx, client, k.id).Extract()
			read := (*acl)["read"]
			if err != nil || read.ProjectAccess || fmt.Sprint(read.Users) != "[u1 u2]" || read.Created.IsZero() {
				t.Fatalf("get after set: %+v %v", acl, err)
			}
			more := []string{"u3"}
			if _, err := k.update(ctx, client, k.id, acls.SetOpts{{Type: "read", Users: &more}}).Extract(); err != nil {
				t.Fatalf("update: %v", err)
			}
			acl, err = k.get(ctx, client, k.id).Extract()
			if read := (*acl)["read"]; err != nil || read.ProjectAccess || fmt.Sprint(read.Users) != "[u3]" {
				t.Fatalf("update should replace users and keep project access: %+v %v", acl, err)
			}
			if err := k.del(ctx, client, k.id).ExtractErr(); err != nil {
				t.Fatalf("delete: %v", err)
			}
			acl, err = k.get(ctx, client, k.id).Extract()
			if read := (*acl)["read"]; err != nil || !read.ProjectAccess || len(read.Users) != 0 || !read.Created.IsZero() {
				t.Fatalf("after delete the implicit ACL should be back: %+v %v", acl, err)
			}
		}
	})
}
