package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
)

// runCluster dispatches `apron cluster SUBCOMMAND`.
func runCluster(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return app.Errorf(app.EINVALID, "cluster: want a subcommand: status")
	}
	if args[0] != "status" {
		return app.Errorf(app.EINVALID, "cluster: unknown subcommand %q: the one subcommand is status (apron cluster status --token T)", args[0])
	}
	return runClusterStatus(ctx, args[1:])
}

// runClusterStatus asks the running node for its view of the cluster.
func runClusterStatus(ctx context.Context, args []string) error {
	var token *string
	var asJSON *bool
	cfg, _, err := node.LoadConfigWithFlags("cluster status", args, func(fs *flag.FlagSet) {
		token = fs.String("token", os.Getenv("APRON_TOKEN"), "API token of a viewer or above (env APRON_TOKEN)")
		asJSON = fs.Bool("json", false, "print the node's answer as JSON")
	})
	if err != nil {
		return err
	}
	if *token == "" {
		return app.Errorf(app.EINVALID, "token: required (--token or APRON_TOKEN: apron token add --role viewer NAME)")
	}
	body, err := callNode(ctx, http.MethodGet, nodeURL(cfg)+"/api/v1/cluster", *token, nil)
	if err != nil {
		return fmt.Errorf("cluster status: %w", err)
	}
	if *asJSON {
		_, err := os.Stdout.Write(body)
		return err
	}
	var st node.ClusterState
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("cluster status: the node's answer: %w", err)
	}
	printClusterStatus(st)
	return nil
}

func printClusterStatus(st node.ClusterState) {
	if !st.Clustered {
		fmt.Println("a single node: one replica per topic; the singletons run here")
		return
	}
	fmt.Printf("cluster %s, this node %s, %d replicas per topic, routes to %s (%d of %d peers)\n",
		st.Name, st.Node, st.Replicas, strings.Join(st.Routes, ", "), len(st.Routes), len(st.Peers))
	if st.Error != "" {
		fmt.Printf("not all was readable: %s\n", st.Error)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SINGLETON\tRUNS ON")
	for _, d := range st.Singletons {
		h := d.Holder
		if h == "" {
			h = "none (lease free)"
		}
		fmt.Fprintf(w, "%s\t%s\n", d.Name, h)
	}
	fmt.Fprintln(w, "\nTOPIC\tLEADER\tLAST\tFOLLOWERS")
	for _, t := range st.Topics {
		var fs []string
		for _, f := range t.Followers {
			switch {
			case f.Offline:
				fs = append(fs, f.Node+" offline")
			case f.Current:
				fs = append(fs, f.Node+" current")
			default:
				fs = append(fs, fmt.Sprintf("%s %d behind", f.Node, f.Lag))
			}
		}
		leader := t.Leader
		if leader == "" {
			leader = "none (no quorum, or electing)"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", t.Topic, leader, t.LastOffset, strings.Join(fs, ", "))
	}
	fmt.Fprintf(w, "\nSTATE ON %s\tAPPLIED\tLAST\tBEHIND\n", st.Node)
	for _, l := range st.StateLag {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\n", l.Topic, l.Applied, l.LastOffset, l.Behind)
	}
	fmt.Fprintln(w, "\nNODE\tREPORTED\tBEHIND (MOST)\tPER TOPIC")
	for _, n := range st.Nodes {
		at := fmt.Sprintf("%d s ago", n.AgeSeconds)
		if n.Node == st.Node {
			at = "now (this node)"
		}
		var per []string
		for _, l := range n.StateLag {
			per = append(per, fmt.Sprintf("%s %d", l.Topic, l.Behind))
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", n.Node, at, n.Behind(), strings.Join(per, ", "))
	}
	_ = w.Flush()
}
