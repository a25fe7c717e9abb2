package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
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
	role, name, rest, err := splitRoleAndName(args[1:])
	if err != nil {
		return addArgs{}, err
	}
	cfg, _, err := node.LoadConfig(cmd, rest)
	if err != nil {
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
	if !app.ValidRole(role) {
		return "", "", nil, app.Errorf(app.EINVALID, "role: must be one of viewer, agent, supervisor, admin; got %q", role)
	}
	if name == "" {
		return "", "", nil, app.Errorf(app.EINVALID, "name: missing")
	}
	return role, name, rest, nil
}

// runUser implements `apron user add --role ROLE NAME`; the password is read
// from standard input so it never shows in the process list.
func runUser(ctx context.Context, args []string) error {
	a, err := parseAddArgs("user", args, "apron user add --role ROLE NAME < password")
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
	st, err := node.OpenStoreToProvision(a.cfg)
	if err != nil {
		return err
	}
	defer st.Close(ctx)
	if _, err := st.CreateUser(ctx, name, role, hash); err != nil {
		return err
	}
	fmt.Printf("added user %s (%s)\n", name, role)
	return nil
}

// runToken implements `apron token add --role ROLE NAME`; it prints the
// token once. Only its hash is stored.
func runToken(ctx context.Context, args []string) error {
	a, err := parseAddArgs("token", args, "apron token add --role ROLE NAME")
	if err != nil {
		return err
	}
	st, err := node.OpenStoreToProvision(a.cfg)
	if err != nil {
		return err
	}
	defer st.Close(ctx)
	secret := app.NewSecret("apron_")
	if _, err := st.CreateToken(ctx, a.name, a.role, app.HashSecret(secret), time.Now()); err != nil {
		return err
	}
	fmt.Println(secret)
	return nil
}
