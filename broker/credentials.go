package broker

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats-server/v2/server"
)

// AppUser is the NATS user of site applications, whose password the node
// creates on first start in the credentials file.
const AppUser = "apron-app"

// Credentials is the content of the credentials file (mode 0600): what a
// site application uses to connect to the log's NATS port.
type Credentials struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// appPassword is the site applications' password in a cluster, the same
// on every node because it derives from the shared secret; "" on a single
// node.
func appPassword(secret []byte) string {
	if secret == nil {
		return ""
	}
	return hex.EncodeToString(derive(secret, "app"))[:32]
}

// loadCredentials reads path, or creates it with want as the password (a
// random one when want is ""). A file whose password is not want (a node
// that ran alone before joining a cluster) is refused.
func loadCredentials(path, want string) (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &c); err != nil || c.User == "" || len(c.Password) < 16 {
			return c, app.Errorf(app.EINVALID, "nats credentials %s are damaged; remove the file to create new ones (site applications then need the new password)", path)
		}
		if want != "" && c.Password != want {
			return c, app.Errorf(app.EINVALID, "nats credentials %s were made before this node joined the cluster; remove the file so that the cluster's are written (site applications then use the cluster's password, the same on every node)", path)
		}
		return c, nil
	} else if !os.IsNotExist(err) {
		return c, fmt.Errorf("read nats credentials: %w", err)
	}
	pass := want
	if pass == "" {
		if pass, err = randomToken(); err != nil {
			return c, err
		}
	}
	c = Credentials{User: AppUser, Password: pass}
	b, _ = json.MarshalIndent(c, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return c, fmt.Errorf("create credentials dir: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return c, fmt.Errorf("write nats credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return c, fmt.Errorf("write nats credentials: %w", err)
	}
	return c, nil
}

// appPermissions let a site application publish events to the state
// topics and assist requests, and read every topic (streams' info, direct
// gets, consumers of its own), but never administer the log: no stream
// create, update, delete or purge, no message deletes, no consumer
// deletes, no snapshots. What it publishes is validated by the stages that
// read it, and refused events go to the dead letters.
func appPermissions() *server.Permissions {
	pub := []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.*", "$JS.API.STREAM.MSG.GET.*",
		"$JS.API.DIRECT.GET.>",
		"$JS.API.CONSUMER.CREATE.>", "$JS.API.CONSUMER.DURABLE.CREATE.>", "$JS.API.CONSUMER.INFO.>",
		"$JS.API.CONSUMER.NAMES.*", "$JS.API.CONSUMER.LIST.*", "$JS.API.CONSUMER.MSG.NEXT.>",
		"$JS.ACK.>", "$JS.FC.>", "_INBOX.>",
	}
	for _, t := range app.StateTopics {
		pub = append(pub, t+".>")
	}
	pub = append(pub, app.TopicAssist+".>")
	sub := []string{"_INBOX.>"} // replies, and push consumers' deliver subjects
	for _, t := range app.Topics {
		sub = append(sub, t+".>")
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}
}
