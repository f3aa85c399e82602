// Package audit reads the audit trail for people: filters parsed from a
// query, and exports as CSV or JSON lines. Recording happens where the reads
// and changes happen (profile, access), through kith.AuditLog.
package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// ParseFilter reads a filter from query parameters: actor, action, target,
// from and to (RFC 3339 times or dates), before and limit.
func ParseFilter(q url.Values) (kith.AuditFilter, error) {
	f := kith.AuditFilter{
		Actor:  strings.TrimSpace(q.Get("actor")),
		Action: strings.TrimSpace(q.Get("action")),
		Target: strings.TrimSpace(q.Get("target")),
	}
	var err error
	if f.From, err = parseTime(q.Get("from"), "from"); err != nil {
		return f, err
	}
	if f.To, err = parseTime(q.Get("to"), "to"); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, kith.Invalid("to", "must be after from")
	}
	if v := q.Get("before"); v != "" {
		if f.Before, err = strconv.ParseInt(v, 10, 64); err != nil || f.Before < 1 {
			return f, kith.Invalid("before", "must be a record id")
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 1000 {
			return f, kith.Invalid("limit", "must be a number from 1 to 1000")
		}
	}
	return f, nil
}

// parseTime reads an RFC 3339 time, a "2006-01-02T15:04" time as a browser's
// datetime-local input sends it, or a date; the last two are UTC.
func parseTime(s, field string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, kith.Invalid(field, "%q is not a time; use 2026-11-26, 2026-11-26T14:05 or RFC 3339", s)
}

// Formats lists the export formats.
var Formats = []string{"csv", "jsonl"}

// ContentType returns the media type of an export format.
func ContentType(format string) string {
	if format == "csv" {
		return "text/csv; charset=utf-8"
	}
	return "application/x-ndjson"
}

// Record is an audit record as exports and the API show it.
type Record struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	ActorKind string    `json:"actor_kind"`
	ActorID   string    `json:"actor_id,omitempty"`
	Role      string    `json:"role,omitempty"`
	Addr      string    `json:"addr,omitempty"`
	Via       string    `json:"via,omitempty"`
	Action    string    `json:"action"`
	Target    string    `json:"target,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// FromRecord converts a stored record.
func FromRecord(r kith.AuditRecord) Record {
	return Record{ID: r.ID, Time: r.Time, Actor: r.Actor.String(), ActorKind: string(r.Actor.Kind), ActorID: r.Actor.ID,
		Role: string(r.Actor.Role), Addr: r.Actor.Addr, Via: r.Actor.Via, Action: r.Action, Target: r.Target, Detail: r.Detail}
}

var csvHeader = []string{"id", "time", "actor", "actor_kind", "actor_id", "role", "addr", "via", "action", "target", "detail"}

// CheckFormat returns EINVALID unless format is one of Formats.
func CheckFormat(format string) error {
	if format != "csv" && format != "jsonl" {
		return kith.Invalid("format", "unknown export format %q; use csv or jsonl", format)
	}
	return nil
}

// Disposition is the Content-Disposition of an export made at t.
func Disposition(format string, t time.Time) string {
	return fmt.Sprintf(`attachment; filename="kith-audit-%s.%s"`, t.UTC().Format("20060102-150405"), format)
}

// RecordExport records that the context's actor exports the records that query
// selects. An export is itself a read of everything it holds.
func RecordExport(ctx context.Context, log kith.AuditLog, query string) error {
	a, _ := kith.ActorFrom(ctx)
	return log.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: kith.AuditExport, Detail: query})
}

// Export writes every record matching f (newest first, ignoring f.Limit)
// in the format, page by page, and returns how many it wrote.
func Export(ctx context.Context, log kith.AuditLog, f kith.AuditFilter, format string, w io.Writer) (int, error) {
	if err := CheckFormat(format); err != nil {
		return 0, err
	}
	var cw *csv.Writer
	var enc *json.Encoder
	if format == "csv" {
		cw = csv.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return 0, err
		}
	} else {
		enc = json.NewEncoder(w)
		enc.SetEscapeHTML(false)
	}
	n := 0
	f.Limit = 1000
	for {
		page, err := log.Audit(ctx, f)
		if err != nil {
			return n, fmt.Errorf("export audit: %w", err)
		}
		for _, r := range page {
			rec := FromRecord(r)
			if cw != nil {
				err = cw.Write([]string{strconv.FormatInt(rec.ID, 10), rec.Time.Format(time.RFC3339Nano), rec.Actor,
					rec.ActorKind, rec.ActorID, rec.Role, rec.Addr, rec.Via, rec.Action, csvSafe(rec.Target), csvSafe(rec.Detail)})
			} else {
				err = enc.Encode(rec)
			}
			if err != nil {
				return n, fmt.Errorf("export audit: %w", err)
			}
			n++
		}
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return n, fmt.Errorf("export audit: %w", err)
			}
		}
		if len(page) < f.Limit {
			return n, nil
		}
		f.Before = page[len(page)-1].ID
	}
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
