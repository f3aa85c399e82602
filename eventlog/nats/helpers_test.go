package nats

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kithhq/kith"
)

// testServer returns the URLs of the NATS server the tests run against,
// from KITH_TEST_NATS and KITH_TEST_NATS_MONITOR. Without them the test is
// skipped, unless KITH_TEST_REQUIRE asks for nats.
func testServer(tb testing.TB) (url, monitor string) {
	tb.Helper()
	url, monitor = os.Getenv("KITH_TEST_NATS"), os.Getenv("KITH_TEST_NATS_MONITOR")
	if url == "" || monitor == "" {
		msg := "KITH_TEST_NATS and KITH_TEST_NATS_MONITOR are not set: run " +
			"`eval \"$(scripts/nats-server.sh)\"; export KITH_TEST_NATS KITH_TEST_NATS_MONITOR` " +
			"to start nats-server v2.15.2 with sync_interval: always"
		if strings.Contains(os.Getenv("KITH_TEST_REQUIRE"), "nats") {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return url, monitor
}

var streamCounter atomic.Int64

// testOptions returns options for a stream of the test's own, deleted when
// the test ends, so tests never see each other's messages.
func testOptions(tb testing.TB, url, monitor string) Options {
	tb.Helper()
	id := fmt.Sprintf("%d_%d", time.Now().UnixNano()%1e9, streamCounter.Add(1))
	opt := Options{
		Stream:        "KITH_TEST_" + id,
		SubjectPrefix: "kithtest." + id,
		MonitorURL:    monitor,
	}
	tb.Cleanup(func() {
		nc, err := natsgo.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, opt.Stream)
	})
	return opt
}

// openTest opens a log on a stream of the test's own.
func openTest(tb testing.TB) (*Log, Options) {
	tb.Helper()
	url, monitor := testServer(tb)
	opt := testOptions(tb, url, monitor)
	l, err := Open(context.Background(), url, opt)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { l.Close() })
	return l, opt
}

// makeEvents returns n events of people persons, each ~500 bytes of payload.
// Message ids are unique per prefix.
func makeEvents(prefix string, n, people int) []kith.Event {
	now := time.Now().UTC().Truncate(time.Microsecond)
	events := make([]kith.Event, n)
	for i := range events {
		e := kith.Event{
			MessageID:  fmt.Sprintf("%s-%06d", prefix, i),
			Type:       kith.TypeTrack,
			SourceID:   "src-test",
			Channel:    kith.KindWeb,
			Timestamp:  now.Add(time.Duration(i) * time.Millisecond),
			ReceivedAt: now,
		}
		// Some people are known only by userId, most by anonymousId.
		if i%people%3 == 0 {
			e.UserID = fmt.Sprintf("user-%d", i%people)
		} else {
			e.AnonymousID = fmt.Sprintf("anon-%d", i%people)
			e.UserID = fmt.Sprintf("user-%d", i%people)
		}
		e.Payload = fmt.Appendf(nil, `{"type":"track","event":"Order Completed","messageId":%q,"userId":%q,`+
			`"context":{"ip":"203.0.113.7","userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36",`+
			`"library":{"name":"analytics.js","version":"5.2.0"}},"properties":{"orderId":"o-%d","revenue":42.5,"currency":"EUR",`+
			`"products":[{"sku":"SKU-1234","qty":2,"price":21.25}]}}`, e.MessageID, e.UserID, i)
		events[i] = e
	}
	return events
}

// storedMessage is one message read back from a stream.
type storedMessage struct {
	subject string
	events  []kith.Event
}

// readAll reads every message of the log's stream with an ordered consumer
// and decodes it.
func readAll(tb testing.TB, url string, opt Options) []storedMessage {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := natsgo.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := js.Stream(ctx, opt.Stream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	total := int(info.State.Msgs)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	var out []storedMessage
	for len(out) < total {
		batch, err := cons.Fetch(total-len(out), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			tb.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			evs, err := Decode(m.Data())
			if err != nil {
				tb.Fatalf("Decode message on %s: %v", m.Subject(), err)
			}
			out = append(out, storedMessage{subject: m.Subject(), events: evs})
			n++
		}
		if err := batch.Error(); err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			tb.Fatalf("read %d of %d messages, then nothing", len(out), total)
		}
	}
	return out
}

// streamMsgs returns the number of messages in the log's stream.
func streamMsgs(tb testing.TB, l *Log) uint64 {
	tb.Helper()
	info, err := l.stream.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Msgs
}
