package match

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// DefaultColumns maps each field's own name as a column to it: a file with
// a given_name column needs no mapping.
func DefaultColumns() map[string]Field {
	m := make(map[string]Field, NumFields)
	for f := range NumFields {
		m[f.String()] = f
	}
	return m
}

// CSVOptions say how ReadCSV reads a file.
type CSVOptions struct {
	// Columns maps column names (matched without regard to case or
	// surrounding spaces) to fields; nil means DefaultColumns. Columns not
	// in it are ignored.
	Columns map[string]Field
	// Required lists columns that must be in the header, such as those
	// named on the command line.
	Required []string
	// Comma is the field delimiter; 0 means a comma.
	Comma rune
}

// ReadCSV reads person records from a CSV file with a header row and an id
// column. name is used in errors, which give the line: "people.csv:12:
// empty id". Ids must be unique, because results and truth refer to
// records by them.
func ReadCSV(r io.Reader, name string, opts CSVOptions) ([]Record, error) {
	cols := opts.Columns
	if cols == nil {
		cols = DefaultColumns()
	}
	want := make(map[string]Field, len(cols))
	for c, f := range cols {
		want[strings.ToLower(strings.TrimSpace(c))] = f
	}
	cr := csv.NewReader(r)
	if opts.Comma != 0 {
		cr.Comma = opts.Comma
	}
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file: want a header row with an id column", name)
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	idCol := -1
	fieldCol := make([]int, len(header)) // column → field+1, 0 when ignored
	seen := make(map[string]bool)
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		seen[h] = true
		if h == "id" {
			idCol = i
		}
		if f, ok := want[h]; ok {
			fieldCol[i] = int(f) + 1
		}
	}
	if idCol < 0 {
		return nil, fmt.Errorf("%s:1: no id column in the header %q", name, strings.Join(header, ","))
	}
	for _, c := range opts.Required {
		if !seen[strings.ToLower(strings.TrimSpace(c))] {
			return nil, fmt.Errorf("%s:1: no column %q in the header %q", name, c, strings.Join(header, ","))
		}
	}
	var recs []Record
	ids := make(map[string]int)
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		var rec Record
		for i, v := range row {
			if !utf8.ValidString(v) {
				return nil, fmt.Errorf("%s:%d: column %q is not UTF-8", name, line, header[i])
			}
			if fieldCol[i] > 0 {
				rec.Values[fieldCol[i]-1] = strings.Clone(strings.TrimSpace(v))
			}
		}
		rec.ID = strings.Clone(strings.TrimSpace(row[idCol]))
		if rec.ID == "" {
			return nil, fmt.Errorf("%s:%d: empty id", name, line)
		}
		if first, ok := ids[rec.ID]; ok {
			return nil, fmt.Errorf("%s:%d: id %q again (first on line %d)", name, line, rec.ID, first)
		}
		ids[rec.ID] = line
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no records after the header", name)
	}
	return recs, nil
}

// csvError turns encoding/csv's errors into "name:line: what".
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		what := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			what = "wrong number of fields: every row needs as many as the header"
		}
		return fmt.Errorf("%s:%d: %s", name, pe.Line, what)
	}
	return fmt.Errorf("%s: %w", name, err)
}
