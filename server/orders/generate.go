package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/keymanager-io/keymanager/server/crypto"
	"github.com/keymanager-io/keymanager/server/crypto/storecrypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// defaultContentType is the content type of generated secrets when the order names none.
const defaultContentType = "application/octet-stream"

// Container reference names of a key pair (the reference's _save_asymmetric_secret_in_repo).
const (
	refPrivateKey = "private_key"
	refPublicKey  = "public_key"
	refPassphrase = "private_key_passphrase"
)

// spec is what an order's meta asks for. Every generated secret takes name, algorithm, bit length, mode and
// expiration from it, as the reference's models.Secret(meta) does.
type spec struct {
	name, algorithm, mode *string
	bitLength             *int
	expiration            *time.Time
	contentType           string
	passphrase            []byte
}

// errBadMeta is an order whose stored meta cannot be generated from (a row written by hand or by a broken
// client of the database); the order fails with a 500 like the reference's TypeError.
var errBadMeta = errors.New("order meta cannot be used")

// specOf reads an order's stored meta: the API validated it, but the row may also come from the reference.
func specOf(meta *string) (*spec, error) {
	if meta == nil {
		return nil, fmt.Errorf("%w: no meta", errBadMeta)
	}
	dec := json.NewDecoder(strings.NewReader(*meta))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadMeta, err)
	}
	s := &spec{contentType: defaultContentType}
	var err error
	text := func(key string) *string {
		switch v := m[key].(type) {
		case nil:
			return nil
		case string:
			return &v
		default:
			err = fmt.Errorf("%w: %s is not a string", errBadMeta, key)
			return nil
		}
	}
	s.name, s.algorithm, s.mode = text("name"), text("algorithm"), text("mode")
	if ct := text("payload_content_type"); ct != nil && *ct != "" {
		s.contentType = *ct
	}
	if p := text("passphrase"); p != nil && *p != "" {
		s.passphrase = []byte(*p)
	}
	if e := text("expiration"); e != nil && strings.TrimSpace(*e) != "" {
		t, perr := parseExpiration(*e)
		if perr != nil {
			return nil, fmt.Errorf("%w: expiration: %w", errBadMeta, perr)
		}
		s.expiration = &t
	}
	if n, ok := m["bit_length"].(json.Number); ok {
		f, ferr := n.Float64()
		if ferr != nil || f != math.Trunc(f) || f < 1 || f > math.MaxInt32 {
			return nil, fmt.Errorf("%w: bit_length is not a positive integer", errBadMeta)
		}
		bits := int(f)
		s.bitLength = &bits
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// parseExpiration reads the expiration the reference stores in an order's meta (oslo's
// "%Y-%m-%dT%H:%M:%S.%f", naive UTC), or an ISO 8601 value with a zone.
func parseExpiration(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05.999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable timestamp %q", s)
}

func (s *spec) generateSpec() crypto.GenerateSpec {
	g := crypto.GenerateSpec{Passphrase: s.passphrase}
	if s.algorithm != nil {
		g.Algorithm = *s.algorithm
	}
	if s.bitLength != nil {
		g.BitLength = *s.bitLength
	}
	if s.mode != nil {
		g.Mode = *s.mode
	}
	return g
}

// secret is a generated secret's row, as the reference builds it from the order's meta.
func (s *spec) secret(id, secretType string, v *store.OrderView) *store.Secret {
	return &store.Secret{Model: store.Model{ID: id}, Name: s.name, SecretType: secretType, Expiration: s.expiration,
		Algorithm: s.algorithm, BitLength: s.bitLength, Mode: s.mode, CreatorID: v.CreatorID, ProjectID: v.ProjectID}
}

// result is what an order generated, ready to be committed.
type result struct {
	secrets   []*store.Secret
	payloads  []*store.SecretPayload
	container *store.Container
	refs      []store.ContainerSecret
}

// commit stores the result and makes the order ACTIVE in the caller's transaction, results first (the order row
// points at them). It may run more than once (the store retries deadlocks): every id is fixed beforehand.
func (r *result) commit(tx *store.Tx, orderID string) error {
	for i, s := range r.secrets {
		if err := tx.CreateSecret(s, r.payloads[i]); err != nil {
			return err
		}
	}
	if r.container == nil {
		return tx.CompleteOrder(orderID, &r.secrets[0].ID, nil)
	}
	if err := tx.CreateContainer(r.container, r.refs); err != nil {
		return err
	}
	return tx.CompleteOrder(orderID, nil, &r.container.ID)
}

// generate generates what the order asks for with the secret store of its project.
func (p *Pool) generate(ctx context.Context, v *store.OrderView) (*result, error) {
	s, err := specOf(v.Meta)
	if err != nil {
		return nil, err
	}
	backend, err := p.secrets.For(p.db.Read(ctx), v.ProjectID)
	if err != nil {
		return nil, err
	}
	req := storecrypto.GenerateRequest{ProjectExternalID: v.ProjectExternalID, Spec: s.generateSpec(),
		ContentType: s.contentType}
	switch v.Type {
	case store.OrderKey:
		id := store.NewID()
		payload, err := p.secrets.GenerateSymmetric(ctx, backend, id, req)
		if err != nil {
			return nil, err
		}
		return &result{secrets: []*store.Secret{s.secret(id, "symmetric", v)},
			payloads: []*store.SecretPayload{payload}}, nil
	case store.OrderAsymmetric:
		ids := storecrypto.KeyPairIDs{Private: store.NewID(), Public: store.NewID(), Passphrase: store.NewID()}
		pair, err := p.secrets.GenerateAsymmetric(ctx, backend, ids, req)
		if err != nil {
			return nil, err
		}
		r := &result{
			secrets:  []*store.Secret{s.secret(ids.Private, "private", v), s.secret(ids.Public, "public", v)},
			payloads: []*store.SecretPayload{pair.Private, pair.Public},
			container: &store.Container{Name: s.name, Type: ptr(strings.ToLower(req.Spec.Algorithm)),
				ProjectID: v.ProjectID, CreatorID: v.CreatorID},
			refs: []store.ContainerSecret{{Name: ptr(refPrivateKey), SecretID: ids.Private},
				{Name: ptr(refPublicKey), SecretID: ids.Public}},
		}
		if pair.Passphrase != nil {
			r.secrets = append(r.secrets, s.secret(ids.Passphrase, "passphrase", v))
			r.payloads = append(r.payloads, pair.Passphrase)
			r.refs = append(r.refs, store.ContainerSecret{Name: ptr(refPassphrase), SecretID: ids.Passphrase})
		}
		return r, nil
	}
	return nil, fmt.Errorf("order type %q is not implemented", v.Type)
}

func ptr[T any](v T) *T { return &v }
