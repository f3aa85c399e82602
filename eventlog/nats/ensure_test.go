package nats

import (
	"context"
	"errors"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// failingCreate is the server's JetStream, whose first CreateStream calls
// fail with the API error given.
type failingCreate struct {
	jetstream.JetStream
	fail  *jetstream.APIError
	times int
	calls int
}

func (f *failingCreate) CreateStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	f.calls++
	if f.calls <= f.times {
		return nil, f.fail
	}
	return f.JetStream.CreateStream(ctx, cfg)
}

// A failure the server reports as its own is tried again; one of the
// client's is not, and neither is a server failure that persists.
func TestEnsureStreamRetriesServerFailures(t *testing.T) {
	url, monitor := testServer(t)
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	serverErr := &jetstream.APIError{Code: 500, ErrorCode: 10049, Description: "error creating store for stream"}
	for _, c := range []struct {
		name      string
		fail      *jetstream.APIError
		times     int
		wantCalls int
		wantErr   bool
	}{
		{"server failure, then success", serverErr, 2, 3, false},
		{"server failure three times", serverErr, 3, 3, true},
		{"client error", &jetstream.APIError{Code: 400, ErrorCode: 10052, Description: "replicas > 1 not supported in non-clustered mode"}, 1, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &failingCreate{JetStream: js, fail: c.fail, times: c.times}
			l := &Log{opt: testOptions(t, url, monitor).withDefaults(), nc: nc, js: f}
			err := l.ensureStream(context.Background())
			if f.calls != c.wantCalls {
				t.Errorf("CreateStream called %d times, want %d", f.calls, c.wantCalls)
			}
			var apiErr *jetstream.APIError
			switch {
			case c.wantErr && !errors.As(err, &apiErr):
				t.Errorf("ensureStream: %v, want the API error", err)
			case !c.wantErr && err != nil:
				t.Errorf("ensureStream: %v", err)
			case !c.wantErr && l.stream == nil:
				t.Error("no stream after ensureStream")
			}
		})
	}
}
