package importer

import (
	"encoding/csv"
	"io"
	"strconv"
)

// rejects writes rejected rows as CSV: the line the row starts on and why
// it was refused.
type rejects struct {
	w   *csv.Writer
	err error
}

func newRejects(w io.Writer) *rejects {
	if w == nil {
		return &rejects{}
	}
	r := &rejects{w: csv.NewWriter(w)}
	r.err = r.w.Write([]string{"line", "reason"})
	return r
}

func (r *rejects) add(line int, reason string) {
	if r.w == nil || r.err != nil {
		return
	}
	r.err = r.w.Write([]string{strconv.Itoa(line), reason})
}

func (r *rejects) flush() error {
	if r.w == nil {
		return nil
	}
	r.w.Flush()
	if r.err != nil {
		return r.err
	}
	return r.w.Error()
}
