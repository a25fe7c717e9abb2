package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/bench"
)

// steadyPoster posts small NDJSON requests of new flight events to one
// node until stopped, and records the ids of every request the node
// acknowledged. A refused or unanswered request (its node restarting) is
// counted and not retried: its events may or may not be stored.
type steadyPoster struct {
	mu     sync.Mutex
	acked  map[string]bool
	ok     atomic.Int64
	failed atomic.Int64
	stop   chan struct{}
	done   chan struct{}
}

func postSteadily(pn *procNode) *steadyPoster {
	p := &steadyPoster{acked: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 45 * time.Second}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			default:
			}
			evs := bench.FlightEvents(10, fmt.Sprintf("%s-roll-%d", pn.name, i))
			var lines []string
			for _, e := range evs {
				lines = append(lines, string(e.Raw))
			}
			req, _ := http.NewRequest("POST", "http://"+pn.http+"/api/v1/topics/flights/events", bytes.NewReader([]byte(strings.Join(lines, "\n"))))
			req.Header.Set("Content-Type", "application/x-ndjson")
			req.Header.Set("Authorization", "Bearer "+pn.token)
			resp, err := client.Do(req)
			if err != nil {
				p.failed.Add(1)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			var body struct{ Results []app.AppendResult }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || len(body.Results) != len(evs) {
				p.failed.Add(1)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			p.mu.Lock()
			for _, e := range evs {
				p.acked[e.ID] = true
			}
			p.mu.Unlock()
			p.ok.Add(1)
		}
	}()
	return p
}

func acknowledged(ps []*steadyPoster) int64 {
	var n int64
	for _, p := range ps {
		n += p.ok.Load()
	}
	return n
}

// TestClusterRollingRestart restarts the three `apron serve` processes of
// a cluster one after another with SIGTERM while a client of every node
// keeps posting. While each node is down the other two keep
// acknowledging writes, the lease is held throughout by a node that is
// up, each restarted node catches up, and afterwards every acknowledged
// event is once in the log read through every node, each node's state
// equals a rebuild from the log (checked by the running node), and the
// nodes' states are equal.
func TestClusterRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three nodes as child processes")
	}
	bin := buildBinary(t)
	c := startProcCluster(t, bin, 3)
	var posters []*steadyPoster
	for _, pn := range c.nodes {
		posters = append(posters, postSteadily(pn))
	}
	stopPosters := func() {
		for _, p := range posters {
			select {
			case <-p.stop:
			default:
				close(p.stop)
			}
			<-p.done
		}
	}
	defer stopPosters()
	checkFor(t, 2*time.Minute, func() error {
		if n := acknowledged(posters); n < 30 {
			return fmt.Errorf("%d requests acknowledged before the restarts", n)
		}
		return nil
	})
	for _, pn := range c.nodes {
		start := time.Now()
		if err := pn.stop(); err != nil {
			t.Fatalf("%s: SIGTERM: %v", pn.name, err)
		}
		down := acknowledged(posters)
		// The site keeps taking writes through the two nodes that are up.
		checkFor(t, 2*time.Minute, func() error {
			if n := acknowledged(posters); n < down+20 {
				return fmt.Errorf("%d requests acknowledged since %s stopped", n-down, pn.name)
			}
			return nil
		})
		var up *procNode
		for _, o := range c.nodes {
			if o != pn {
				up = o
				break
			}
		}
		checkFor(t, 2*time.Minute, func() error {
			h, err := c.holder(up)
			if err == nil && (h == "" || h == pn.name) {
				err = fmt.Errorf("the lease is with %q while %s is down", h, pn.name)
			}
			return err
		})
		pn.start()
		checkFor(t, 2*time.Minute, func() error {
			_, err := c.status(pn)
			return err
		})
		t.Logf("%s stopped and back in %s; %d requests acknowledged so far", pn.name, time.Since(start).Round(time.Millisecond), acknowledged(posters))
	}
	stopPosters()

	acked := map[string]bool{}
	var failed int64
	for _, p := range posters {
		for id := range p.acked {
			acked[id] = true
		}
		failed += p.failed.Load()
	}
	// Every node has applied the whole flights topic, whatever its head
	// holds beyond what was acknowledged (a request cut by a stop).
	heads := map[uint64][]string{}
	var head uint64
	for _, pn := range c.nodes {
		checkFor(t, 2*time.Minute, func() error {
			h, err := flightsHead(pn)
			head = h
			return err
		})
		heads[head] = append(heads[head], pn.name)
	}
	if len(heads) != 1 {
		t.Fatalf("the nodes' flights heads differ: %v", heads)
	}
	for _, pn := range c.nodes {
		onceEach(t, pn, acked, countByID(t, pn, app.TopicFlights))
	}
	c.requireChecks(t, c.nodes)
	c.stopAll(t)
	c.requireEqualStates(t)
	t.Logf("%d events acknowledged through a rolling restart of three nodes (%d requests refused or cut while a node stopped); flights head %d on every node", len(acked), failed, head)
}
