package audience

import (
	"encoding/json"
	"reflect"
	"testing"
)

// jsonValue agrees with encoding/json on every kind of value.
func TestJSONValue(t *testing.T) {
	for _, raw := range []string{`"plain"`, `""`, `"with \"quotes\""`, `"Zoë ✓"`, `"tab\there"`, `"\u00e9"`, `42`, `-1.5e3`, `0`,
		`1e400`, `true`, `false`, `null`, ` "spaced" `, `{"a":[1,"b",null]}`, `[1,2]`, `12345678901234567890`} {
		var want any
		wantOK := json.Unmarshal([]byte(raw), &want) == nil
		got, ok := jsonValue(json.RawMessage(raw))
		if ok != wantOK || ok && !reflect.DeepEqual(got, want) {
			t.Errorf("jsonValue(%s) = %#v, %v; encoding/json %#v, %v", raw, got, ok, want, wantOK)
		}
	}
	if _, ok := jsonValue(nil); ok {
		t.Error("an empty value decoded")
	}
}
