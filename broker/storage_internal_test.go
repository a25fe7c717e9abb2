package broker

import "testing"

// TestReportedStream: the server's two kinds of write error line name
// their stream differently; both are found, so that only that topic's
// waiting appends are told the outcome is unknown.
func TestReportedStream(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"Filestore [flights] Critical write error: write /d/log/jetstream/$G/streams/flights/msgs/5.blk: no space left on device", "flights"},
		{"JetStream failed to store a msg on stream '$G > bookings': write x: no space left on device", "bookings"},
		{"JetStream stream '$G > assist' critical write error: no space left on device", "assist"},
		{"something else: no space left on device", ""},
	} {
		if got := reportedStream(tc.msg); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.msg, got, tc.want)
		}
		if !isWriteErrorReport(tc.msg) {
			t.Errorf("%q not taken for a write error", tc.msg)
		}
	}
	if isWriteErrorReport("Starting JetStream") {
		t.Error("a notice taken for a write error")
	}
}
