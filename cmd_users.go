package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
	"github.com/apron-edge/apron/vectors"
)

// addArgs is what `apron user add` and `apron token add` take.
type addArgs struct {
	role, name string
	cfg        node.Config
}

// parseAddArgs parses "add --role ROLE NAME [node flags]" for the user and
// token commands; usage is the error for anything but add.
func parseAddArgs(cmd string, args []string, usage string) (addArgs, error) {
	if len(args) == 0 || args[0] != "add" {
		return addArgs{}, app.Errorf(app.EINVALID, "usage: %s", usage)
	}
	if wantsHelp(args[1:]) {
		_, _, err := node.LoadConfigWithFlags(cmd+" add", []string{"-h"}, func(fs *flag.FlagSet) {
			fs.String("role", "", "viewer, agent, supervisor or admin (required)")
		})
		return addArgs{}, err
	}
	role, name, rest, err := splitRoleAndName(args[1:])
	if err != nil {
		return addArgs{}, err
	}
	// The node flags first, so that a misspelt --role is named as an
	// unknown flag rather than reported as a missing role.
	cfg, _, err := node.LoadConfig(cmd+" add", rest)
	if err != nil {
		return addArgs{}, err
	}
	if err := validRoleAndName(role, name); err != nil {
		return addArgs{}, err
	}
	fmt.Fprintf(os.Stderr, "apron %s: data directory %s\n", cmd, cfg.AbsData())
	return addArgs{role: role, name: name, cfg: cfg}, nil
}

// splitRoleAndName takes "--role ROLE NAME" wherever the flags are.
func splitRoleAndName(args []string) (role, name string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--role" || a == "-role":
			if i+1 >= len(args) {
				return "", "", nil, app.Errorf(app.EINVALID, "role: missing value")
			}
			role = args[i+1]
			i++
		case strings.HasPrefix(a, "--role="):
			role = strings.TrimPrefix(a, "--role=")
		case strings.HasPrefix(a, "-"):
			rest = append(rest, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				rest = append(rest, args[i+1])
				i++
			}
		default:
			if name != "" {
				return "", "", nil, app.Errorf(app.EINVALID, "name: one name only, got %q and %q", name, a)
			}
			name = a
		}
	}
	return role, name, rest, nil
}

// validRoleAndName checks what splitRoleAndName found.
func validRoleAndName(role, name string) error {
	if role == "" {
		return app.Errorf(app.EINVALID, "role: missing (--role viewer|agent|supervisor|admin)")
	}
	if !app.ValidRole(role) {
		return app.Errorf(app.EINVALID, "role: must be one of viewer, agent, supervisor, admin; got %q", role)
	}
	if name == "" {
		return app.Errorf(app.EINVALID, "name: missing")
	}
	return nil
}

const (
	userUsage  = "apron user add --role ROLE NAME < password | apron user list [--json] | apron user remove NAME"
	tokenUsage = "apron token add --role ROLE NAME | apron token list [--json] | apron token revoke ID|NAME"
)

// wantsHelp reports whether args ask for the usage.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

// listArgs parses "[--json] [node flags]" of a list command.
func listArgs(name string, args []string) (node.Config, bool, error) {
	var asJSON *bool
	cfg, fs, err := node.LoadConfigWithFlags(name, args, func(fs *flag.FlagSet) {
		asJSON = fs.Bool("json", false, "print JSON for scripts instead of a table")
	})
	if err == nil && fs.NArg() > 0 {
		err = app.Errorf(app.EINVALID, "%s takes no arguments, got %q", name, fs.Args())
	}
	return cfg, err == nil && *asJSON, err
}

// targetArgs parses "NAME [node flags]" of a remove or revoke command.
func targetArgs(name string, args []string) (node.Config, string, error) {
	var target string
	var rest []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			rest = append(rest, args[i])
			if !strings.Contains(args[i], "=") && i+1 < len(args) && !wantsHelp(args[i:i+1]) {
				rest = append(rest, args[i+1])
				i++
			}
			continue
		}
		if target != "" {
			return node.Config{}, "", app.Errorf(app.EINVALID, "one name only, got %q and %q", target, args[i])
		}
		target = args[i]
	}
	cfg, _, err := node.LoadConfig(name, rest)
	if err == nil && target == "" {
		err = app.Errorf(app.EINVALID, "usage: apron %s NAME", name)
	}
	return cfg, target, err
}

// runList implements a list command: the rows fetch returns, as a table
// under header (tab-separated columns) or, with --json, as JSON.
func runList[T any](ctx context.Context, name string, args []string, fetch func(*vectors.Store, context.Context) ([]T, error), header string, row func(T) string) error {
	cfg, asJSON, err := listArgs(name, args)
	if err != nil {
		return err
	}
	st, err := node.OpenStoreOnly(cfg)
	if err != nil {
		return err
	}
	defer st.Close(ctx)
	rows, err := fetch(st, ctx)
	if err != nil {
		return err
	}
	if asJSON {
		if rows == nil {
			rows = []T{}
		}
		return printJSON(rows)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, row(r))
	}
	return tw.Flush()
}

// printJSON writes v indented to standard output.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// stamp is a time for a table: local, to the minute; "-" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// runUser implements `apron user add|list|remove`; the password of a new
// user is read from standard input so it never shows in the process list.
// A removed user is disabled, not deleted: the approvals they made keep
// naming them.
func runUser(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			fmt.Fprintln(os.Stderr, "usage: "+userUsage)
			return flag.ErrHelp
		case "list":
			return runList(ctx, "user list", args[1:], (*vectors.Store).Users,
				"ID\tNAME\tROLE\tSTATE\tCREATED", func(u *app.User) string {
					state := "active"
					if u.Disabled {
						state = "disabled"
					}
					return fmt.Sprintf("%d\t%s\t%s\t%s\t%s", u.ID, u.Name, u.Role, state, stamp(u.CreatedAt))
				})
		case "remove":
			cfg, name, err := targetArgs("user remove", args[1:])
			if err != nil {
				return err
			}
			acc, done, err := node.OpenAccounts(ctx, cfg)
			if err != nil {
				return err
			}
			defer done()
			u, _, err := acc.UserByName(ctx, name)
			if err != nil {
				return err
			}
			if err := acc.SetUserRole(ctx, u.ID, u.Role, true); err != nil {
				return err
			}
			fmt.Printf("disabled user %s: they can no longer sign in\n", name)
			return nil
		}
	}
	a, err := parseAddArgs("user", args, userUsage)
	if err != nil {
		return err
	}
	role, name := a.role, a.name
	fmt.Fprintf(os.Stderr, "password for %s: ", name)
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return app.Errorf(app.EINVALID, "password: read from standard input: %v", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if err := app.ValidateUser(name, role, password); err != nil {
		return err
	}
	hash, err := app.HashPassword(password)
	if err != nil {
		return err
	}
	acc, done, err := node.OpenAccounts(ctx, a.cfg)
	if err != nil {
		return err
	}
	defer done()
	if _, err := acc.CreateUser(ctx, name, role, hash); err != nil {
		return err
	}
	fmt.Printf("added user %s (%s)\n", name, role)
	return nil
}

// runToken implements `apron token add|list|revoke`; add prints the token
// once. Only its hash is stored.
func runToken(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			fmt.Fprintln(os.Stderr, "usage: "+tokenUsage)
			return flag.ErrHelp
		case "list":
			return runList(ctx, "token list", args[1:], (*vectors.Store).Tokens,
				"ID\tNAME\tROLE\tCREATED\tLAST USED\tREVOKED", func(t *app.APIToken) string {
					return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s", t.ID, t.Name, t.Role, stamp(t.CreatedAt), stamp(t.LastUsed), stamp(t.RevokedAt))
				})
		case "revoke":
			cfg, target, err := targetArgs("token revoke", args[1:])
			if err != nil {
				return err
			}
			acc, done, err := node.OpenAccounts(ctx, cfg)
			if err != nil {
				return err
			}
			defer done()
			tokens, err := acc.Tokens(ctx)
			if err != nil {
				return err
			}
			// By id, or by name when exactly one live token has it.
			var match []*app.APIToken
			for _, t := range tokens {
				if strconv.FormatInt(t.ID, 10) == target || t.Name == target && t.RevokedAt.IsZero() {
					match = append(match, t)
				}
			}
			switch len(match) {
			case 0:
				return app.Errorf(app.ENOTFOUND, "no live token with id or name %q (see apron token list)", target)
			case 1:
			default:
				return app.Errorf(app.ECONFLICT, "%d tokens are named %q: revoke one by its id (see apron token list)", len(match), target)
			}
			if err := acc.RevokeToken(ctx, match[0].ID, time.Now()); err != nil {
				return err
			}
			fmt.Printf("revoked token %d (%s)\n", match[0].ID, match[0].Name)
			return nil
		}
	}
	a, err := parseAddArgs("token", args, tokenUsage)
	if err != nil {
		return err
	}
	acc, done, err := node.OpenAccounts(ctx, a.cfg)
	if err != nil {
		return err
	}
	defer done()
	secret := app.NewSecret("apron_")
	if _, err := acc.CreateToken(ctx, a.name, a.role, app.HashSecret(secret), time.Now()); err != nil {
		return err
	}
	fmt.Println(secret)
	return nil
}
