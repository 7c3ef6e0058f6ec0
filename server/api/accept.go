package api

import (
	"sort"
	"strconv"
	"strings"
)

// The reference negotiates with WebOb 1.8: pecan's Accept check of every handler, the root's json-home redirect
// and oslo.middleware's healthcheck all go through it. This file mirrors the parts they use: the header grammar
// (an invalid header is ignored, so every offer is acceptable), acceptable_offers (RFC 7231 matching, the most
// specific range decides an offer's quality) and the legacy best_match.

// acceptRange is one media range of a valid Accept header.
type acceptRange struct {
	typ, subtype string      // as sent
	params       [][2]string // media type parameters (those before q), names lower-cased, values unquoted
	mask         string      // WebOb's media_range text: type/subtype;name=value...
	q            float64
}

// parseAcceptHeader parses h with WebOb's grammar:
//
//	Accept       = [ ( "," / element ) *( OWS "," [ OWS element ] ) ]
//	element      = type "/" subtype *( OWS ";" OWS parameter ) [ weight *( OWS ";" OWS token [ "=" value ] ) ]
//	parameter    = token "=" ( token / quoted-string )    ; never named q
//	weight       = OWS ";" OWS ( "q" / "Q" ) "=" ( "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3"0" ] )
//
// valid is false when h does not match it.
func parseAcceptHeader(h string) (ranges []acceptRange, valid bool) {
	p := acceptParser{s: h}
	if p.s == "" {
		return nil, true
	}
	if !p.eat(',') {
		rng, ok := p.element()
		if !ok {
			return nil, false
		}
		ranges = append(ranges, rng)
	}
	for {
		save := p.i
		p.ows()
		if !p.eat(',') {
			p.i = save
			break
		}
		save = p.i
		p.ows()
		if p.i < len(p.s) && isTchar(p.s[p.i]) {
			rng, ok := p.element()
			if !ok {
				return nil, false
			}
			ranges = append(ranges, rng)
		} else {
			p.i = save
		}
	}
	if p.i != len(p.s) {
		return nil, false
	}
	return ranges, true
}

type acceptParser struct {
	s string
	i int
}

func (p *acceptParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *acceptParser) ows() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *acceptParser) token() (string, bool) {
	start := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i], p.i > start
}

// quoted reads a quoted-string and returns its unescaped content.
func (p *acceptParser) quoted() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), true
		case c == '\\' && p.i+1 < len(p.s) && (p.s[p.i+1] == '\t' || p.s[p.i+1] >= 0x20 && p.s[p.i+1] != 0x7f):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		case c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80:
			b.WriteByte(c)
			p.i++
		default:
			return "", false
		}
	}
	return "", false
}

func (p *acceptParser) value() (string, bool) {
	if p.i < len(p.s) && p.s[p.i] == '"' {
		return p.quoted()
	}
	return p.token()
}

// element parses one media range with its parameters, weight and extensions. Whatever follows an element must
// be OWS "," or the end, so a parameter that does not parse makes the whole header invalid.
func (p *acceptParser) element() (acceptRange, bool) {
	var r acceptRange
	var ok bool
	if r.typ, ok = p.token(); !ok || !p.eat('/') {
		return r, false
	}
	if r.subtype, ok = p.token(); !ok {
		return r, false
	}
	r.q = 1
	r.mask = r.typ + "/" + r.subtype
	for {
		save := p.i
		p.ows()
		if !p.eat(';') {
			p.i = save
			return r, true
		}
		p.ows()
		if p.i+1 < len(p.s) && (p.s[p.i] == 'q' || p.s[p.i] == 'Q') && p.s[p.i+1] == '=' {
			p.i += 2
			if r.q, ok = p.qvalue(); !ok {
				return r, false
			}
			return r, p.extensions()
		}
		name, ok := p.token()
		if !ok || !p.eat('=') {
			return r, false
		}
		value, ok := p.value()
		if !ok {
			return r, false
		}
		r.params = append(r.params, [2]string{strings.ToLower(name), value})
		r.mask += ";" + name + "=" + value
	}
}

// qvalue is "0" [ "." 0*3DIGIT ] or "1" [ "." 0*3"0" ].
func (p *acceptParser) qvalue() (float64, bool) {
	start := p.i
	switch {
	case p.eat('0'):
		if p.eat('.') {
			for n := 0; n < 3 && p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9'; n++ {
				p.i++
			}
		}
	case p.eat('1'):
		if p.eat('.') {
			for n := 0; n < 3 && p.eat('0'); n++ {
			}
		}
	default:
		return 0, false
	}
	q, err := strconv.ParseFloat(strings.TrimSuffix(p.s[start:p.i], "."), 64)
	return q, err == nil
}

// extensions reads the accept-ext parameters after a weight.
func (p *acceptParser) extensions() bool {
	for {
		save := p.i
		p.ows()
		if !p.eat(';') {
			p.i = save
			return true
		}
		p.ows()
		if _, ok := p.token(); !ok {
			return false
		}
		if p.eat('=') {
			if _, ok := p.value(); !ok {
				return false
			}
		}
	}
}

func isTchar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// acceptableOffers is WebOb's Accept.acceptable_offers for offers without parameters: the offers the header
// accepts, by descending quality and then in the order given. Each offer takes the quality of its most specific
// matching range (exact 3, type/* 2, */* 1; a range with parameters does not match a bare offer), the first of
// equally specific ones; quality 0 refuses. An invalid header accepts every offer.
func acceptableOffers(header string, offers []string) []string {
	ranges, valid := parseAcceptHeader(header)
	if !valid {
		return offers
	}
	type scored struct {
		offer string
		q     float64
	}
	var out []scored
	for _, offer := range offers {
		otype, osub, _ := strings.Cut(strings.ToLower(offer), "/")
		best, q := 0, 0.0
		for _, r := range ranges {
			rtype, rsub := strings.ToLower(r.typ), strings.ToLower(r.subtype)
			specificity := 0
			switch {
			case rtype == otype && rsub == osub:
				if len(r.params) == 0 {
					specificity = 3
				}
			case rsub == "*" && rtype == otype:
				specificity = 2
			case rtype == "*" && rsub == "*":
				specificity = 1
			}
			if specificity > best {
				best, q = specificity, r.q
			}
		}
		if best > 0 && q > 0 {
			out = append(out, scored{offer, q})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].q > out[j].q })
	accepted := make([]string, len(out))
	for i, s := range out {
		accepted[i] = s.offer
	}
	return accepted
}

// bestMatch is WebOb's legacy Accept.best_match, with which the reference's root decides its json-home redirect:
// the offer of the highest quality wins; at equal quality, a later offer wins only through a range with fewer
// wildcards than the one that matched before. "" when nothing matches or the header is missing or invalid.
func bestMatch(header string, offers []string) string {
	ranges, valid := parseAcceptHeader(header)
	if header == "" || !valid {
		return ""
	}
	best, bestQ, matchedBy := "", -1.0, "*/*"
	for _, offer := range offers {
		for _, r := range ranges {
			switch {
			case r.q == 0 || r.q < bestQ:
				continue
			case r.q == bestQ && strings.Count(matchedBy, "*") <= strings.Count(r.mask, "*"):
				continue
			}
			if oldMatch(r.mask, offer) {
				best, bestQ, matchedBy = offer, r.q, r.mask
			}
		}
	}
	return best
}

// oldMatch is WebOb's _old_match for a parameterless offer: equal ignoring case, */*, or a wildcard type or
// subtype matching the other half.
func oldMatch(mask, offer string) bool {
	if strings.EqualFold(mask, offer) || mask == "*/*" {
		return true
	}
	parts := strings.Split(strings.ToLower(mask), "/")
	mtype, msub := parts[0], "*"
	if len(parts) == 2 {
		msub = parts[1]
	} else {
		mtype = strings.ToLower(mask)
	}
	otype, osub, _ := strings.Cut(strings.ToLower(offer), "/")
	switch {
	case msub == "*":
		return mtype == otype
	case mtype == "*":
		return msub == osub
	}
	return false
}
