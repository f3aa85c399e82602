package identity

import "github.com/kithhq/kith"

// Address puts one of the person's identifiers on the event (see Pick and
// AddressTo). Kith's own sources (lifecycle, offers) address their events to
// a person this way; it reports false when the person holds no identifier
// an event can carry.
func Address(e *kith.Event, msg map[string]any, links []kith.Link) bool {
	id, ok := Pick(links)
	if ok {
		AddressTo(e, msg, id)
	}
	return ok
}

// Pick chooses the identifier to address a person's events to, the most
// telling first: user id, then anonymous id, then any other but a device id.
func Pick(links []kith.Link) (kith.Identifier, bool) {
	for _, typ := range []string{kith.IDUserID, kith.IDAnonymousID} {
		for _, l := range links {
			if l.Identifier.Type == typ {
				return l.Identifier, true
			}
		}
	}
	for _, l := range links {
		if l.Identifier.Type != kith.IDDeviceID {
			return l.Identifier, true
		}
	}
	return kith.Identifier{}, false
}

// AddressTo puts an identifier on an event: a user id or anonymous id as
// such, any other as a context trait (an invented anonymousId would become
// an identifier of the person's).
func AddressTo(e *kith.Event, msg map[string]any, id kith.Identifier) {
	switch id.Type {
	case kith.IDUserID:
		e.UserID, msg["userId"] = id.Value, id.Value
	case kith.IDAnonymousID:
		e.AnonymousID, msg["anonymousId"] = id.Value, id.Value
	default:
		msg["context"] = map[string]any{"traits": map[string]any{id.Type: id.Value}}
	}
}
