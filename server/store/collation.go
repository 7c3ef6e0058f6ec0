package store

import "unicode/utf8"

// MariaDB's default collation (utf8mb4_general_ci, the collation of Barbican's tables there) compares text by a
// weight per character: case and most accents fold ('a' = 'A' = 'À', 'ß' = 's'), characters outside the BMP all
// weigh U+FFFD, and '=' ignores trailing spaces (PAD SPACE) while LIKE does not. The embedded SQLite default must
// find, count and order the same rows, so its connections get that comparison as a collation
// (sqliteGeneralCI, for '=' and ORDER BY) and a LIKE function (sqliteLikeCI), which the secret list uses on SQLite.
const (
	sqliteGeneralCI = "KEYMANAGER_GENERAL_CI"
	sqliteLikeCI    = "keymanager_like_ci"
)

// generalCIWeight is the weight of every BMP character (generalCIExceptions over the identity).
var generalCIWeight = func() *[0x10000]uint16 {
	var w [0x10000]uint16
	for i := range w {
		w[i] = uint16(i)
	}
	for i := 0; i+1 < len(generalCIExceptions); i += 2 {
		w[generalCIExceptions[i]] = generalCIExceptions[i+1]
	}
	return &w
}()

// weight is a character's utf8mb4_general_ci weight.
func weight(r rune) uint16 {
	if r < 0 || r > 0xFFFF {
		return 0xFFFD
	}
	return generalCIWeight[r]
}

const spaceWeight = 0x20

// compareGeneralCI orders a and b as utf8mb4_general_ci does: weight by weight, the shorter string padded with
// spaces, so "a" = "a  " but "a\t" < "a".
func compareGeneralCI(a, b string) int {
	for a != "" || b != "" {
		wa, wb := uint16(spaceWeight), uint16(spaceWeight)
		if a != "" {
			r, n := utf8.DecodeRuneInString(a)
			wa, a = weight(r), a[n:]
		}
		if b != "" {
			r, n := utf8.DecodeRuneInString(b)
			wb, b = weight(r), b[n:]
		}
		switch {
		case wa < wb:
			return -1
		case wa > wb:
			return 1
		}
	}
	return 0
}

// likeGeneralCI is MariaDB's `value LIKE pattern` under utf8mb4_general_ci: '%' any run, '_' one character,
// '\' escapes the next character (a final '\' is itself), characters compare by weight, no space padding.
// A NULL operand (nil) never matches.
func likeGeneralCI(value, pattern any) bool {
	v, ok1 := value.(string)
	p, ok2 := pattern.(string)
	if !ok1 || !ok2 {
		return false
	}
	type token struct {
		kind byte // 'c' a character, '_' one character, '%' any run
		w    uint16
	}
	var toks []token
	for p != "" {
		r, n := utf8.DecodeRuneInString(p)
		p = p[n:]
		switch {
		case r == '%':
			toks = append(toks, token{kind: '%'})
		case r == '_':
			toks = append(toks, token{kind: '_'})
		case r == '\\' && p != "":
			r, n = utf8.DecodeRuneInString(p)
			p = p[n:]
			toks = append(toks, token{kind: 'c', w: weight(r)})
		default:
			toks = append(toks, token{kind: 'c', w: weight(r)})
		}
	}
	ws := make([]uint16, 0, len(v))
	for _, r := range v {
		ws = append(ws, weight(r))
	}
	// Greedy matching with one backtrack point: the classic linear-space wildcard algorithm.
	ti, si, starT, starS := 0, 0, -1, 0
	for si < len(ws) {
		switch {
		case ti < len(toks) && (toks[ti].kind == '_' || (toks[ti].kind == 'c' && toks[ti].w == ws[si])):
			ti++
			si++
		case ti < len(toks) && toks[ti].kind == '%':
			starT, starS = ti, si
			ti++
		case starT >= 0:
			starS++
			ti, si = starT+1, starS
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].kind == '%' {
		ti++
	}
	return ti == len(toks)
}

// ciColumn is how the secret list compares a text column the way MariaDB does: on SQLite through the registered
// collation, on MariaDB as it is.
func ciColumn(dialect, column string) string {
	if dialect == DialectSQLite {
		return column + " COLLATE " + sqliteGeneralCI
	}
	return column
}

// ciLike is `column LIKE ?` with MariaDB's semantics on either database.
func ciLike(dialect, column string) string {
	if dialect == DialectSQLite {
		return sqliteLikeCI + "(" + column + ", ?)"
	}
	return column + " LIKE ?"
}
