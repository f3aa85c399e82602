package identity

import "github.com/kithhq/kith"

// Address puts one of the person's identifiers on the event, the most
// telling first: user id, then anonymous id, then any other as a context
// trait (e-mail, phone, loyalty id…). Kith's own sources (lifecycle, offers)
// address their events to a person this way; it reports false when the
// person holds no identifier an event can carry.
func Address(e *kith.Event, msg map[string]any, links []kith.Link) bool {
	pick := func(typ string) (string, bool) {
		for _, l := range links {
			if l.Identifier.Type == typ {
				return l.Identifier.Value, true
			}
		}
		return "", false
	}
	if v, ok := pick(kith.IDUserID); ok {
		e.UserID, msg["userId"] = v, v
		return true
	}
	if v, ok := pick(kith.IDAnonymousID); ok {
		e.AnonymousID, msg["anonymousId"] = v, v
		return true
	}
	for _, l := range links {
		if l.Identifier.Type == kith.IDDeviceID {
			continue
		}
		// The person is found by the trait (an invented anonymousId
		// would become an identifier of theirs).
		msg["context"] = map[string]any{"traits": map[string]any{l.Identifier.Type: l.Identifier.Value}}
		return true
	}
	return false
}
