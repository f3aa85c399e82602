package kith

import (
	"errors"
	"fmt"
)

// Error codes. They classify a failure once, where it happens; the transport
// edge translates each to a status in one table.
const (
	EINVALID      = "invalid"      // the input is malformed or breaks a rule
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	ECONFLICT     = "conflict"     // the request clashes with current state
	EUNAUTHORIZED = "unauthorized" // no valid credential was presented
	EFORBIDDEN    = "forbidden"    // the credential lacks the needed scope
	ETOOLARGE     = "too_large"    // the input exceeds a size limit
	EUNAVAILABLE  = "unavailable"  // the service is shutting down or overloaded
	EINTERNAL     = "internal"     // a bug or an unexpected failure below us
)

// Error is an error with a code, and for invalid input the field at fault.
type Error struct {
	Code    string
	Field   string // a JSON path such as "batch[3].userId"; empty when not about one field
	Message string // a sentence for the person who sent the request
	// Detail, when set, is facts a program can act on, answered with the
	// error (e.g. when and where a grant was already redeemed).
	Detail any
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error about one field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of the first *Error in err's chain,
// or a generic message for an unclassified error, whose details are for logs.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the field of the first *Error in err's chain.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorDetail returns the detail of the first *Error in err's chain.
func ErrorDetail(err error) any {
	var e *Error
	if errors.As(err, &e) {
		return e.Detail
	}
	return nil
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool { return ErrorCode(err) == code }
