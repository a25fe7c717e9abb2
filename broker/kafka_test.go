package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaNode is a real single-node Kafka broker started by scripts/kafka.sh
// on a temp dir. It is killed when the test ends.
type KafkaNode struct {
	Dir    string
	Addr   string
	script string
}

// MustRunKafka starts a Kafka broker of tb's own, for tests that kill it.
// The bridge tests need a real one, so a missing Java or script fails the
// test instead of skipping it; only `go test -short` skips.
func MustRunKafka(tb testing.TB) *KafkaNode {
	tb.Helper()
	script := kafkaScript(tb)
	k := &KafkaNode{Dir: tb.TempDir(), script: script}
	tb.Cleanup(func() { _, _ = k.run("kill") })
	k.Start(tb)
	return k
}

var shared struct {
	once sync.Once
	k    *KafkaNode
	err  error
}

// SharedKafka returns the package's Kafka broker, started on first use
// and killed by TestMain. Tests on it must use topics and groups of their
// own (see uniqueSite) and must not stop it.
func SharedKafka(tb testing.TB) *KafkaNode {
	tb.Helper()
	script := kafkaScript(tb)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "apron-kafka-")
		if err != nil {
			shared.err = err
			return
		}
		k := &KafkaNode{Dir: dir, script: script}
		out, err := k.run("start")
		if err != nil {
			shared.err = err
			_, _ = k.run("kill")
			_ = os.RemoveAll(dir)
			return
		}
		lines := strings.Split(out, "\n")
		k.Addr = strings.TrimSpace(lines[len(lines)-1])
		shared.k = k
	})
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.k
}

func TestMain(m *testing.M) {
	code := m.Run()
	if k := shared.k; k != nil {
		_, _ = k.run("kill")
		_ = os.RemoveAll(k.Dir)
	}
	os.Exit(code)
}

// kafkaScript returns the path of scripts/kafka.sh after checking what it
// needs; it skips only under -short.
func kafkaScript(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs a real Kafka broker (scripts/kafka.sh); skipped with -short")
	}
	script, err := filepath.Abs(filepath.Join("..", "scripts", "kafka.sh"))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(script); err != nil {
		tb.Fatalf("bridge tests need %s to start a real Kafka: %v", script, err)
	}
	for _, bin := range []string{"java", "kcat"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Fatalf("bridge tests start a real Kafka with scripts/kafka.sh, which needs %s on PATH (scripts/setup.sh installs it; go test -short skips these tests)", bin)
		}
	}
	return script
}

func (k *KafkaNode) run(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(k.script, append(args, k.Dir)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = os.Environ()
	if k.Addr == "" {
		cmd.Env = append(cmd.Env, "KAFKA_PORT=0", "KAFKA_CONTROLLER_PORT=0")
	} else {
		// A restart keeps the ports so that clients find it again.
		port, cport := k.ports()
		cmd.Env = append(cmd.Env, "KAFKA_PORT="+port, "KAFKA_CONTROLLER_PORT="+cport)
	}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kafka.sh %s: %v\n%s", args[0], err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

var listenersLine = regexp.MustCompile(`(?m)^listeners=PLAINTEXT://[^:]+:(\d+),CONTROLLER://[^:]+:(\d+)$`)

func (k *KafkaNode) ports() (port, cport string) {
	b, _ := os.ReadFile(filepath.Join(k.Dir, "server.properties"))
	m := listenersLine.FindSubmatch(b)
	if m == nil {
		return "0", "0"
	}
	return string(m[1]), string(m[2])
}

// Start starts the broker, or restarts it on its data after Kill.
func (k *KafkaNode) Start(tb testing.TB) {
	tb.Helper()
	out, err := k.run("start")
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	addr := strings.TrimSpace(lines[len(lines)-1])
	if k.Addr != "" && addr != k.Addr {
		tb.Fatalf("kafka restarted on %s, was %s", addr, k.Addr)
	}
	k.Addr = addr
}

// Kill stops the broker with SIGKILL; its data stays for Start.
func (k *KafkaNode) Kill(tb testing.TB) {
	tb.Helper()
	if _, err := k.run("kill"); err != nil {
		tb.Fatal(err)
	}
}

// Client returns a franz-go client on k, closed when the test ends.
func (k *KafkaNode) Client(tb testing.TB, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Addr)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// CreateTopics creates topics with the given number of partitions.
func (k *KafkaNode) CreateTopics(tb testing.TB, partitions int32, topics ...string) {
	tb.Helper()
	adm := kadm.NewClient(k.Client(tb))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := adm.CreateTopics(ctx, partitions, 1, nil, topics...)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			tb.Fatalf("create topic %s: %v", r.Topic, r.Err)
		}
	}
}

// ReadAll consumes topic from the start until want records arrived or d
// passed, and returns what it read.
func (k *KafkaNode) ReadAll(tb testing.TB, topic string, want int, d time.Duration) []*kgo.Record {
	tb.Helper()
	cl := k.Client(tb, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(d)
	for len(out) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				tb.Logf("read %s[%d]: %v", t, p, err)
			}
		})
		out = append(out, fs.Records()...)
	}
	return out
}

// checkFor calls f until it returns nil or d passes, then fails with its
// last error.
func checkFor(tb testing.TB, d time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(d)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
