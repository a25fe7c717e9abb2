package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apron-edge/apron/inference"
	"github.com/ollama/ollama/api"
)

// TestModelImportOffline creates a model in the real Ollama from the GGUF
// file that scripts/setup-models.sh assembled from PyPI, as an air-gapped
// site would, and sees it in the status.
func TestModelImportOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	cache := os.Getenv("APRON_CACHE")
	if cache == "" {
		cache = ".cache"
	}
	gguf := filepath.Join(cache, "models", "gemma3-270m", "gemma-3-270m-q4_k_m.gguf")
	if _, err := os.Stat(gguf); err != nil {
		t.Fatalf("the GGUF from scripts/setup-models.sh is missing: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := "apron-import-test:latest"
	if err := inference.Import(ctx, ollamaTestURL(), name, gguf, func(string) {}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ollamaTestURL())
	t.Cleanup(func() {
		_ = api.NewClient(u, http.DefaultClient).Delete(context.Background(), &api.DeleteRequest{Model: name})
	})
	sts, err := inference.Status(ctx, ollamaTestURL(), map[string]string{name: "chat", "no-such-model:1b": "embed"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		switch s.Name {
		case name:
			if !s.Present || s.Digest == "" {
				t.Fatalf("imported model: %+v", s)
			}
		default:
			if s.Present || s.Problem == "" {
				t.Fatalf("missing model: %+v", s)
			}
		}
	}
	if err := inference.Import(ctx, ollamaTestURL(), "x:1", filepath.Join(t.TempDir()), func(string) {}); err == nil {
		t.Fatal("an empty folder was imported")
	}
}
