package identity

import "sync"

// validNumbers remembers the E.164 numbers normalizedPhone found valid
// lately. Validating costs ~15 µs (phonenumbers matches the number's
// patterns with regexp), and the same number is validated again soon
// after: an import checks each row's number, then the profile processor,
// which reads every event's identifiers again, checks it once more. Two
// generations of at most phoneMemoSize numbers each bound its memory (a
// few MB), whatever the traffic.
var validNumbers = phoneMemo{size: phoneMemoSize}

const phoneMemoSize = 1 << 17

type phoneMemo struct {
	size      int
	mu        sync.Mutex
	cur, prev map[string]struct{}
}

func (m *phoneMemo) has(s string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cur[s]; ok {
		return true
	}
	_, ok := m.prev[s]
	return ok
}

func (m *phoneMemo) add(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil || len(m.cur) >= m.size {
		m.prev, m.cur = m.cur, make(map[string]struct{}, m.size/4)
	}
	m.cur[s] = struct{}{}
}
