package http

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/lifecycle"
	"github.com/kithhq/kith/profile"
)

type traitJSON struct {
	Value   json.RawMessage `json:"value"`
	Source  string          `json:"source"`
	Channel kith.Kind       `json:"channel"`
	Time    time.Time       `json:"time"`
}

type identifierJSON struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type intentJSON struct {
	Topic    string    `json:"topic"`
	Strength float64   `json:"strength"`
	Channel  kith.Kind `json:"channel"`
	LastSeen time.Time `json:"last_seen"`
}

type profileJSON struct {
	ID          string                          `json:"id"`
	RequestedID string                          `json:"requested_id,omitempty"`
	Name        string                          `json:"name,omitempty"`
	CreatedAt   time.Time                       `json:"created_at"`
	UpdatedAt   time.Time                       `json:"updated_at"`
	Identifiers []identifierJSON                `json:"identifiers"`
	Traits      map[string]traitJSON            `json:"traits"`
	Channels    map[kith.Kind]*kith.ChannelSeen `json:"channels"`
	Intents     []intentJSON                    `json:"intents"`
	Events      int                             `json:"events"`
	// Lifecycle is the stage the last stage change recorded; Value where
	// the person stands now (scores, tier, touch), when lifecycle is on.
	Lifecycle *kith.Lifecycle       `json:"lifecycle,omitempty"`
	Value     *lifecycle.Assessment `json:"value,omitempty"`
	// Audiences are the saved audiences the person is in now, by id.
	Audiences []string `json:"audiences,omitempty"`
	// Computed is each computed trait's value now, by name.
	Computed map[string]any `json:"computed,omitempty"`
}

func (s *Server) toProfileJSON(v *profile.View) profileJSON {
	out := toProfileJSON(v)
	if v.Lifecycle.Stage != "" {
		l := v.Lifecycle
		out.Lifecycle = &l
	}
	if s.lifecycle != nil {
		a := s.lifecycle.Assess(v.Profile)
		out.Value = &a
	}
	if s.computed != nil {
		out.Computed = s.computed.Set().Values(v.Profile, s.computed.Set().Now())
	}
	return out
}

func toProfileJSON(v *profile.View) profileJSON {
	out := profileJSON{ID: v.ID, RequestedID: v.RequestedID, Name: v.Name, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
		Identifiers: []identifierJSON{}, Traits: map[string]traitJSON{}, Channels: v.Channels, Intents: []intentJSON{}, Events: v.Events}
	for _, l := range v.Identifiers {
		out.Identifiers = append(out.Identifiers, identifierJSON{l.Type, l.Value})
	}
	for k, t := range v.Traits {
		out.Traits[k] = traitJSON{Value: t.Value, Source: t.SourceID, Channel: t.Channel, Time: t.Time}
	}
	for _, in := range v.TopIntents {
		out.Intents = append(out.Intents, intentJSON{Topic: in.Topic, Strength: round(in.Strength), Channel: in.Channel, LastSeen: in.Last})
	}
	return out
}

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func (s *Server) handleGetProfile(w http.ResponseWriter, r *http.Request) {
	v, err := s.profiles.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := s.toProfileJSON(v)
	if s.audiences != nil {
		if out.Audiences, err = s.audiences.MembershipsOf(r.Context(), v.ID); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleLookup(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) != 1 || len(q[keys[0]]) != 1 {
		s.writeError(w, r, kith.Invalid("", "give exactly one identifier, e.g. ?email=ann@example.com or ?phone=%%2B14155550100"))
		return
	}
	typ, value := keys[0], q.Get(keys[0])
	if typ == kith.IDPhone && strings.HasPrefix(value, " ") {
		// An unencoded + in a query string arrives as a space.
		value = "+" + strings.TrimLeft(value, " ")
	}
	v, candidates, err := s.profiles.Lookup(r.Context(), typ, value)
	if len(candidates) > 1 {
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":      ErrorDetail{Code: kith.ECONFLICT, Field: typ, Message: kith.ErrorMessage(err)},
			"candidates": candidates,
		})
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.toProfileJSON(v))
}

type timelineEventJSON struct {
	MessageID         string          `json:"messageId"`
	Seq               int64           `json:"seq"`
	Type              kith.EventType  `json:"type"`
	Channel           kith.Kind       `json:"channel"`
	Source            string          `json:"source"`
	Timestamp         time.Time       `json:"timestamp"`
	OriginalTimestamp *time.Time      `json:"originalTimestamp,omitempty"`
	SentAt            *time.Time      `json:"sentAt,omitempty"`
	ReceivedAt        time.Time       `json:"receivedAt"`
	UserID            string          `json:"userId,omitempty"`
	AnonymousID       string          `json:"anonymousId,omitempty"`
	Warnings          []string        `json:"warnings,omitempty"`
	Message           json.RawMessage `json:"message"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Server) handleTimeline(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			s.writeError(w, r, kith.Invalid("limit", "must be a positive number"))
			return
		}
		limit = n
	}
	page, err := s.profiles.Timeline(r.Context(), r.PathValue("id"), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]timelineEventJSON, len(page.Events))
	for i, e := range page.Events {
		out[i] = toTimelineEventJSON(e)
	}
	var next any
	if page.NextCursor != "" {
		next = page.NextCursor
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "next_cursor": next})
}

func toTimelineEventJSON(e kith.TimelineEvent) timelineEventJSON {
	return timelineEventJSON{MessageID: e.MessageID, Seq: e.Seq, Type: e.Type, Channel: e.Channel, Source: e.SourceID,
		Timestamp: e.Timestamp, OriginalTimestamp: optTime(e.OriginalTimestamp), SentAt: optTime(e.SentAt),
		ReceivedAt: e.ReceivedAt, UserID: e.UserID, AnonymousID: e.AnonymousID, Warnings: e.Warnings, Message: e.Payload}
}

type linkJSON struct {
	Type     string    `json:"type"`
	Value    string    `json:"value"`
	LinkedBy reasonRef `json:"linked_by"`
}

func toLinkJSON(l kith.Link) linkJSON {
	return linkJSON{Type: l.Type, Value: l.Value, LinkedBy: reasonRef{MessageID: l.MessageID, Seq: l.Seq, Source: l.SourceID, At: l.At}}
}

type reasonRef struct {
	MessageID string    `json:"messageId"`
	Seq       int64     `json:"seq"`
	Source    string    `json:"source,omitempty"`
	At        time.Time `json:"at"`
}

type mergeJSON struct {
	MergeID  string     `json:"mergeId"`
	Survivor string     `json:"survivor"`
	Absorbed string     `json:"absorbed"`
	Reason   string     `json:"reason"`
	Event    reasonRef  `json:"event"`
	UndoneAt *time.Time `json:"undone_at,omitempty"`
}

func toMergeJSON(m *kith.Merge) mergeJSON {
	return mergeJSON{MergeID: m.ID, Survivor: m.Survivor, Absorbed: m.Absorbed, Reason: m.Reason,
		Event: reasonRef{MessageID: m.MessageID, Seq: m.Seq, At: m.At}, UndoneAt: optTime(m.UndoneAt)}
}

type conflictJSON struct {
	Profiles []string  `json:"profiles"`
	Reason   string    `json:"reason"`
	Event    reasonRef `json:"event"`
}

func (s *Server) handleIdentities(w http.ResponseWriter, r *http.Request) {
	ids, err := s.profiles.Identities(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		ProfileID   string         `json:"profile_id"`
		Identifiers []linkJSON     `json:"identifiers"`
		Merges      []mergeJSON    `json:"merges"`
		Conflicts   []conflictJSON `json:"conflicts"`
	}{ProfileID: ids.ProfileID, Identifiers: []linkJSON{}, Merges: []mergeJSON{}, Conflicts: []conflictJSON{}}
	for _, l := range ids.Links {
		out.Identifiers = append(out.Identifiers, toLinkJSON(l))
	}
	for i := range ids.Merges {
		out.Merges = append(out.Merges, toMergeJSON(&ids.Merges[i]))
	}
	for _, c := range ids.Conflicts {
		out.Conflicts = append(out.Conflicts, conflictJSON{Profiles: c.Profiles, Reason: c.Reason,
			Event: reasonRef{MessageID: c.MessageID, Seq: c.Seq, At: c.At}})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	views, err := s.profiles.Search(r.Context(), r.URL.Query().Get("q"), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]profileJSON, len(views))
	for i, v := range views {
		out[i] = s.toProfileJSON(v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"profiles": out})
}

func (s *Server) handleUndoMerge(w http.ResponseWriter, r *http.Request) {
	m, err := s.profiles.UndoMerge(r.Context(), r.PathValue("mergeId"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toMergeJSON(m))
}

func (s *Server) handleProcessing(w http.ResponseWriter, r *http.Request) {
	lag, err := s.profiles.Lag(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{"cursor": lag.Cursor, "last_seq": lag.LastSeq,
		"lag_events": lag.Events, "lag_seconds": lag.Age.Seconds()}
	if len(lag.Partitions) > 0 {
		parts := make([]map[string]any, len(lag.Partitions))
		for i, p := range lag.Partitions {
			parts[i] = map[string]any{"partition": p.Partition, "node": p.Node, "cursor": p.Cursor,
				"lag_events": p.Events, "lag_seconds": p.Age.Seconds()}
		}
		out["partitions"] = parts
	}
	writeJSON(w, http.StatusOK, out)
}
