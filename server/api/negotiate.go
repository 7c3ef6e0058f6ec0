package api

import (
	"net/http"
	"strconv"
	"strings"
)

// Barbican's handlers fall in two families for the framework's Accept check: JSON handlers produce only
// application/json; "all-types" handlers (secret GET/PUT/DELETE, payload GET, metadata collection GET, metadatum
// PUT) produce every type Python's mimetypes module knows. A request whose Accept allows none of the handler's
// types is refused with a bare 406 before policy is checked.

const mediaJSON = "application/json"

// knownMediaTypes stands in for Python's mimetypes.types_map: the types an all-types handler can produce.
var knownMediaTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range strings.Fields(`application/json application/octet-stream application/pkcs8 application/pkix-cert
		application/pkcs7-mime application/pdf application/xml application/javascript application/zip application/gzip
		application/x-tar application/x-pem-file application/x-x509-ca-cert application/x-pkcs12 application/pgp-keys
		application/x-sh application/postscript application/msword application/vnd.ms-excel application/x-www-form-urlencoded
		application/xhtml+xml application/rtf application/x-shockwave-flash application/wasm application/x-python-code
		application/n-triples application/manifest+json application/x-latex application/x-tex application/x-bcpio
		message/rfc822 multipart/form-data text/plain text/html text/css text/csv text/xml text/markdown text/x-python
		text/javascript text/richtext text/tab-separated-values text/x-sgml text/x-vcard text/x-setext
		image/png image/jpeg image/gif image/svg+xml image/tiff image/bmp image/webp image/x-icon image/vnd.microsoft.icon
		audio/mpeg audio/basic audio/x-wav audio/ogg video/mp4 video/mpeg video/quicktime video/webm font/woff font/woff2`) {
		m[t] = true
	}
	return m
}()

type mediaRange struct {
	typ string
	q   float64
}

func parseAccept(header string) []mediaRange {
	var out []mediaRange
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		typ := strings.ToLower(strings.TrimSpace(fields[0]))
		if typ == "" {
			continue
		}
		q := 1.0
		for _, p := range fields[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		out = append(out, mediaRange{typ: typ, q: q})
	}
	return out
}

func rangeMatches(rng, typ string) bool {
	if rng == "*/*" || rng == typ {
		return true
	}
	if major, ok := strings.CutSuffix(rng, "/*"); ok {
		return strings.HasPrefix(typ, major+"/")
	}
	return false
}

// acceptsJSON is the Accept check of a JSON handler.
func acceptsJSON(r *http.Request) bool { return acceptsOnly(r, mediaJSON) }

// acceptsOnly is the Accept check of a handler that produces one media type.
func acceptsOnly(r *http.Request, produced string) bool {
	header := r.Header.Get("Accept")
	if header == "" || header == "*/*" || strings.HasPrefix(header, produced) {
		return true
	}
	for _, rng := range parseAccept(header) {
		if rng.q > 0 && rangeMatches(rng.typ, produced) {
			return true
		}
	}
	return false
}

// acceptsAnyType is the Accept check of an all-types handler.
func acceptsAnyType(r *http.Request) bool {
	header := r.Header.Get("Accept")
	if header == "" || header == "*/*" {
		return true
	}
	for _, rng := range parseAccept(header) {
		if rng.q <= 0 {
			continue
		}
		if strings.HasSuffix(rng.typ, "/*") || knownMediaTypes[rng.typ] {
			return true
		}
	}
	for t := range knownMediaTypes {
		if strings.HasPrefix(header, t) {
			return true
		}
	}
	return false
}

// mediaType is the request's Content-Type without parameters. The reference compares WebOb's raw text before
// the first ';' case-sensitively; we trim and lower-case it, which only accepts more well-meant requests.
func mediaType(r *http.Request) string {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(ct))
}

// requireContentType answers 415 unless the request's media type is one of allowed.
func requireContentType(r *http.Request, allowed ...string) *Error {
	mt := mediaType(r)
	for _, a := range allowed {
		if mt == a {
			return nil
		}
	}
	return newError(http.StatusUnsupportedMediaType,
		"Unexpected content type. Expected content types are: "+pyStringList(allowed))
}

// pyStringList renders a list of strings the way Python prints a list: ['a', 'b'].
func pyStringList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = pyRepr(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
