package api

import (
	"net/http"
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

// acceptsJSON is the Accept check of a JSON handler.
func acceptsJSON(r *http.Request) bool { return pecanAccepts(r, mediaJSON) }

// pecanAccepts is pecan's Accept check of a handler that produces offers: no Accept, an empty one or exactly */*
// passes; otherwise some offer must be acceptable by WebOb's rules (an invalid header accepts everything), or the
// raw header must start with an offer ("application/json;q=0" passes, as it does there).
func pecanAccepts(r *http.Request, offers ...string) bool {
	header := acceptHeader(r)
	if header == "" || header == "*/*" || len(acceptableOffers(header, offers)) > 0 {
		return true
	}
	for _, o := range offers {
		if strings.HasPrefix(header, o) {
			return true
		}
	}
	return false
}

// acceptHeader is the request's Accept value as a WSGI server hands it over: repeated headers joined by commas.
func acceptHeader(r *http.Request) string { return strings.Join(r.Header.Values("Accept"), ", ") }

// acceptsAnyType is the Accept check of an all-types handler.
func acceptsAnyType(r *http.Request) bool {
	header := acceptHeader(r)
	if header == "" || header == "*/*" {
		return true
	}
	ranges, valid := parseAcceptHeader(header)
	if !valid {
		return true // WebOb ignores an invalid Accept header
	}
	// A wildcard range is taken as satisfiable: knownMediaTypes is a subset of the host's mime.types.
	for _, rng := range ranges {
		if rng.q > 0 && (rng.subtype == "*" || knownMediaTypes[strings.ToLower(rng.typ+"/"+rng.subtype)]) {
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
