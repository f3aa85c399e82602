package kith_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection keeps the layering of STYLE.md from rotting: the
// root imports nothing of ours; domain packages import the root, never
// storage, transport or the console; stores import only the root; only
// cmd/kith imports everything.
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/kithhq/kith"
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	edge := map[string]bool{"store/": true, "http": true, "web": true, "eventlog/": true, "cmd/": true, "metrics": true, "bench": true}
	isEdge := func(p string) bool {
		for prefix := range edge {
			if p == prefix || strings.HasSuffix(prefix, "/") && strings.HasPrefix(p, prefix) {
				return true
			}
		}
		return false
	}
	for dec.More() {
		var pkg struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&pkg); err != nil {
			t.Fatal(err)
		}
		self := strings.TrimPrefix(strings.TrimPrefix(pkg.ImportPath, mod), "/")
		for _, imp := range pkg.Imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			dep := strings.TrimPrefix(strings.TrimPrefix(imp, mod), "/")
			switch {
			case self == "":
				t.Errorf("root package imports %s; it must import only the standard library", imp)
			case strings.HasPrefix(self, "cmd/"):
				// main wires everything.
			case strings.HasPrefix(self, "store/") && self != "store/storetest":
				if dep != "" {
					t.Errorf("%s imports %s; stores import only the root", self, dep)
				}
			case !isEdge(self) && isEdge(dep):
				t.Errorf("domain package %s imports %s; dependencies point inward", self, dep)
			}
		}
	}
}
