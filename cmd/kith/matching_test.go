package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

type apiPair struct {
	ID          string  `json:"id"`
	Left        string  `json:"left"`
	Right       string  `json:"right"`
	Probability float64 `json:"probability"`
	Status      string  `json:"status"`
	Reason      string  `json:"reason"`
	MergeEvent  string  `json:"merge_event"`
	Evidence    struct {
		Fields []struct {
			Field  string  `json:"field"`
			Level  string  `json:"level"`
			Weight float64 `json:"weight"`
		} `json:"fields"`
	} `json:"evidence"`
}

// waitPairs waits until the matcher has n pairs in a status.
func waitPairs(t *testing.T, c *profileClient, status string, n int) []apiPair {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.waitProcessed()
		var out struct{ Pairs []apiPair }
		c.get("/v1/matches?status="+status, &out)
		if len(out.Pairs) >= n {
			return out.Pairs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s pairs after 20s, want %d: %+v", len(out.Pairs), status, n, out.Pairs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The CRM knows Maria by e-mail, the store by phone, with a typo in her
// name: the matcher merges them at once, with its evidence; undone, the
// merge is remembered and not made again. A relative at the same address
// waits for a steward, who rejects her.
func TestMatchingLive(t *testing.T) { eachStore(t, testMatchingLive) }

func testMatchingLive(t *testing.T) {
	m := startMain(t, nil)
	c := newProfileClient(t, m)
	_, crmKey := c.createSource("crm", "call_center")
	_, storeKey := c.createSource("store", "store")
	address := map[string]any{"street": "12 Tullaroop Street", "city": "Kew", "postalCode": "3101", "state": "VIC"}
	c.send(crmKey, msg("identify", "crm-1", t0, map[string]any{"anonymousId": "crm-maria", "traits": map[string]any{
		"email": "maria@example.com", "first_name": "Maria", "last_name": "Lopez", "birthday": "1980-05-01", "address": address}}))
	c.waitProcessed()
	c.send(storeKey, msg("identify", "pos-1", t0.Add(time.Hour), map[string]any{"anonymousId": "card-5521", "traits": map[string]any{
		"phone": "+1 415 555 0101", "first_name": "Mria", "last_name": "Lopez", "birthday": "1980-05-01", "address": address}}))
	merged := waitPairs(t, c, "merged", 1)[0]
	if merged.Probability < 0.95 || len(merged.Evidence.Fields) < 5 || !strings.HasPrefix(merged.MergeEvent, "match-") {
		t.Fatalf("merged pair %+v", merged)
	}
	var p apiProfile
	for deadline := time.Now().Add(20 * time.Second); ; {
		c.waitProcessed()
		p = c.lookup("phone", "+14155550101")
		if p.has("email", "maria@example.com") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not merged: %+v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ids := c.identities(p.ID)
	if len(ids.Merges) != 1 || ids.Merges[0].Event.MessageID != merged.MergeEvent {
		t.Fatalf("merges %+v; want the matcher's", ids.Merges)
	}
	// Undo: the pair is remembered as undone and not merged again.
	if status, body := c.call("POST", "/v1/merges/"+ids.Merges[0].MergeID+"/undo", testAPIKey, nil); status != http.StatusOK {
		t.Fatalf("undo: %d %s", status, body)
	}
	waitPairs(t, c, "undone", 1)
	c.send(storeKey, msg("identify", "pos-2", t0.Add(2*time.Hour), map[string]any{"anonymousId": "card-5521", "traits": map[string]any{
		"address": map[string]any{"street": "12 Tullaroop St", "city": "Kew", "postalCode": "3101", "state": "VIC"}}}))
	c.waitProcessed()
	time.Sleep(200 * time.Millisecond)
	c.waitProcessed()
	if c.lookup("phone", "+14155550101").has("email", "maria@example.com") {
		t.Error("merged again after the undo")
	}

	// A relative at the same address, no birth date: a steward decides.
	c.send(crmKey, msg("identify", "crm-2", t0.Add(3*time.Hour), map[string]any{"anonymousId": "crm-ana", "traits": map[string]any{
		"email": "ana@example.com", "first_name": "Ana", "last_name": "Lopez", "address": address}}))
	pending := waitPairs(t, c, "pending", 1)
	status, body := c.call("POST", "/v1/matches/"+pending[0].ID+"/reject", testAPIKey, nil)
	if status != http.StatusOK {
		t.Fatalf("reject: %d %s", status, body)
	}
	status, body = c.call("POST", "/v1/matches/"+pending[0].ID+"/accept", testAPIKey, nil)
	var e apiError
	json.Unmarshal(body, &e)
	if status != http.StatusConflict || !strings.Contains(e.Error.Message, "already decided: rejected") {
		t.Errorf("accepting a rejected pair: %d %s", status, body)
	}
	if c.lookup("email", "ana@example.com").has("email", "maria@example.com") {
		t.Error("the rejected relative was merged")
	}
	status, body = c.call("GET", "/v1/matches?status=maybe", testAPIKey, nil)
	if status != http.StatusBadRequest {
		t.Errorf("an unknown status: %d %s", status, body)
	}
}
