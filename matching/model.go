package matching

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/kithhq/kith/match"
)

// defaultModel is the model a store too small to learn from starts with:
// learned, with no labels, from records made by match.Generate with Febrl
// 2's kinds of error (seed 1, 5,000 originals). TestDefaultModel checks it
// and rewrites it with -update.
//
//go:embed default_model.json
var defaultModel []byte

// DefaultModel returns the embedded model.
func DefaultModel() (*match.Model, error) {
	var m match.Model
	if err := json.Unmarshal(defaultModel, &m); err != nil {
		return nil, fmt.Errorf("embedded match model: %w", err)
	}
	return &m, nil
}

// learnDefault learns the default model again (what -update writes).
func learnDefault(ctx context.Context) (*match.Model, error) {
	records, _ := match.Generate(1, 5000, match.GenerateOptions{})
	return learn(ctx, records)
}

// learn learns a model from records with no labels.
func learn(ctx context.Context, records []match.Record) (*match.Model, error) {
	res, err := match.Dedupe(ctx, records, match.Options{Seed: 1, Workers: 1})
	if err != nil {
		return nil, err
	}
	return res.Matcher.Model(), nil
}
