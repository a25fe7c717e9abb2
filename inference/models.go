package inference

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/apron-edge/apron/app"
	"github.com/ollama/ollama/api"
)

// ModelStatus is one configured model as the Ollama server has it.
type ModelStatus struct {
	Name      string `json:"name"`
	Role      string `json:"role"` // chat or embed
	Present   bool   `json:"present"`
	Digest    string `json:"digest,omitempty"`
	SizeBytes int64  `json:"size_bytes,omitempty"`
	Problem   string `json:"problem,omitempty"`
}

// Status reports whether each named model is present on the server at
// baseURL. roles maps a model name to its role.
func Status(ctx context.Context, baseURL string, roles map[string]string) ([]ModelStatus, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return nil, app.Errorf(app.EINVALID, "ollama.url: %q is not a URL", baseURL)
	}
	list, err := api.NewClient(u, http.DefaultClient).List(ctx)
	if err != nil {
		return nil, app.Errorf(app.EUNAVAILABLE, "ollama at %s is not answering: %v (start it with scripts/ollama.sh start)", baseURL, err)
	}
	var out []ModelStatus
	for name, role := range roles {
		st := ModelStatus{Name: name, Role: role, Problem: "missing: run scripts/setup-models.sh, or apron model import --name " + name + " PATH"}
		for _, m := range list.Models {
			if m.Name == name || strings.TrimSuffix(m.Name, ":latest") == name {
				st = ModelStatus{Name: name, Role: role, Present: true, Digest: m.Digest, SizeBytes: m.Size}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// Import creates model name on the server from local files only: a GGUF
// file, or a Hugging Face style folder (config.json, tokenizer, safetensors)
// that the server converts. Nothing is downloaded: this is how an
// air-gapped site gets its models.
func Import(ctx context.Context, baseURL, name, path string, progress func(string)) error {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return app.Errorf(app.EINVALID, "ollama.url: %q is not a URL", baseURL)
	}
	if name == "" {
		return app.Errorf(app.EINVALID, "name: the model needs a name, e.g. gemma3:270m")
	}
	info, err := os.Stat(path)
	if err != nil {
		return app.Errorf(app.EINVALID, "path: %v", err)
	}
	c := api.NewClient(u, http.DefaultClient)
	files := map[string]string{}
	upload := func(rel, p string) error {
		digest, err := fileDigest(p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		progress("uploading " + rel)
		if err := c.CreateBlob(ctx, digest, f); err != nil {
			return app.Errorf(app.EUNAVAILABLE, "upload %s: %v", rel, err)
		}
		files[rel] = digest
		return nil
	}
	if !info.IsDir() {
		if !strings.HasSuffix(strings.ToLower(path), ".gguf") {
			return app.Errorf(app.EINVALID, "path: a file must be a .gguf model; give a folder for safetensors")
		}
		if err := upload(filepath.Base(path), path); err != nil {
			return err
		}
	} else {
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			ext := strings.ToLower(filepath.Ext(p))
			if ext != ".json" && ext != ".safetensors" && ext != ".txt" && ext != ".model" && ext != ".gguf" {
				return nil
			}
			rel, _ := filepath.Rel(path, p)
			return upload(filepath.ToSlash(rel), p)
		})
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return app.Errorf(app.EINVALID, "path: %s holds no model files (.gguf, .safetensors, config.json)", path)
		}
	}
	stream := true
	return c.Create(ctx, &api.CreateRequest{Model: name, Files: files, Stream: &stream}, func(r api.ProgressResponse) error {
		if r.Status != "" {
			progress(r.Status)
		}
		return nil
	})
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("sha256:%s", hex.EncodeToString(h.Sum(nil))), nil
}
