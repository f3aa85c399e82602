package match

import "strings"

// shortRunes is the length up to which string comparisons keep their work
// on the stack; person fields are almost always shorter.
const shortRunes = 48

func runesOf(s string, buf *[shortRunes]rune) []rune {
	r := buf[:0]
	for _, c := range s {
		r = append(r, c)
	}
	return r
}

// JaroWinkler returns the Jaro–Winkler similarity of a and b, from 0 (nothing
// in common) to 1 (equal), with the usual prefix scale 0.1 over at most four
// characters. It favours strings that agree at the start, which is where
// people rarely mistype names.
func JaroWinkler(a, b string) float64 {
	if a == b {
		return 1
	}
	if isASCII(a) && isASCII(b) && len(a) <= shortRunes && len(b) <= shortRunes {
		// The common case: index bytes instead of decoding runes, several
		// times faster.
		return jaroWinkler([]byte(a), []byte(b))
	}
	var ba, bb [shortRunes]rune
	return jaroWinkler(runesOf(a, &ba), runesOf(b, &bb))
}

// jaroWinkler is JaroWinkler over bytes or runes.
func jaroWinkler[T byte | rune](ra, rb []T) float64 {
	if len(ra) == 0 || len(rb) == 0 {
		return 0
	}
	if len(ra) > len(rb) {
		ra, rb = rb, ra
	}
	window := max(len(rb)/2-1, 0)
	var fa, fb [shortRunes]bool
	var ma, mb []bool
	if len(rb) > shortRunes {
		ma, mb = make([]bool, len(ra)), make([]bool, len(rb))
	} else {
		ma, mb = fa[:len(ra)], fb[:len(rb)]
	}
	m := 0
	for i, c := range ra {
		for j, hi := max(0, i-window), min(len(rb)-1, i+window); j <= hi; j++ {
			if !mb[j] && rb[j] == c {
				ma[i], mb[j] = true, true
				m++
				break
			}
		}
	}
	if m == 0 {
		return 0
	}
	t, k := 0, 0
	for i, c := range ra {
		if !ma[i] {
			continue
		}
		for !mb[k] {
			k++
		}
		if c != rb[k] {
			t++
		}
		k++
	}
	fm := float64(m)
	jaro := (fm/float64(len(ra)) + fm/float64(len(rb)) + (fm-float64(t)/2)/fm) / 3
	prefix := 0
	for prefix < 4 && prefix < len(ra) && ra[prefix] == rb[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// withinOneEdit reports whether DamerauLevenshtein(a, b) <= 1, in one pass
// instead of a table: the question most comparison levels ask first.
func withinOneEdit(a, b string) bool {
	if a == b {
		return true
	}
	if !isASCII(a) || !isASCII(b) {
		return editDistance(a, b, 1) <= 1
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(b)-len(a) > 1 {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	if len(a) < len(b) {
		return a[i:] == b[i+1:] // b has one character more, at i
	}
	if a[i+1:] == b[i+1:] {
		return true // one substituted at i
	}
	return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
}

// DamerauLevenshtein returns the optimal-string-alignment distance between a
// and b: the fewest insertions, deletions, substitutions and transpositions
// of adjacent characters that turn one into the other, no substring edited
// twice. A transposition counts once because that is how people mistype
// (1973 for 1937 is two substitutions but one slip of the fingers).
func DamerauLevenshtein(a, b string) int {
	return editDistance(a, b, 1<<30)
}

// editDistance is DamerauLevenshtein that gives up once the distance is
// known to exceed limit, returning limit+1: comparison levels only ask
// whether a distance is at most 1 or 2.
func editDistance(a, b string, limit int) int {
	if a == b {
		return 0
	}
	if limit < 4 && isASCII(a) && isASCII(b) && !fewEditsPossible(a, b, limit) {
		return limit + 1
	}
	var ba, bb [shortRunes]rune
	ra, rb := runesOf(a, &ba), runesOf(b, &bb)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	if len(ra) == 0 || len(rb) == 0 {
		return max(len(ra), len(rb))
	}
	n := len(rb) + 1
	var rows [3 * (shortRunes + 1)]int
	var buf []int
	if n <= shortRunes+1 {
		buf = rows[:3*n]
	} else {
		buf = make([]int, 3*n)
	}
	prev2, prev, cur := buf[:n], buf[n:2*n], buf[2*n:]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j < n; j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[n-1], limit+1)
}

// fewEditsPossible is a quick necessary condition for an edit distance of
// at most limit between ASCII strings: an edit changes the counts of
// characters by at most two (a transposition by none), so counts that
// differ by more than 2*limit rule it out. Two different birth dates or
// social security numbers mostly fail it without the full table.
func fewEditsPossible(a, b string, limit int) bool {
	var h [128]int8
	for i := 0; i < len(a); i++ {
		h[a[i]]++
	}
	for i := 0; i < len(b); i++ {
		h[b[i]]--
	}
	diff := 0
	for i := 0; i < len(a); i++ {
		c := a[i]
		diff += int(abs(int32(h[c])))
		h[c] = 0
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		diff += int(abs(int32(h[c])))
		h[c] = 0
	}
	return diff <= 2*limit
}

// NYSIIS returns the New York State Identification and Intelligence System
// phonetic code of a name, at most six letters: names that sound alike
// (catherine, kathryn) share a code. Letters other than a–z are ignored;
// a name with none has the empty code.
func NYSIIS(name string) string {
	var buf [shortRunes]byte
	w := buf[:0]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c >= 'a' && c <= 'z' {
			w = append(w, c)
		}
	}
	if len(w) == 0 {
		return ""
	}
	s := string(w)
	// Prefixes and suffixes that are spelled differently for one sound.
	for _, p := range [...][2]string{{"mac", "mcc"}, {"kn", "nn"}, {"k", "c"}, {"ph", "ff"}, {"pf", "ff"}, {"sch", "sss"}} {
		if strings.HasPrefix(s, p[0]) {
			s = p[1] + s[len(p[0]):]
			break
		}
	}
	for _, p := range [...][2]string{{"ee", "y"}, {"ie", "y"}, {"dt", "d"}, {"rt", "d"}, {"rd", "d"}, {"nt", "d"}, {"nd", "d"}} {
		if strings.HasSuffix(s, p[0]) {
			s = s[:len(s)-len(p[0])] + p[1]
			break
		}
	}
	b := []byte(s)
	key := []byte{b[0]}
	vowel := func(c byte) bool { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' }
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 'e' && i+1 < len(b) && b[i+1] == 'v':
			b[i], b[i+1] = 'a', 'f'
			c = 'a'
		case vowel(c):
			c = 'a'
		case c == 'q':
			c = 'g'
		case c == 'z':
			c = 's'
		case c == 'm':
			c = 'n'
		case c == 'k' && i+1 < len(b) && b[i+1] == 'n':
			c = 'n'
		case c == 'k':
			c = 'c'
		case c == 's' && i+2 < len(b) && b[i+1] == 'c' && b[i+2] == 'h':
			b[i+1], b[i+2] = 's', 's'
		case c == 'p' && i+1 < len(b) && b[i+1] == 'h':
			b[i+1] = 'f'
			c = 'f'
		case c == 'h' && (!vowel(b[i-1]) || i+1 < len(b) && !vowel(b[i+1])):
			c = b[i-1]
		case c == 'w' && vowel(b[i-1]):
			c = b[i-1]
		}
		b[i] = c
		if c != key[len(key)-1] {
			key = append(key, c)
		}
	}
	if len(key) > 1 && key[len(key)-1] == 's' {
		key = key[:len(key)-1]
	}
	if len(key) > 1 && key[len(key)-1] == 'y' && key[len(key)-2] == 'a' {
		key = append(key[:len(key)-2], 'y')
	}
	if len(key) > 1 && key[len(key)-1] == 'a' {
		key = key[:len(key)-1]
	}
	if len(key) > 6 {
		key = key[:6]
	}
	return string(key)
}
