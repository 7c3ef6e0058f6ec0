package api

import (
	"net/http"
	"time"

	"github.com/keymanager-io/keymanager/server/store"
)

// secretJSON is the secret representation. python-barbicanclient builds Secret(**item) from it and fails on
// unknown keys, so it carries exactly these fields; content_types and consumers only when they apply.
type secretJSON struct {
	Created      string            `json:"created"`
	Updated      string            `json:"updated"`
	Status       string            `json:"status"`
	Name         *string           `json:"name"`
	SecretType   string            `json:"secret_type"`
	Expiration   *string           `json:"expiration"`
	Algorithm    *string           `json:"algorithm"`
	BitLength    *int              `json:"bit_length"`
	Mode         *string           `json:"mode"`
	CreatorID    *string           `json:"creator_id"`
	ContentTypes map[string]string `json:"content_types,omitempty"`
	Consumers    *[]consumerJSON   `json:"consumers,omitempty"`
	SecretRef    string            `json:"secret_ref"`
}

type consumerJSON struct {
	Service      string `json:"service"`
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id"`
}

func (a *API) secretJSON(r *http.Request, v *store.SecretView, withConsumers bool) secretJSON {
	out := secretJSON{
		Created:    isoformat(v.CreatedAt),
		Updated:    isoformat(v.UpdatedAt),
		Status:     v.Status,
		Name:       v.Name,
		SecretType: v.SecretType,
		Algorithm:  v.Algorithm,
		BitLength:  v.BitLength,
		Mode:       v.Mode,
		CreatorID:  v.CreatorID,
		SecretRef:  a.href(r, "secrets/"+v.ID),
	}
	if out.Status == "" {
		out.Status = "ACTIVE"
	}
	if v.Expiration != nil {
		e := isoformat(*v.Expiration)
		out.Expiration = &e
	}
	if v.HasPayload {
		out.ContentTypes = contentTypesField(v.ContentType)
	}
	if withConsumers {
		consumers := make([]consumerJSON, 0, len(v.Consumers))
		for _, c := range v.Consumers {
			consumers = append(consumers, consumerJSON{Service: c.Service, ResourceType: c.ResourceType, ResourceID: c.ResourceID})
		}
		out.Consumers = &consumers
	}
	return out
}

// isoformat renders a UTC time like Python's datetime.isoformat() on a naive value: microseconds only when
// non-zero, never a zone (gophercloud parses "2006-01-02T15:04:05").
func isoformat(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}
