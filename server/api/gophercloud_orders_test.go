package api

import (
	"context"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/orders"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
)

// TestGophercloudOrders drives orders with gophercloud's keymanager/v1 client: it expects exactly 202 on
// create, parses timestamps (meta's expiration included) without a zone, always sends "mode" (here empty) and
// pages by following "next".
func TestGophercloudOrders(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, opts ...setupOption) {
		s := newSetup(t, append(opts, withRealClock())...)
		client := noAuthClient(s, "gopher-orders")
		ctx := context.Background()
		exp := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Second)
		var ids []string
		for range 3 {
			created, err := orders.Create(ctx, client, orders.CreateOpts{Type: orders.KeyOrder, Meta: orders.MetaOpts{
				Name: "gopher-key", Algorithm: "aes", BitLength: 256, PayloadContentType: "application/octet-stream",
				Expiration: &exp,
			}}).Extract()
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			ids = append(ids, created.OrderRef[len(created.OrderRef)-36:])
		}
		s.waitOrder(as{project: "gopher-orders"}, ids[0])
		order, err := orders.Get(ctx, client, ids[0]).Extract()
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if order.Status != "ACTIVE" || order.SecretRef == "" || order.SubStatus != "Unknown" || order.CreatorID != "gopher" {
			t.Fatalf("unexpected order %+v", order)
		}
		if !order.Meta.Expiration.Equal(exp) || order.Meta.Mode != "" || order.Meta.BitLength != 256 || order.Created.IsZero() {
			t.Errorf("meta and timestamps should parse: %+v", order)
		}
		secret, err := secrets.Get(ctx, client, order.SecretRef[len(order.SecretRef)-36:]).Extract()
		if err != nil || secret.SecretType != "symmetric" || !secret.Expiration.Equal(exp) {
			t.Fatalf("the order's secret: %+v %v", secret, err)
		}

		pages, err := orders.List(client, orders.ListOpts{Limit: 2}).AllPages(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		all, err := orders.ExtractOrders(pages)
		if err != nil || len(all) != 3 {
			t.Fatalf("following next should list all 3 orders, got %d: %v", len(all), err)
		}
		if err := orders.Delete(ctx, client, ids[1]).ExtractErr(); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := orders.Get(ctx, client, ids[1]).Extract(); err == nil {
			t.Fatal("a deleted order should be gone")
		}
	})
}
