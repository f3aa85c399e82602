package matching

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/kithhq/kith/match"
)

var update = flag.Bool("update", false, "learn the embedded default model again and rewrite default_model.json")

// TestDefaultModel checks that the embedded model is what learning on the
// generated records gives, and that it tells a typo from a stranger.
func TestDefaultModel(t *testing.T) {
	learned, err := learnDefault(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		b, err := json.MarshalIndent(learned, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("default_model.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(m)
	want, _ := json.Marshal(learned)
	if string(got) != string(want) {
		t.Errorf("default_model.json is not what learning gives now; run go test ./matching -run TestDefaultModel -update")
	}
	ix := match.NewIndex(match.DefaultRules(), match.DefaultMaxBlock)
	ix.Add(match.Record{ID: "a", Values: [match.NumFields]string{"maria", "lopez", "12", "tullaroop street", "", "kew", "3101", "vic", "19800501", ""}})
	ix.Add(match.Record{ID: "b", Values: [match.NumFields]string{"john", "smith", "7", "high street", "", "carlton", "3053", "vic", "19700304", ""}})
	mt := match.NewMatcher(m, ix)
	evs := mt.Score(match.Record{ID: "c", Values: [match.NumFields]string{"mria", "lopez", "12", "tullaroop street", "", "kew", "3101", "vic", "19800501", ""}})
	if len(evs) == 0 || ix.Record(evs[0].Right).ID != "a" || evs[0].Probability < match.AutoMergeThreshold {
		t.Errorf("a typo of maria lopez: %+v", evs)
	}
	for _, ev := range evs {
		if ix.Record(ev.Right).ID == "b" && ev.Probability > 0.01 {
			t.Errorf("a stranger scores %v", ev.Probability)
		}
	}
}
