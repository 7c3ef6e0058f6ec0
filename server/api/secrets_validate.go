package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/keymanager-io/keymanager/server/store"
)

// secretSchema is the reference's NewSecretValidator schema.
var secretSchema = objectSchema{
	name: "Secret",
	properties: []property{
		{name: "name", types: []string{"string", "null"}, maxLength: 255},
		{name: "algorithm", types: []string{"string"}, maxLength: 255},
		{name: "mode", types: []string{"string"}, maxLength: 255},
		{name: "bit_length", types: []string{"integer"}, minimum: int64p(1), maximum: int64p(32767)},
		{name: "expiration", types: []string{"string"}, maxLength: 255},
		{name: "payload", types: []string{"string"}},
		{name: "secret_type", types: []string{"string"}, maxLength: 80,
			enum: []string{"symmetric", "passphrase", "private", "public", "certificate", "opaque"}},
		{name: "payload_content_type", types: []string{"string", "null"}, maxLength: 255},
		{name: "payload_content_encoding", types: []string{"string"}, maxLength: 255, enum: []string{"base64"}},
		{name: "transport_key_needed", types: []string{"string"}, enum: []string{"true", "false"}},
		{name: "transport_key_id", types: []string{"string"}},
	},
}

// newSecret is a validated secret-create request.
type newSecret struct {
	name               *string
	secretType         string
	algorithm, mode    *string
	bitLength          *int
	expiration         *time.Time
	hasPayload         bool
	payload            string // stripped, as sent
	contentType        string // as sent (for an order: the type of the key to generate)
	contentEncoding    string
	transportKeyNeeded bool
	transportKeyID     *string
}

// validateNewSecret applies the schema, then the reference's checks in its order. parent is "" for POST
// /v1/secrets; for the meta of an order it names the order's schema: messages then name the schema
// "Secret' within 'Order", and a payload_content_type may come without a payload (it is the type of the key to
// generate), but must be a supported one.
func (a *API) validateNewSecret(body any, now time.Time, parent string) (*newSecret, *Error) {
	schema := secretSchema.name
	if parent != "" {
		schema += "' within '" + parent
	}
	obj, verr := secretSchema.named(schema).validate(body)
	if verr != nil {
		return nil, verr
	}
	ns := &newSecret{secretType: store.DefaultSecretType}
	if s, ok := obj["name"].(string); ok {
		ns.name = &s
	}
	if s, ok := obj["algorithm"].(string); ok {
		ns.algorithm = &s
	}
	if s, ok := obj["mode"].(string); ok {
		ns.mode = &s
	}
	if n, ok := obj["bit_length"].(json.Number); ok {
		v, _ := integral(n)
		bits := int(v)
		ns.bitLength = &bits
	}
	if s, ok := obj["secret_type"].(string); ok {
		ns.secretType = s
	}
	if s, ok := obj["transport_key_needed"].(string); ok {
		ns.transportKeyNeeded = strings.EqualFold(s, "true")
	}
	if s, ok := obj["transport_key_id"].(string); ok {
		ns.transportKeyID = &s
	}
	if s, ok := obj["expiration"].(string); ok && pyStrip(s) != "" {
		t, err := parseISOTime(pyStrip(s))
		// The reference converts to naive UTC with plain datetime arithmetic, which overflows past the years
		// 1-9999 (an OverflowError it answers with 500); such a date is a client error here.
		if t = t.UTC(); err != nil || t.Year() < 1 || t.Year() > 9999 {
			return nil, invalidObject(schema, "Invalid date for 'expiration'", "expiration")
		}
		if !t.After(now) {
			return nil, invalidObject(schema, "'expiration' is before current time", "expiration")
		}
		ns.expiration = &t
	}
	unsupportedType := func() *Error {
		return invalidObject(schema, "payload_content_type is not one of "+pyStringList(supportedTypes),
			"payload_content_type")
	}
	ct, ctPresent := obj["payload_content_type"]
	ctText, _ := ct.(string)
	if payload, ok := obj["payload"].(string); ok {
		if ct == nil {
			return nil, invalidObject(schema, "If 'payload' is supplied, 'payload_content_type' must also be supplied.",
				"payload_content_type")
		}
		if !isSupportedContentType(ctText) {
			return nil, unsupportedType()
		}
		enc, _ := obj["payload_content_encoding"].(string)
		if isBinaryType(normalizeContentType(ctText)) {
			if enc != "base64" && enc != "binary" {
				return nil, invalidObject(schema, "payload_content_encoding is not one of ['base64', 'binary']",
					"payload_content_encoding")
			}
		} else if _, given := obj["payload_content_encoding"]; given {
			return nil, invalidObject(schema, "payload_content_encoding is not one of None", "payload_content_encoding")
		}
		if len(payload) > a.cfg.MaxSecretBytes {
			return nil, newError(http.StatusRequestEntityTooLarge, "Provided information too large to process")
		}
		if payload == "" {
			return nil, invalidObject(schema, "If 'payload' specified, must be non empty", "payload")
		}
		if enc == "base64" {
			if _, err := decodeBase64Text(payload); err != nil {
				return nil, invalidObject(schema, "Invalid payload for payload_content_encoding", "payload")
			}
		}
		ns.hasPayload, ns.payload, ns.contentType, ns.contentEncoding = true, payload, ctText, enc
	} else if ctPresent {
		if parent == "" {
			return nil, invalidObject(schema, "payload must be provided when payload_content_type is specified", "payload")
		}
		if ctText != "" && !isSupportedContentType(ctText) {
			return nil, unsupportedType()
		}
		ns.contentType = ctText
	}
	return ns, nil
}
