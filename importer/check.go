package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/kithhq/kith"
)

// Header is what Check learnt about a file.
type Header struct {
	Columns []string
	Bytes   int64 // the file's size
}

// Check reads the whole file once, before anything is written, and refuses
// it as a whole (EINVALID, field "file" or "map[i]") when it cannot be
// imported: not UTF-8, no header, a header too short for the delimiter
// asked for, or a mapped column the header lacks. A UTF-8 byte order mark
// is allowed. Row-level problems are left for the import to reject row by
// row. It leaves r at its start.
func Check(r io.ReadSeeker, m Mapping, delim rune) (*Header, error) {
	h := &Header{}
	if err := checkEncoding(r, h); err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind: %w", err)
	}
	cr := newReader(r, delim)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, kith.Invalid("file", "the file is empty; it needs a header line naming its columns")
	}
	if err != nil && !errors.Is(err, csv.ErrFieldCount) {
		return nil, kith.Invalid("file", "line 1: cannot read the header: %s", csvReason(err))
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	h.Columns = header
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind: %w", err)
	}
	if _, err := m.index(header, delim); err != nil {
		return nil, err
	}
	return h, nil
}

// index returns the header position of each field of m.
func (m Mapping) index(header []string, delim rune) ([]int, error) {
	if len(header) == 1 && len(m) > 1 {
		msg := fmt.Sprintf("the header has one column, %q, but %d columns are mapped", trunc(header[0], 80), len(m))
		if d := guessDelimiter(header[0]); d != 0 {
			msg += fmt.Sprintf("; the file looks delimited by %q, not %q: import it with the delimiter %q", d, delim, d)
		} else {
			msg += fmt.Sprintf("; is the file delimited by %q?", delim)
		}
		return nil, kith.Invalid("delimiter", "%s", msg)
	}
	pos := map[string]int{}
	for i, c := range header {
		if _, dup := pos[c]; dup {
			pos[c] = -1 // ambiguous
			continue
		}
		pos[c] = i
	}
	idx := make([]int, len(m))
	for i, f := range m {
		p, ok := pos[f.Column]
		switch {
		case !ok:
			return nil, kith.Invalid(fmt.Sprintf("map[%d]", i), "column %q is mapped but the header has no such column; it has: %s", f.Column, trunc(strings.Join(header, ", "), 400))
		case p < 0:
			return nil, kith.Invalid(fmt.Sprintf("map[%d]", i), "column %q appears more than once in the header", f.Column)
		}
		idx[i] = p
	}
	return idx, nil
}

func guessDelimiter(s string) rune {
	for _, d := range []rune{';', '\t', '|', ','} {
		if strings.ContainsRune(s, d) {
			return d
		}
	}
	return 0
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// checkEncoding refuses a file that is not UTF-8, naming the first bad line.
func checkEncoding(r io.Reader, h *Header) error {
	buf := make([]byte, 256*1024)
	line, carry, first := 1, 0, true
	for {
		n, err := io.ReadFull(r, buf[carry:])
		n += carry
		chunk := buf[:n]
		if first {
			first = false
			switch {
			case bytes.HasPrefix(chunk, []byte{0xFF, 0xFE}), bytes.HasPrefix(chunk, []byte{0xFE, 0xFF}):
				return kith.Invalid("file", "the file is UTF-16 encoded (it starts with a UTF-16 byte order mark); save it as UTF-8 and import it again")
			}
		}
		end := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !end {
			return fmt.Errorf("read file: %w", err)
		}
		keep := 0
		if !end {
			keep = incompleteRune(chunk) // checked with the next chunk
		}
		body := chunk[:n-keep]
		if i := bytes.IndexByte(body, 0); i >= 0 {
			return kith.Invalid("file", "line %d holds a NUL byte: the file is binary or UTF-16, not UTF-8 text; save it as UTF-8 CSV", line+bytes.Count(body[:i], []byte{'\n'}))
		}
		if !utf8.Valid(body) {
			i := firstInvalid(body)
			return kith.Invalid("file", "line %d is not valid UTF-8 (is the file Latin-1 or Windows-1252?); save it as UTF-8 and import it again", line+bytes.Count(body[:i], []byte{'\n'}))
		}
		line += bytes.Count(body, []byte{'\n'})
		h.Bytes += int64(len(body))
		if end {
			return nil
		}
		carry = copy(buf, chunk[n-keep:])
	}
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// incompleteRune returns how many bytes at the end of b start a rune that
// is not complete.
func incompleteRune(b []byte) int {
	for n := 1; n <= 3 && n <= len(b); n++ {
		if utf8.RuneStart(b[len(b)-n]) {
			if !utf8.FullRune(b[len(b)-n:]) {
				return n
			}
			return 0
		}
	}
	return 0
}

// newReader returns a strict CSV reader: quotes must be well formed and
// every row must have the header's field count (checked by the caller, so
// that a short row is rejected rather than fatal).
func newReader(r io.Reader, delim rune) *csv.Reader {
	cr := csv.NewReader(skipBOM(r))
	cr.Comma = delim
	cr.LazyQuotes = false
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return cr
}

// skipBOM drops a UTF-8 byte order mark, which spreadsheets write.
func skipBOM(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 64*1024)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	return br
}

// csvReason says what a csv.Reader error means, without its position.
func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, csv.ErrBareQuote):
			return `a quote (") appears inside a field that is not quoted; quote the field and double the quote ("")`
		case errors.Is(pe.Err, csv.ErrQuote):
			return `a quoted field is not closed, or has text after its closing quote`
		}
		return pe.Err.Error()
	}
	return err.Error()
}
