package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
)

// Limits a row must fit, as ingestion's for a single message.
const (
	MaxRowBytes = 32 * 1024 // the event a row becomes
	maxIDLength = 1024      // user and anonymous ids
)

// rowError is why one row is rejected.
type rowError struct {
	Column string // "" when not about one column
	Reason string
}

func (e *rowError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("column %q: %s", e.Column, e.Reason)
	}
	return e.Reason
}

// converter turns rows of one file into events of one source.
type converter struct {
	ids     identity.Config
	source  *kith.Source
	fields  Mapping
	index   []int // the header position of each field
	columns int   // fields per row
	at      time.Time
	file    string
}

// payload is the Segment identify message a row becomes.
type payload struct {
	Type        string         `json:"type"`
	MessageID   string         `json:"messageId"`
	UserID      string         `json:"userId,omitempty"`
	AnonymousID string         `json:"anonymousId,omitempty"`
	Traits      map[string]any `json:"traits"`
	Context     payloadContext `json:"context"`
	Timestamp   time.Time      `json:"timestamp"`
}

type payloadContext struct {
	Library struct {
		Name string `json:"name"`
	} `json:"library"`
	Device *struct {
		ID string `json:"id"`
	} `json:"device,omitempty"`
	Import struct {
		File string `json:"file,omitempty"`
		Line int    `json:"line"`
	} `json:"import"`
}

// row is one converted row: its event and the identifier its outcome is
// read back by.
type row struct {
	line  int
	event kith.Event
	key   kith.Identifier // the strongest linking identifier
}

// convert turns the fields of the row starting at line into an event, or
// says why the row is rejected. A row is all or nothing: any invalid value
// rejects it whole.
func (c *converter) convert(line int, rec []string) (row, error) {
	if len(rec) != c.columns {
		return row{}, &rowError{Reason: fmt.Sprintf("has %d fields; the header has %d", len(rec), c.columns)}
	}
	p := payload{Type: string(kith.TypeIdentify), Traits: map[string]any{}, Timestamp: c.at}
	p.Context.Library.Name = "kith-import"
	p.Context.Import.File, p.Context.Import.Line = c.file, line
	var key kith.Identifier
	h := sha256.New()
	for i, f := range c.fields {
		v := strings.TrimSpace(rec[c.index[i]])
		if v == "" {
			continue
		}
		if !utf8.ValidString(v) {
			// Check refuses such files; a row from elsewhere is refused alone.
			return row{}, &rowError{Column: f.Column, Reason: "not valid UTF-8"}
		}
		if f.Trait != "" {
			p.Traits[f.Trait] = v
		} else {
			norm, err := c.ids.Normalize(f.Identifier, v)
			if err != nil {
				return row{}, &rowError{Column: f.Column, Reason: fmt.Sprintf("%q is not a valid %s: %v", v, f.Identifier, err)}
			}
			if len(norm) > maxIDLength {
				return row{}, &rowError{Column: f.Column, Reason: fmt.Sprintf("the %s is longer than %d bytes", f.Identifier, maxIDLength)}
			}
			v = norm
			switch f.Identifier {
			case kith.IDUserID:
				p.UserID = v
			case kith.IDAnonymousID:
				p.AnonymousID = v
			case kith.IDDeviceID:
				p.Context.Device = &struct {
					ID string `json:"id"`
				}{v}
			default:
				// Where the processor reads it: identify traits.
				p.Traits[f.Identifier] = v
			}
			// The strongest identifier that links, as identity.Extract
			// orders them, is how the row's profile is found afterwards.
			if r := c.ids.Rule(f.Identifier); !r.NoLink && (key.Type == "" || r.Priority > c.ids.Rule(key.Type).Priority) {
				key = kith.Identifier{Type: f.Identifier, Value: v}
			}
		}
		// The message id hashes what the row says, target by target, so
		// the same record imported again (from this file or a re-export)
		// is the same event.
		fmt.Fprintf(h, "%s\x00%s\x00", f.target(), v)
	}
	if key.Type == "" {
		return row{}, &rowError{Reason: "no identifier: the columns mapped to identifiers that link profiles are all empty"}
	}
	p.MessageID = "imp-" + hex.EncodeToString(h.Sum(nil)[:16])
	body, err := json.Marshal(&p)
	if err != nil {
		return row{}, &rowError{Reason: "cannot encode the row: " + err.Error()}
	}
	if len(body) > MaxRowBytes {
		return row{}, &rowError{Reason: fmt.Sprintf("the row makes a %d-byte event; the limit is %d bytes", len(body), MaxRowBytes)}
	}
	return row{line: line, key: key, event: kith.Event{
		MessageID: p.MessageID, Type: kith.TypeIdentify, SourceID: c.source.ID, Channel: c.source.Kind,
		UserID: p.UserID, AnonymousID: p.AnonymousID, Timestamp: c.at, ReceivedAt: c.at, Payload: body,
	}}, nil
}
