package api

import (
	"encoding/json"
	"net/http"

	"github.com/keymanager-io/keymanager/server/store"
)

// orderJSON is the order representation (the reference's Order.to_dict_fields with hrefs). python-barbicanclient
// builds KeyOrder(**order) and AsymmetricOrder(**order) from it and fails on unknown keys, so optional keys are
// left out when they are empty, as the reference does, and meta is what was stored.
type orderJSON struct {
	Created          string          `json:"created"`
	Updated          string          `json:"updated"`
	Status           string          `json:"status"`
	Type             string          `json:"type"`
	Meta             json.RawMessage `json:"meta"`
	OrderRef         string          `json:"order_ref"`
	SecretRef        string          `json:"secret_ref,omitempty"`
	ContainerRef     string          `json:"container_ref,omitempty"`
	ErrorStatusCode  string          `json:"error_status_code,omitempty"`
	ErrorReason      string          `json:"error_reason,omitempty"`
	SubStatus        string          `json:"sub_status,omitempty"`
	SubStatusMessage string          `json:"sub_status_message,omitempty"`
	CreatorID        string          `json:"creator_id,omitempty"`
}

var jsonNull = json.RawMessage("null")

func (a *API) orderJSON(r *http.Request, o *store.Order) orderJSON {
	out := orderJSON{
		Created:          isoformat(o.CreatedAt),
		Updated:          isoformat(o.UpdatedAt),
		Status:           o.Status,
		Type:             o.Type,
		Meta:             jsonNull,
		OrderRef:         a.href(r, "orders/"+o.ID),
		ErrorStatusCode:  deref(o.ErrorStatusCode),
		ErrorReason:      deref(o.ErrorReason),
		SubStatus:        deref(o.SubStatus),
		SubStatusMessage: deref(o.SubStatusMessage),
		CreatorID:        deref(o.CreatorID),
	}
	if o.Meta != nil && json.Valid([]byte(*o.Meta)) {
		out.Meta = json.RawMessage(*o.Meta)
	}
	if id := deref(o.SecretID); id != "" {
		out.SecretRef = a.href(r, "secrets/"+id)
	}
	if id := deref(o.ContainerID); id != "" {
		out.ContainerRef = a.href(r, "containers/"+id)
	}
	// A worker's claim is bookkeeping of this server, not a sub-status of the order.
	if out.SubStatus == store.OrderClaim {
		out.SubStatus = ""
	}
	return out
}

// deref is a nullable column's value, "" for NULL.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
