package inference_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/inference"
)

// MustRunOllama makes sure the local Ollama server answers and has the
// models (scripts/ollama.sh, scripts/setup-models.sh; both idempotent) and
// returns its base URL.
func MustRunOllama(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs the local Ollama server")
	}
	out, err := exec.Command("../scripts/ollama.sh", "start").Output()
	if err != nil {
		tb.Fatalf("scripts/ollama.sh start: %v", err)
	}
	if err := exec.Command("../scripts/setup-models.sh").Run(); err != nil {
		tb.Fatalf("scripts/setup-models.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func MustOpenClient(tb testing.TB, url string) *inference.Client {
	tb.Helper()
	// The suite's other packages share this Ollama (go test runs them at
	// once): a call may queue behind theirs. These tests check what comes
	// back, not how fast, so the deadline only catches a server that hangs.
	c := &inference.Client{BaseURL: url, EmbedModel: inference.DefaultEmbedModel, Timeout: 3 * time.Minute}
	if err := c.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestEmbedBatchesThroughTheRealModel(t *testing.T) {
	c := MustOpenClient(t, MustRunOllama(t))
	ctx := context.Background()
	m, err := c.Model(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Dim != 384 || len(m.Digest) < 12 || m.Name != inference.DefaultEmbedModel {
		t.Fatalf("model = %+v", m)
	}
	// More inputs than one call takes: split in batches, order kept.
	texts := make([]string, 150)
	for i := range texts {
		texts[i] = fmt.Sprintf("Flight LH%d from Frankfurt to gate A%d", 100+i, i)
	}
	texts[149] = "Hotel vouchers for passengers stranded overnight"
	start := time.Now()
	vs, err := c.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("embedded %d texts in %s (%.0f/s)", len(texts), time.Since(start).Round(time.Millisecond), float64(len(texts))/time.Since(start).Seconds())
	if len(vs) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(vs), len(texts))
	}
	for i, v := range vs {
		if len(v) != 384 {
			t.Fatalf("vector %d has %d dimensions", i, len(v))
		}
		if n := norm(v); math.Abs(n-1) > 1e-3 {
			t.Fatalf("vector %d has norm %f, want normalised", i, n)
		}
	}
	one, err := c.Embed(ctx, []string{texts[149]})
	if err != nil {
		t.Fatal(err)
	}
	if d := cosine(one[0], vs[149]); d < 0.999 {
		t.Fatalf("the same text alone and in a batch differ: cosine %f", d)
	}
	// Meaning, not spelling: the paraphrase is nearer than a flight text.
	q, err := c.Embed(ctx, []string{"where do stranded travellers sleep when the flight is cancelled at night"})
	if err != nil {
		t.Fatal(err)
	}
	if cosine(q[0], vs[149]) <= cosine(q[0], vs[0]) {
		t.Fatalf("paraphrase not nearest: hotel %f, flight %f", cosine(q[0], vs[149]), cosine(q[0], vs[0]))
	}
	if err := c.Health(ctx); err != nil {
		t.Fatalf("health: %v", err)
	}
}

func TestMissingModelSaysHowToFixIt(t *testing.T) {
	url := MustRunOllama(t)
	c := &inference.Client{BaseURL: url, EmbedModel: "no-such-model:v1"}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"model":  func() error { _, err := c.Model(ctx); return err }(),
		"embed":  func() error { _, err := c.Embed(ctx, []string{"x"}); return err }(),
		"health": c.Health(ctx),
	} {
		if app.ErrorCode(err) != app.ENOTFOUND || !strings.Contains(app.ErrorMessage(err), "scripts/setup-models.sh") {
			t.Errorf("%s: %v (code %s)", name, err, app.ErrorCode(err))
		}
	}
}

func TestUnreachableServerIsUnavailable(t *testing.T) {
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := &inference.Client{BaseURL: "http://" + addr, Retries: 2, RetryMin: 10 * time.Millisecond, Timeout: 2 * time.Second}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Embed(context.Background(), []string{"a", "b"})
	if app.ErrorCode(err) != app.EUNAVAILABLE {
		t.Fatalf("embed: %v (code %s)", err, app.ErrorCode(err))
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("gave up only after %s", time.Since(start))
	}
	if err := c.Health(context.Background()); app.ErrorCode(err) != app.EUNAVAILABLE {
		t.Fatalf("health: %v", err)
	}
	if _, err := c.ModelInfo(context.Background(), "all-minilm:l6-v2"); app.ErrorCode(err) != app.EUNAVAILABLE {
		t.Fatalf("model info: %v", err)
	}
	// A cancelled caller gets its own error back, not a retry loop.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Embed(ctx, []string{"a"}); err == nil {
		t.Fatal("embed with a cancelled context succeeded")
	}
	bad := &inference.Client{BaseURL: "ftp://x"}
	if err := bad.Open(); app.ErrorCode(err) != app.EINVALID {
		t.Fatalf("bad url: %v", err)
	}
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s / (norm(a) * norm(b))
}
