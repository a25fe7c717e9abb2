package node

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
)

func TestConfigFromEnvAndFlags(t *testing.T) {
	t.Setenv("APRON_DATA", "/tmp/from-env")
	t.Setenv("APRON_HTTP", "127.0.0.1:9999")
	cfg, _, err := LoadConfig("serve", []string{"--http", "127.0.0.1:7777", "--hub", "MUC"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data != "/tmp/from-env" || cfg.HTTP != "127.0.0.1:7777" || cfg.Hub != "MUC" {
		t.Fatalf("%+v", cfg)
	}
	for _, tt := range []struct {
		args  []string
		field string
	}{
		{[]string{"--hub", "Frankfurt"}, "hub"},
		{[]string{"--sync", "never"}, "nats.sync"},
		{[]string{"--nats", "0.0.0.0:4222"}, "nats.addr"},
		{[]string{"--tz", "Mars/Olympus"}, "time_zone"},
		{[]string{"--http", "nowhere"}, "http"},
	} {
		_, _, err := LoadConfig("serve", tt.args)
		if err == nil || !strings.HasPrefix(app.ErrorMessage(err), tt.field+":") {
			t.Errorf("%v: want error naming %s, got %v", tt.args, tt.field, err)
		}
	}
	f := filepath.Join(t.TempDir(), "apron.json")
	_ = os.WriteFile(f, []byte(`{"hub":"ZRH","nats":{"sync":"interval","sync_interval":"30s"}}`), 0o600)
	cfg, _, err = LoadConfig("serve", []string{"--config", f})
	if err != nil || cfg.Hub != "ZRH" || cfg.NATS.Sync != "interval" || time.Duration(cfg.NATS.SyncInterval) != 30*time.Second {
		t.Fatalf("config file: %+v %v", cfg, err)
	}
	for body, field := range map[string]string{
		`{"index":{"quantize":"int4"}}`:                      "index.quantize",
		`{"index":{"oversample":0}}`:                         "index.oversample",
		`{"index":{"shards":64}}`:                            "index.shards",
		`{"rebooking":{"mct":"0s"}}`:                         "rebooking.mct",
		`{"rebooking":{"window":"-1h"}}`:                     "rebooking.window",
		`{"rebooking":{"boarding_margin":"-5m"}}`:            "rebooking.boarding_margin",
		`{"rebooking":{"mct_by_airport":{"cph":"45m"}}}`:     "rebooking.mct_by_airport",
		`{"rebooking":{"mct_wchr_by_airport":{"FRA":"9h"}}}`: "rebooking.mct_wchr_by_airport.FRA",
		`{"rebooking":{"max_connection":"30m"}}`:             "rebooking.mct",
	} {
		_ = os.WriteFile(f, []byte(body), 0o600)
		if _, _, err := LoadConfig("serve", []string{"--config", f}); err == nil || !strings.HasPrefix(app.ErrorMessage(err), field+":") {
			t.Errorf("%s: want error naming %s, got %v", body, field, err)
		}
	}
	_ = os.WriteFile(f, []byte(`{"rebooking":{"mct_by_airport":{"CPH":"45m"},"mct_wchr_by_airport":{"FRA":"70m"},"boarding_margin":"25m","cabin_substitution":true}}`), 0o600)
	cfg, _, err = LoadConfig("serve", []string{"--config", f})
	if r := cfg.RebookRules(); err != nil || r.MCT("CPH", false) != 45*time.Minute || r.MCT("FRA", true) != 70*time.Minute || r.MCT("FRA", false) != time.Hour ||
		r.MCT("CPH", true) != 75*time.Minute || r.BoardingMargin != 25*time.Minute || !r.CabinSubstitution || r.Window != 24*time.Hour {
		t.Fatalf("rebooking rules from the file: %+v %v", r, err)
	}
	_ = os.WriteFile(f, []byte(`{"hubb":"ZRH"}`), 0o600)
	if _, _, err := LoadConfig("serve", []string{"--config", f}); err == nil || !strings.Contains(err.Error(), "hubb") {
		t.Fatalf("unknown field accepted: %v", err)
	}
}

func TestConfigSupervisedOllama(t *testing.T) {
	exe, _ := os.Executable()
	t.Setenv("APRON_DATA", "/srv/apron")
	t.Setenv("APRON_OLLAMA_SERVE", "true")
	t.Setenv("APRON_OLLAMA_BIN", exe)
	t.Setenv("APRON_OLLAMA_URL", "http://127.0.0.1:11500")
	cfg, _, err := LoadConfig("serve", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := cfg.OllamaServer(slog.New(slog.DiscardHandler))
	if !cfg.Ollama.Serve || srv.Binary != exe || srv.URL != "http://127.0.0.1:11500" || srv.ModelsDir != "/srv/apron/ollama/models" || srv.LogPath != "/srv/apron/ollama/serve.log" {
		t.Fatalf("from the environment: %+v %+v", cfg.Ollama, srv)
	}
	t.Setenv("APRON_OLLAMA_MODELS", "/models")
	if cfg, _, err := LoadConfig("serve", nil); err != nil || cfg.OllamaServer(nil).ModelsDir != "/models" {
		t.Fatalf("APRON_OLLAMA_MODELS: %+v %v", cfg.Ollama, err)
	}
	for _, tt := range []struct {
		env   map[string]string
		field string
	}{
		{map[string]string{"APRON_OLLAMA_URL": "http://0.0.0.0:11434"}, "ollama.url"},
		{map[string]string{"APRON_OLLAMA_URL": "http://10.1.2.3:11434"}, "ollama.url"},
		{map[string]string{"APRON_OLLAMA_URL": "https://127.0.0.1:11434"}, "ollama.url"},
		{map[string]string{"APRON_OLLAMA_URL": "http://127.0.0.1"}, "ollama.url"},
		{map[string]string{"APRON_OLLAMA_URL": ""}, "ollama.url"},
		{map[string]string{"APRON_OLLAMA_BIN": "/nonexistent/ollama"}, "ollama.binary"},
		{map[string]string{"APRON_OLLAMA_BIN": "no-such-ollama-in-path"}, "ollama.binary"},
		{map[string]string{"APRON_OLLAMA_BIN": ""}, "ollama.binary"},
		{map[string]string{"APRON_OLLAMA_SERVE": "maybe"}, "APRON_OLLAMA_SERVE"},
	} {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		_, _, err := LoadConfig("serve", nil)
		if err == nil || !strings.HasPrefix(app.ErrorMessage(err), tt.field+":") {
			t.Errorf("%v: want an error naming %s, got %v", tt.env, tt.field, err)
		}
		t.Setenv("APRON_OLLAMA_URL", "http://127.0.0.1:11500")
		t.Setenv("APRON_OLLAMA_BIN", exe)
		t.Setenv("APRON_OLLAMA_SERVE", "true")
	}
	// An external server may be anywhere; only a served one must be local.
	t.Setenv("APRON_OLLAMA_SERVE", "false")
	t.Setenv("APRON_OLLAMA_URL", "https://models.example:443")
	t.Setenv("APRON_OLLAMA_BIN", "/nonexistent/ollama")
	if _, _, err := LoadConfig("serve", nil); err != nil {
		t.Fatalf("external server: %v", err)
	}
	f := filepath.Join(t.TempDir(), "apron.json")
	_ = os.WriteFile(f, []byte(`{"ollama":{"url":"http://[::1]:11600","serve":true,"binary":"`+exe+`","models_dir":"/m"}}`), 0o600)
	os.Unsetenv("APRON_OLLAMA_SERVE")
	os.Unsetenv("APRON_OLLAMA_URL")
	os.Unsetenv("APRON_OLLAMA_BIN")
	os.Unsetenv("APRON_OLLAMA_MODELS")
	if cfg, _, err := LoadConfig("serve", []string{"--config", f}); err != nil || !cfg.Ollama.Serve || cfg.OllamaServer(nil).ModelsDir != "/m" {
		t.Fatalf("config file: %+v %v", cfg.Ollama, err)
	}
}

func TestValidateNamesMaxFutureSkew(t *testing.T) {
	c := DefaultConfig()
	c.MaxFutureSkew = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "max_future_skew") {
		t.Fatalf("want an error naming max_future_skew, got %v", err)
	}
}

func TestFreshnessBoundFromTheConfigFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "apron.json")
	_ = os.WriteFile(f, []byte(`{"freshness_bound":"2m"}`), 0o600)
	if cfg, _, err := LoadConfig("serve", []string{"--config", f}); err != nil || cfg.FreshnessBound != Duration(2*time.Minute) {
		t.Fatalf("freshness_bound 2m: %v %v", time.Duration(cfg.FreshnessBound), err)
	}
	if c := DefaultConfig(); c.FreshnessBound != Duration(30*time.Second) {
		t.Fatalf("default freshness_bound %v, want 30s", time.Duration(c.FreshnessBound))
	}
	_ = os.WriteFile(f, []byte(`{"freshness_bound":"500ms"}`), 0o600)
	if _, _, err := LoadConfig("serve", []string{"--config", f}); err == nil || !strings.Contains(err.Error(), "freshness_bound: must be at least 1s, got 500ms") {
		t.Fatalf("want an error naming freshness_bound, got %v", err)
	}
}

func TestConfigCluster(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "cluster.secret")
	_ = os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	short := filepath.Join(dir, "short.secret")
	_ = os.WriteFile(short, []byte("too short"), 0o600)
	cfg, _, err := LoadConfig("serve", []string{"--cluster", "fra", "--cluster-listen", "10.0.0.1:6222",
		"--peers", "10.0.0.1:6222,10.0.0.2:6222,10.0.0.3:6222", "--cluster-secret", secret})
	if err != nil {
		t.Fatal(err)
	}
	bc := cfg.BrokerConfig()
	if bc.Cluster.Replicas() != 3 || bc.Cluster.NodeName() != "10-0-0-1-6222" || len(bc.Cluster.OtherPeers()) != 2 {
		t.Fatalf("cluster from flags: %+v replicas %d", bc.Cluster, bc.Cluster.Replicas())
	}
	t.Setenv("APRON_CLUSTER", "fra")
	t.Setenv("APRON_CLUSTER_LISTEN", "10.0.0.1:6222")
	t.Setenv("APRON_CLUSTER_PEERS", "10.0.0.2:6222")
	t.Setenv("APRON_CLUSTER_SECRET_FILE", secret)
	if cfg, _, err := LoadConfig("serve", nil); err != nil || cfg.BrokerConfig().Cluster.Replicas() != 1 {
		t.Fatalf("two nodes from the environment keep one replica: %+v %v", cfg.Cluster, err)
	}
	for _, k := range []string{"APRON_CLUSTER", "APRON_CLUSTER_LISTEN", "APRON_CLUSTER_PEERS", "APRON_CLUSTER_SECRET_FILE"} {
		os.Unsetenv(k)
	}
	ok := `"name":"fra","listen":"10.0.0.1:6222","peers":["10.0.0.2:6222"],"secret_file":"` + secret + `"`
	f := filepath.Join(dir, "apron.json")
	for body, field := range map[string]string{
		`{"cluster":{"peers":["10.0.0.2:6222"]}}`:                             "cluster.name",
		`{"cluster":{` + ok + `,"name":"fr a"}}`:                              "cluster.name",
		`{"cluster":{` + ok + `,"node":"a/b"}}`:                               "cluster.node",
		`{"cluster":{` + ok + `,"listen":"nowhere"}}`:                         "cluster.listen",
		`{"cluster":{` + ok + `,"peers":["10.0.0.1:6222"]}}`:                  "cluster.peers",
		`{"cluster":{` + ok + `,"peers":["10.0.0.2:0"]}}`:                     "cluster.peers",
		`{"cluster":{` + ok + `,"peers":["10.0.0.2"]}}`:                       "cluster.peers",
		`{"cluster":{` + ok + `,"lease_ttl":"100ms"}}`:                        "cluster.lease_ttl",
		`{"cluster":{` + ok + `,"secret_file":""}}`:                           "cluster.secret_file",
		`{"cluster":{` + ok + `,"secret_file":"` + short + `"}}`:              "cluster.secret_file",
		`{"cluster":{` + ok + `,"secret_file":"` + dir + `/missing.secret"}}`: "cluster.secret_file",
	} {
		_ = os.WriteFile(f, []byte(body), 0o600)
		if _, _, err := LoadConfig("serve", []string{"--config", f}); err == nil || !strings.HasPrefix(app.ErrorMessage(err), field+":") {
			t.Errorf("%s: want error naming %s, got %v", body, field, err)
		}
	}
	if cfg := DefaultConfig(); cfg.BrokerConfig().Cluster.Replicas() != 1 || cfg.BrokerConfig().Cluster.NodeName() != "apron" {
		t.Fatalf("a single node by default: %+v", cfg.Cluster)
	}
}
