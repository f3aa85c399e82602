package http

import (
	"fmt"
	"net/http"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/consent"
	"github.com/kithhq/kith/offer"
)

// profileExport is everything Kith holds about a person, as one file: the
// answer to a request to see it (scope admin, audited).
type profileExport struct {
	ExportedAt time.Time   `json:"exported_at"`
	Profile    profileJSON `json:"profile"`
	// Identifiers is every identifier of every profile that is this person,
	// with the event that linked it.
	Identifiers   []linkJSON           `json:"identifiers"`
	Events        []timelineEventJSON  `json:"events"` // every event, newest first
	Consents      []kith.ConsentRecord `json:"consents"`
	ContactPoints []kith.ContactPoint  `json:"contact_points"`
	// ContactPointHistory is every change of the contact points, oldest first.
	ContactPointHistory []kith.ContactPoint  `json:"contact_point_history"`
	Relationships       []kith.Relationship  `json:"relationships"`
	Offers              []offer.View         `json:"offers"`
	Merges              []kith.Merge         `json:"merges"`
	Purchases           []kith.Purchase      `json:"purchases"`
	Traits              map[string]traitJSON `json:"traits"`
}

// handleExportProfile answers GET /v1/profiles/{id}/export.
func (s *Server) handleExportProfile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, err := s.profiles.Get(ctx, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := profileExport{ExportedAt: time.Now().UTC(), Profile: s.toProfileJSON(v), Identifiers: []linkJSON{}, Events: []timelineEventJSON{},
		Consents: []kith.ConsentRecord{}, ContactPoints: []kith.ContactPoint{}, Relationships: []kith.Relationship{}, Offers: []offer.View{},
		Purchases: v.Purchases, Traits: map[string]traitJSON{}}
	if out.Purchases == nil {
		out.Purchases = []kith.Purchase{}
	}
	for k, t := range v.Traits {
		out.Traits[k] = traitJSON{Value: t.Value, Source: t.SourceID, Channel: t.Channel, Time: t.Time}
	}
	if s.audiences != nil {
		if out.Profile.Audiences, err = s.audiences.MembershipsOf(ctx, v.ID); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	ids, err := s.profiles.Identities(ctx, v.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, l := range ids.Links {
		out.Identifiers = append(out.Identifiers, toLinkJSON(l))
	}
	out.Merges = ids.Merges
	for cursor := ""; ; {
		page, err := s.profiles.Timeline(ctx, v.ID, cursor, 500)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for _, e := range page.Events {
			out.Events = append(out.Events, toTimelineEventJSON(e))
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if s.consent != nil {
		who := consent.Who{Profile: v.ID}
		if out.Consents, err = s.consent.History(ctx, who); err == nil {
			if out.ContactPoints, err = s.consent.ContactPoints(ctx, who); err == nil {
				if out.ContactPointHistory, err = s.consent.ContactPointHistory(ctx, who); err == nil {
					out.Relationships, err = s.consent.Relationships(ctx, who)
				}
			}
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if s.offers != nil {
		if _, out.Offers, err = s.offers.Held(ctx, offer.Target{Profile: v.ID}); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if out.Consents == nil {
		out.Consents = []kith.ConsentRecord{}
	}
	if out.ContactPoints == nil {
		out.ContactPoints = []kith.ContactPoint{}
	}
	if out.ContactPointHistory == nil {
		out.ContactPointHistory = []kith.ContactPoint{}
	}
	if out.Relationships == nil {
		out.Relationships = []kith.Relationship{}
	}
	if out.Offers == nil {
		out.Offers = []offer.View{}
	}
	if s.audit != nil {
		a, _ := kith.ActorFrom(ctx)
		if err := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: kith.AuditProfileExport, Target: v.ID,
			Detail: fmt.Sprintf("%d identifiers, %d events, %d consents", len(out.Identifiers), len(out.Events), len(out.Consents))}); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="kith-profile-%s.json"`, v.ID))
	writeJSON(w, http.StatusOK, out)
}
