package match

import "testing"

// Forgetting a person's records leaves nothing of them readable: no id,
// no value, and a value only they held is gone from the index altogether;
// others sharing a value keep it, counted once fewer.
func TestIndexForget(t *testing.T) {
	ix := NewIndex(nil, 0)
	rec := func(id, given, surname, postcode string) Record {
		var r Record
		r.ID = id
		r.Values[GivenName], r.Values[Surname], r.Values[Postcode] = given, surname, postcode
		return r
	}
	ix.Add(rec("ann", "anna", "quill", "2000"))
	ix.Add(rec("bob", "robert", "quill", "2000"))
	ix.Add(rec("ann", "anna", "quill", "2600")) // ann changed: a newer record
	if n := ix.Forget(map[string]bool{"ann": true}); n != 2 {
		t.Fatalf("Forget = %d, want both of ann's records", n)
	}
	for i := range ix.Len() {
		r := ix.Record(i)
		if r.ID == "ann" || r.Values[GivenName] == "anna" || r.Values[Postcode] == "2600" {
			t.Errorf("record %d after forgetting ann: %+v", i, r)
		}
	}
	if _, ok := ix.cols[GivenName].ids["anna"]; ok {
		t.Errorf("the index still knows the given name anna")
	}
	if _, ok := ix.cols[Postcode].ids["2600"]; ok {
		t.Errorf("the index still knows ann's postcode 2600")
	}
	id, ok := ix.cols[Surname].ids["quill"]
	if !ok || ix.cols[Surname].count[id] != 1 {
		t.Errorf("bob's surname after forgetting ann: known %v, count %d; want known, 1", ok, ix.cols[Surname].count[id])
	}
	// A probe like ann finds bob, and forgotten positions have no id.
	for _, j := range ix.Candidates(rec("", "anna", "quill", "2000")) {
		if r := ix.Record(j); r.ID != "bob" && r.ID != "" {
			t.Errorf("candidate %d is %q", j, r.ID)
		}
	}
	if n := ix.Forget(map[string]bool{"ann": true}); n != 0 {
		t.Errorf("Forget again = %d, want 0", n)
	}
	// The same values can come back, as someone new.
	i := ix.Add(rec("cat", "anna", "quill", "2600"))
	if r := ix.Record(i); r.ID != "cat" || r.Values[GivenName] != "anna" {
		t.Errorf("a record added after the forgetting: %+v", r)
	}
}
