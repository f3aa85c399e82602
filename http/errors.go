package http

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/kithhq/kith"
)

// statusOf is the one table from Kith error codes to HTTP statuses.
var statusOf = map[string]int{
	kith.EINVALID:      http.StatusBadRequest,
	kith.ENOTFOUND:     http.StatusNotFound,
	kith.ECONFLICT:     http.StatusConflict,
	kith.EUNAUTHORIZED: http.StatusUnauthorized,
	kith.EFORBIDDEN:    http.StatusForbidden,
	kith.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	kith.EUNAVAILABLE:  http.StatusServiceUnavailable,
	kith.EINTERNAL:     http.StatusInternalServerError,
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a code, the field at fault, a sentence.
type ErrorDetail struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError answers err with its status and JSON body. Unclassified errors
// are logged here, once, and answered without their details.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) int {
	code := kith.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized && r.URL.Path != "" && !isIngestPath(r.URL.Path) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kith"`)
	}
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Field: kith.ErrorField(err), Message: kith.ErrorMessage(err), Detail: kith.ErrorDetail(err)}})
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decodeJSON reads a small JSON request body of the REST API into v.
func decodeJSON(r *http.Request, v any) error { return decodeJSONLimit(r, v, 1<<20) }

// decodeJSONLimit reads a JSON request body of at most limit bytes into v.
func decodeJSONLimit(r *http.Request, v any, limit int64) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return kith.Invalid(te.Field, "must not be a JSON %s", te.Value)
		}
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			return kith.Errorf(kith.ETOOLARGE, "the request body is larger than %d bytes", limit)
		}
		return kith.Invalid("", "malformed JSON: %s", err.Error())
	}
	return nil
}
