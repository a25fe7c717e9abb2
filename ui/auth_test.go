package ui

import (
	"fmt"
	"testing"
	"time"
)

func TestSafeNextStaysOnSite(t *testing.T) {
	for next, want := range map[string]string{
		"/flights/LH400":    "/flights/LH400",
		"/board?x=1":        "/board?x=1",
		"":                  "/",
		"https://evil.com":  "/",
		"//evil.com":        "/",
		"/\\evil.com":       "/",
		"/%09/host/x":       "/",
		"/\t/host/x":        "/",
		"/%2F/host":         "/",
		"/%5Chost":          "/",
		"/%0d%0aSet-Cookie": "/",
		"/%zz":              "/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

func TestThrottleStaysBounded(t *testing.T) {
	var th throttle
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for i := 0; i < 3*throttleKeys; i++ {
		th.fail([]string{fmt.Sprintf("user:u%d", i), "ip:10.0.0.1"}, now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(th.failures); n > throttleKeys {
		t.Fatalf("throttle holds %d keys, more than %d", n, throttleKeys)
	}
	if !th.blocked([]string{"ip:10.0.0.1"}, now.Add(time.Minute)) {
		t.Fatal("the busy address was evicted instead of the old names")
	}
}
