package http

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/ingest"
)

func isIngestPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/v1/")
	if !ok {
		return false
	}
	if strings.HasPrefix(rest, "projects/") {
		return true
	}
	_, ok = ingest.EndpointForPath(rest)
	return ok
}

var successBody = []byte("{\"success\":true}\n")

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ingestResponse is Segment's success answer, plus what Kith rejected.
type ingestResponse struct {
	Success  bool               `json:"success"`
	Rejected []ingest.Rejection `json:"rejected,omitempty"`
}

func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	allowCORS(w, r)
	name := r.PathValue("endpoint")
	endpoint, ok := ingest.EndpointForPath(name)
	if !ok {
		s.writeError(w, r, kith.Errorf(kith.ENOTFOUND, "no endpoint /v1/%s; use track, identify, page, screen, group, alias, batch or import (or t, i, p, s, g, a)", name))
		return
	}
	status := s.ingestRequest(w, r, endpoint)
	kind := "single"
	if endpoint.IsBatch() {
		kind = "batch"
	}
	s.metrics.IngestRequests.WithLabelValues(string(endpoint), strconv.Itoa(status)).Inc()
	s.metrics.IngestLatency.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

func (s *Server) ingestRequest(w http.ResponseWriter, r *http.Request, endpoint ingest.Endpoint) int {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 4*ingest.MaxBatchBytes {
			bufPool.Put(buf)
		}
	}()
	if err := readBody(buf, r); err != nil {
		return s.writeError(w, r, err)
	}
	res, err := s.ingest.Ingest(r.Context(), ingest.Request{Endpoint: endpoint, Body: buf.Bytes(), WriteKey: basicWriteKey(r)})
	if err != nil {
		return s.writeError(w, r, err)
	}
	s.metrics.IngestEvents.WithLabelValues("accepted").Add(float64(res.Accepted - res.Duplicates))
	if res.Duplicates > 0 {
		s.metrics.IngestEvents.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	}
	if len(res.Rejected) > 0 {
		s.metrics.IngestEvents.WithLabelValues("rejected").Add(float64(len(res.Rejected)))
		for _, rj := range res.Rejected {
			s.metrics.IngestRejections.WithLabelValues(rj.Code).Inc()
		}
	}
	if len(res.Rejected) == 0 {
		// The answer to nearly every request, without an encoder.
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(successBody)
		return http.StatusOK
	}
	writeJSON(w, http.StatusOK, ingestResponse{Success: true, Rejected: res.Rejected})
	return http.StatusOK
}

// readBody reads the request body into buf, decompressing gzip whether or
// not the client said so, and enforcing the batch limit after decompression.
func readBody(buf *bytes.Buffer, r *http.Request) error {
	limit := int64(ingest.MaxBatchBytes)
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
		return kith.Invalid("", "read request body: %v", err)
	}
	b := buf.Bytes()
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	gz := enc == "gzip" || len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
	if !gz {
		if enc != "" && enc != "identity" {
			return kith.Invalid("Content-Encoding", "unsupported content encoding %q; send gzip or nothing", enc)
		}
		if int64(len(b)) > limit {
			return tooLarge()
		}
		return nil
	}
	// A compressed body may itself exceed the limit only if it expands less
	// than it shrinks; read the rest too, the decompressed limit decides.
	compressed := append([]byte(nil), b...)
	if int64(len(compressed)) > limit {
		rest, err := io.ReadAll(io.LimitReader(r.Body, 4*limit))
		if err != nil {
			return kith.Invalid("", "read request body: %v", err)
		}
		compressed = append(compressed, rest...)
	}
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return kith.Invalid("Content-Encoding", "body is not valid gzip: %v", err)
	}
	buf.Reset()
	n, err := buf.ReadFrom(io.LimitReader(zr, limit+1))
	if err != nil && !errors.Is(err, io.EOF) {
		return kith.Invalid("Content-Encoding", "body is not valid gzip: %v", err)
	}
	if n > limit {
		return tooLarge()
	}
	return nil
}

func tooLarge() error {
	return &kith.Error{Code: kith.ETOOLARGE, Message: fmt.Sprintf("request body exceeds %d bytes after decompression; send smaller batches", ingest.MaxBatchBytes)}
}

// basicWriteKey returns the write key from Basic auth: Segment's SDKs send it
// as the user name with an empty password; some send it as the password.
func basicWriteKey(r *http.Request) string {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return ""
	}
	if user != "" {
		return user
	}
	return pass
}

// allowCORS lets browsers on any origin send events: write keys are public
// by design, and the browser SDKs send Basic auth, so the origin is echoed.
func allowCORS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	origin := r.Header.Get("Origin")
	if origin == "" {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
}

func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	allowCORS(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
		h.Set("Access-Control-Allow-Headers", asked)
		h.Add("Vary", "Access-Control-Request-Headers")
	} else {
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding, X-Retry-Count")
	}
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// handleSettings serves what analytics.js fetches from its CDN before it
// sends anything: the stock snippet works with only its CDN host changed.
func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	allowCORS(w, r)
	writeKey := r.PathValue("writeKey")
	if _, err := s.access.SourceForWriteKey(r.Context(), writeKey); err != nil {
		s.writeError(w, r, err)
		return
	}
	proto := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		proto = "https"
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		host = fh
	}
	enabled := map[string]any{"__default": map[string]any{"enabled": true, "integrations": map[string]any{}}}
	writeJSON(w, http.StatusOK, map[string]any{
		"integrations": map[string]any{
			"Segment.io": map[string]any{
				"apiKey":                writeKey,
				"apiHost":               host + "/v1",
				"protocol":              proto,
				"unbundledIntegrations": []string{},
				"addBundledMetadata":    true,
				"maybeBundledConfigIds": map[string]any{},
			},
		},
		"plan":                      map[string]any{"track": enabled, "identify": enabled, "group": enabled},
		"edgeFunction":              map[string]any{},
		"analyticsNextEnabled":      true,
		"middlewareSettings":        map[string]any{},
		"enabledMiddleware":         map[string]any{},
		"metrics":                   map[string]any{"sampleRate": 0},
		"legacyVideoPluginsEnabled": false,
		"remotePlugins":             []any{},
	})
}
