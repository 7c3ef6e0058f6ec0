package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
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
