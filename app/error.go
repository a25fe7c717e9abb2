// Package app holds apron's domain: the types that flow through the node,
// the interfaces it needs from the outside world, and the pure logic that
// works on them. It imports no adapter package.
package app

import (
	"errors"
	"fmt"
)

// Error codes. Every error that crosses a package boundary should carry one
// so that adapters (HTTP, CLI) can map it without string matching.
const (
	EINVALID     = "invalid"
	ENOTFOUND    = "not_found"
	ECONFLICT    = "conflict"
	EUNAVAILABLE = "unavailable"
	ETOOLARGE    = "too_large"
	ENOSPACE     = "insufficient_storage" // the log cannot write: its disk is full
	EFORBIDDEN   = "forbidden"
	EINTERNAL    = "internal"
)

// Error is an application error with a machine-readable code and a message
// that is safe to show to a user.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("apron error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err; internal errors get a
// generic message so that details stay in the logs.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
