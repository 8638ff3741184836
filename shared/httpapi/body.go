package httpapi

import (
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/alipay-serverless/alipay-serverless/shared/alipay"
	"github.com/alipay-serverless/alipay-serverless/shared/domain"
)

// MaxBodyBytes bounds every request body (docs/design.md#http-contract-today: 413 above
// 64 KiB); services that take a body check the same bound, domain.MaxBodyBytes.
const MaxBodyBytes = domain.MaxBodyBytes

// ReadBody reads at most MaxBodyBytes of the request body; a larger body is a 413.
func ReadBody(r *http.Request) ([]byte, *Error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, tooLarge()
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, BadRequest("", "could not read the request body")
	}
	if len(b) > MaxBodyBytes {
		return nil, tooLarge()
	}
	return b, nil
}

func tooLarge() *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge, Message: "request body is larger than 64 KiB"}
}

// ReadJSON checks the content type is JSON and reads the body.
func ReadJSON(r *http.Request) ([]byte, *Error) {
	if !IsJSON(r.Header.Get("Content-Type")) {
		return nil, &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType,
			Message: "Content-Type must be application/json"}
	}
	return ReadBody(r)
}

// IsJSON reports whether a Content-Type names JSON (charset utf-8 or none).
func IsJSON(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// IsForm reports whether a Content-Type starts with application/x-www-form-urlencoded
// (alipay.IsFormContentType: parameters are ignored).
func IsForm(ct string) bool { return alipay.IsFormContentType(ct) }

// ReadEmpty reads the body of a route that takes none (sync, close, unsign): nothing, or
// a JSON empty object; another body is 415 (not JSON) or 400 naming its first field.
func ReadEmpty(r *http.Request) error {
	body, herr := ReadBody(r)
	if herr != nil {
		return herr
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if !IsJSON(r.Header.Get("Content-Type")) {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType,
			Message: "Content-Type must be application/json"}
	}
	return AsBadRequest(alipay.DecodeEmpty(body))
}

// DecodeRequest is the start of every route that takes a JSON body: the caller (401
// without one), the body (415 not JSON, 413 over MaxBodyBytes) decoded with decode (400
// naming the field). ok is false when the error reply was written.
func DecodeRequest[P any](w http.ResponseWriter, r *http.Request, decode func([]byte) (*P, error)) (Caller, *P, bool) {
	caller, err := RequireCaller(r)
	if err != nil {
		WriteErr(w, r, err)
		return Caller{}, nil, false
	}
	body, herr := ReadJSON(r)
	if herr != nil {
		WriteError(w, herr)
		return Caller{}, nil, false
	}
	p, err := decode(body)
	if err != nil {
		WriteErr(w, r, AsBadRequest(err))
		return Caller{}, nil, false
	}
	return caller, p, true
}
