package core

import (
	"errors"
	"testing"
	"time"
)

func TestKindOfStatus(t *testing.T) {
	for status, want := range map[int]error{
		200: nil, 302: nil, 400: ErrInvalid, 401: ErrPermission, 403: ErrPermission, 404: ErrNotFound,
		408: ErrTransient, 409: ErrInvalid, 422: ErrInvalid, 429: ErrTransient, 500: ErrTransient, 503: ErrTransient,
	} {
		if got := KindOfStatus(status); got != want {
			t.Errorf("KindOfStatus(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestTransientCarriesRetryAfter(t *testing.T) {
	err := Transient(errors.New("rate limited"), 7*time.Second)
	if !errors.Is(err, ErrTransient) || RetryAfter(err) != 7*time.Second || ErrorKind(err) != "transient" {
		t.Fatalf("err = %v, kind %s, wait %s", err, ErrorKind(err), RetryAfter(err))
	}
}
