package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/apron-edge/apron/node"
)

// runServe implements `apron serve` and `apron demo`: the node until a
// signal, with the simulated day played into its log in a demo.
func runServe(ctx context.Context, args []string, demo bool) error {
	name := "serve"
	if demo {
		name = "demo"
	}
	cfg, _, err := node.LoadConfig(name, args)
	if err != nil {
		return err
	}
	// The default is ./data; say which directory this is, before it is
	// created on a first start.
	fmt.Fprintf(os.Stderr, "apron %s: data directory %s\n", name, cfg.AbsData())
	logger := node.NewLogger(cfg.LogLevel)
	m := node.NewMain(cfg, logger)
	m.Version = version
	var demoDay *node.Demo
	if demo {
		demoDay = &node.Demo{Config: cfg, Logger: logger}
		if err := demoDay.Open(); err != nil {
			return err
		}
		m.Clock, m.Demo = demoDay.Clock.Now, true
	}
	if err := m.Open(ctx); err != nil {
		_ = m.Close(context.Background())
		return err
	}
	played := make(chan struct{})
	if demo {
		if err := startDemo(ctx, m, demoDay, played); err != nil {
			_ = m.Close(context.Background())
			return err
		}
	} else {
		close(played)
	}
	<-ctx.Done()
	logger.Info("shutting down")
	<-played // the demo's progress is saved before the log closes
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return m.Close(sctx)
}

// startDemo says how to log in and plays the simulated day into the
// node's log, on from where an earlier run stopped; played closes when
// the day's progress is saved after ctx ends.
func startDemo(ctx context.Context, m *node.Main, d *node.Demo, played chan<- struct{}) error {
	cfg := m.Config
	password, err := m.DemoAdmin(ctx, d.Resumed && !cfg.Demo.NewPassword)
	if err != nil {
		return err
	}
	fmt.Printf("apron demo: console at %s (simulated %s day at %gx speed)\n", m.HTTP.URL(), cfg.Hub, cfg.Demo.Speed)
	if d.Resumed {
		zone := m.HTTP.Zone
		fmt.Printf("apron demo: resuming the simulated day of %s at %s, %d of its %d events played\n", d.Day.Config.Date,
			d.ResumedAt().In(zone).Format("15:04:05 MST"), d.Played(), len(d.Day.Events))
	}
	if password != "" {
		fmt.Printf("apron demo: log in as \"admin\" with password %s\n", password)
	} else {
		fmt.Println("apron demo: log in as \"admin\" with the password printed when this data directory was first used (--new-password prints a new one)")
	}
	go func() {
		defer close(played)
		if err := d.Run(ctx, m.Broker); err != nil && ctx.Err() == nil {
			m.Logger.Error("simulation stopped", "err", err)
		}
	}()
	return nil
}

// runHealth implements `apron health [-ready]`: it asks the node running
// with this configuration (its http address, TLS or not) for /healthz,
// or /readyz with -ready, and fails unless the node answers 200. The
// container's HEALTHCHECK runs it: the image has no curl.
func runHealth(ctx context.Context, args []string) error {
	var ready *bool
	cfg, _, err := node.LoadConfigWithFlags("health", args, func(fs *flag.FlagSet) {
		ready = fs.Bool("ready", false, "ask /readyz (the state keeps up with the log) instead of /healthz (the node serves)")
	})
	if err != nil {
		return err
	}
	url, err := healthURL(cfg.HTTP, cfg.TLSCert != "", *ready)
	if err != nil {
		return err
	}
	// The node's own certificate need not name the loopback address.
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	client := &http.Client{Timeout: 4 * time.Second, Transport: tr}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("ask the node at %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Println(strings.TrimSpace(string(body)))
	return nil
}

// healthURL is where a local probe reaches the node listening on addr:
// a wildcard listen address is asked on the loopback.
func healthURL(addr string, useTLS, ready bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("http: %q is not host:port: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme, path := "http", "/healthz"
	if useTLS {
		scheme = "https"
	}
	if ready {
		path = "/readyz"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path, nil
}
