package api

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/crypto/storecrypto"
	"github.com/keymanager-io/keymanager/server/policy"
	"github.com/keymanager-io/keymanager/server/store"
)

// createSecret is POST /v1/secrets: one-step (with payload) or metadata-only.
func (a *API) createSecret(w http.ResponseWriter, r *http.Request) {
	const op = "Secret creation"
	body, ok := a.admitBody(w, r, guard{op: op, action: policy.ActionSecretsPost, accept: acceptJSON, jsonBody: true})
	if !ok {
		return
	}
	now := a.now()
	ns, e := a.validateNewSecret(body, now, "")
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	if e := a.checkTransportKey(r, op, ns); e != nil {
		writeErrorBody(w, r, e)
		return
	}
	c := caller(r)
	secret := &store.Secret{
		Model:      store.Model{ID: store.NewID(), CreatedAt: now, UpdatedAt: now, Status: store.StatusActive},
		Name:       ns.name,
		SecretType: ns.secretType,
		Expiration: ns.expiration,
		Algorithm:  ns.algorithm,
		BitLength:  ns.bitLength,
		Mode:       ns.mode,
		CreatorID:  c.CreatorID(),
	}
	var payload *store.SecretPayload
	if ns.hasPayload {
		plaintext, contentType := jsonPayloadBytes(ns)
		payload, e = a.encrypt(r, op, storecrypto.Request{SecretID: secret.ID, ProjectExternalID: c.ProjectID,
			Plaintext: plaintext, ContentType: contentType})
		clear(plaintext)
		if e != nil {
			writeErrorBody(w, r, e)
			return
		}
	}
	err := a.db.Write(r.Context(), func(tx *store.Tx) error {
		projectID, err := tx.EnsureProject(c.ProjectID)
		if err != nil {
			return err
		}
		if err := a.enforceQuota(tx, projectID, store.CountSecrets); err != nil {
			return err
		}
		secret.ProjectID = projectID
		return tx.CreateSecret(secret, payload)
	})
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	ref := a.href(r, "secrets/"+secret.ID)
	w.Header().Set("Location", ref)
	writeJSON(w, http.StatusCreated, map[string]string{"secret_ref": ref})
}

// checkTransportKey applies the reference's transport-key rules to a new secret. No store here wraps payloads
// with transport keys (a KRA feature): a payload sent with the id of a transport key is stored only when that key
// names the store_crypto plugin, as the reference picks the store by the key's plugin; asking for a transport key
// for a two-step upload is refused (the reference fails with a 500 there; the spec recommends this 400). Without a
// payload the id is ignored, and with one the request for a key is, as in the reference.
func (a *API) checkTransportKey(r *http.Request, op string, ns *newSecret) *Error {
	if !ns.hasPayload {
		if ns.transportKeyNeeded {
			return issue(http.StatusBadRequest, op, "Secret store supported plugin not found.")
		}
		return nil
	}
	if ns.transportKeyID == nil {
		return nil
	}
	k, err := a.db.Read(r.Context()).TransportKey(*ns.transportKeyID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return issue(http.StatusBadRequest, op, "Provided transport key was not found.")
	case err != nil:
		return a.asError(r, op, err)
	case k.PluginName != crypto.StoreCryptoPluginName:
		return issue(http.StatusBadRequest, op, "No plugin was found that could support your request")
	}
	return nil
}

// encrypt turns a payload into the rows to store, with the secret store chosen for the request's project.
func (a *API) encrypt(r *http.Request, op string, req storecrypto.Request) (*store.SecretPayload, *Error) {
	tx := a.db.Read(r.Context())
	projectID, err := tx.ProjectID(req.ProjectExternalID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, a.asError(r, op, err)
	}
	backend, err := a.secrets.For(tx, projectID)
	if err != nil {
		return nil, a.asError(r, op, err)
	}
	payload, err := a.secrets.Encrypt(r.Context(), backend, req)
	if err != nil {
		return nil, a.asError(r, op, err)
	}
	return payload, nil
}

// jsonPayloadBytes turns a validated JSON payload into plaintext bytes and its normalised content type: text is
// stored as its UTF-8 bytes, binary payloads arrive base64-encoded (validation made sure it decodes).
func jsonPayloadBytes(ns *newSecret) ([]byte, string) {
	ct := normalizeContentType(ns.contentType)
	if isBinaryType(ct) {
		b, _ := decodeBase64Text(ns.payload)
		return b, ct
	}
	return []byte(ns.payload), ct
}

// getSecret is GET /v1/secrets/{id}: metadata for a JSON Accept, otherwise the deprecated payload retrieval.
func (a *API) getSecret(w http.ResponseWriter, r *http.Request) {
	const op = "Secret retrieval"
	accept := strings.Join(r.Header.Values("Accept"), ", ")
	wantsMetadata := accept == "" || accept == mediaJSON || accept == "*/*"
	g := guard{op: op, action: policy.ActionSecretGet, accept: acceptAnyType}
	if !wantsMetadata {
		g.action = policy.ActionSecretDecrypt
	}
	v, ok := a.secretFor(w, r, g, store.LoadOptions{Consumers: wantsMetadata && microversion(r) >= 1, Payload: !wantsMetadata})
	if !ok {
		return
	}
	if !wantsMetadata {
		a.servePayload(w, r, op, v, accept)
		return
	}
	writeJSON(w, http.StatusOK, a.secretJSON(r, v, microversion(r) >= 1))
}

// getSecretPayload is /v1/secrets/{id}/payload; policy is checked before the method, as in the reference.
func (a *API) getSecretPayload(w http.ResponseWriter, r *http.Request) {
	const op = "Secret payload retrieval"
	v, ok := a.secretFor(w, r, guard{op: op, action: policy.ActionSecretDecrypt, accept: acceptAnyType},
		store.LoadOptions{Payload: true})
	if !ok {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		e := bareError(http.StatusMethodNotAllowed)
		e.Allow = "GET"
		writeErrorBody(w, r, e)
		return
	}
	a.servePayload(w, r, op, v, strings.Join(r.Header.Values("Accept"), ", "))
}

// servePayload decrypts and answers a payload. The Accept value is used as given, not parsed: that is the
// reference's contract (python-barbicanclient sends the secret's content_types.default).
func (a *API) servePayload(w http.ResponseWriter, r *http.Request, op string, v *store.SecretView, accept string) {
	if accept == "" {
		accept = ctBinary
	}
	if !v.HasPayload {
		writeErrorBody(w, r, newError(http.StatusNotFound, "Not Found. Sorry but your secret has no payload."))
		return
	}
	q := r.URL.Query()
	if q.Get("trans_wrapped_session_key") != "" && q.Get("transport_key_id") == "" {
		writeErrorBody(w, r, newError(http.StatusBadRequest, "Transport key wrapped session key has been provided to "+
			"wrap secrets for retrieval, but the transport key id has not been provided."))
		return
	}
	requested := accept
	if accept == "*/*" {
		requested = v.ContentType
	}
	if !isSupportedContentType(requested) {
		writeErrorBody(w, r, issue(http.StatusNotAcceptable, op, "Wrong payload content-type"))
		return
	}
	plaintext, err := a.secrets.Decrypt(r.Context(), v)
	if errors.Is(err, storecrypto.ErrNoData) {
		writeErrorBody(w, r, issue(http.StatusNotFound, op, "Secret not found."))
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	defer clear(plaintext)
	if len(plaintext) == 0 {
		// The reference's handler returns the empty payload, which pecan answers as 204 without a body or a
		// Content-Type.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	switch {
	case contains(plainTextTypes, requested):
		if !utf8.Valid(plaintext) {
			writeErrorBody(w, r, issue(http.StatusNotAcceptable, op, "Wrong payload content-type"))
			return
		}
	case contains(binaryTypes, requested):
	default:
		writeErrorBody(w, r, issue(http.StatusBadRequest, op, "content-type of '"+requested+"' not supported"))
		return
	}
	contentType := accept
	if strings.HasPrefix(strings.ToLower(accept), "text/") && !strings.Contains(strings.ToLower(accept), "charset") {
		contentType += "; charset=UTF-8" // WebOb adds the charset to text types
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(plaintext)
	}
}

// putSecretPayload is PUT /v1/secrets/{id}: the second step of a two-step upload.
func (a *API) putSecretPayload(w http.ResponseWriter, r *http.Request) {
	const op = "Secret update"
	v, ok := a.secretFor(w, r, guard{op: op, action: policy.ActionSecretPut, accept: acceptAnyType}, store.LoadOptions{})
	if !ok {
		return
	}
	if e := requireContentType(r, ctBinary, ctText); e != nil {
		writeErrorBody(w, r, e)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(a.cfg.MaxSecretBytes)+1))
	if err != nil {
		writeErrorBody(w, r, issue(http.StatusBadRequest, op, "No data supplied to process."))
		return
	}
	defer clear(body)
	switch {
	case len(body) == 0:
		writeErrorBody(w, r, issue(http.StatusBadRequest, op, "No data supplied to process."))
		return
	case len(body) > a.cfg.MaxSecretBytes:
		writeErrorBody(w, r, issue(http.StatusRequestEntityTooLarge, op, "Provided information too large to process"))
		return
	case v.HasPayload:
		writeErrorBody(w, r, newError(http.StatusConflict, "Secret already has data, cannot modify it."))
		return
	}
	contentType, plaintext := mediaType(r), body
	if contentType == ctBinary {
		switch enc := strings.TrimSpace(r.Header.Get("Content-Encoding")); {
		case enc == "":
		case strings.EqualFold(enc, "base64"):
			// The reference answers 500 for bad base64 here; a 400 names the problem.
			if plaintext, err = decodeBase64Bytes(body); err != nil {
				writeErrorBody(w, r, issue(http.StatusBadRequest, op, "Problem decoding payload"))
				return
			}
			defer clear(plaintext)
		default:
			writeErrorBody(w, r, issue(http.StatusBadRequest, op,
				"Text-based binary secret payloads must specify a content-encoding of 'base64'"))
			return
		}
	}
	payload, e := a.encrypt(r, op, storecrypto.Request{SecretID: v.ID, ProjectExternalID: v.ProjectExternalID,
		Plaintext: plaintext, ContentType: contentType})
	if e != nil {
		writeErrorBody(w, r, e)
		return
	}
	err = a.db.Write(r.Context(), func(tx *store.Tx) error { return tx.AddSecretPayload(v.ID, payload) })
	if errors.Is(err, store.ErrConflict) {
		writeErrorBody(w, r, newError(http.StatusConflict, "Secret already has data, cannot modify it."))
		return
	}
	if err != nil {
		a.writeError(w, r, op, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteSecret is DELETE /v1/secrets/{id}; from microversion 1.2 a secret with consumers needs ?force=true.
func (a *API) deleteSecret(w http.ResponseWriter, r *http.Request) {
	const op = "Secret deletion"
	v, ok := a.secretFor(w, r, guard{op: op, action: policy.ActionSecretDelete, accept: acceptAnyType},
		store.LoadOptions{Consumers: true})
	if !ok {
		return
	}
	if microversion(r) >= 2 {
		force := false
		if values, given := r.URL.Query()["force"]; given {
			var ok bool
			if force, ok = parseStrictBool(values[0]); !ok {
				writeErrorBody(w, r, newError(http.StatusBadRequest, "URI provided invalid query string parameters."))
				return
			}
		}
		if len(v.Consumers) > 0 && !force {
			writeErrorBody(w, r, issue(http.StatusBadRequest, op, "Secret cannot be deleted as it has consumers."))
			return
		}
	}
	err := a.db.Write(r.Context(), func(tx *store.Tx) error { return tx.DeleteSecret(v.ID) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.writeError(w, r, op, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// parseStrictBool is oslo's bool_from_string(strict=True).
func parseStrictBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, true
	case "0", "f", "false", "off", "n", "no":
		return false, true
	}
	return false, false
}

// isUUID4 is the reference's id check: str(uuid.UUID(x, version=4)) == x, i.e. canonical lowercase, version 4,
// RFC 4122 variant.
func isUUID4(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return s[14] == '4' && strings.IndexByte("89ab", s[19]) >= 0
}
