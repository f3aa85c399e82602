package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	"github.com/kithhq/kith/store/sqlite"
)

func roleNames() string {
	names := make([]string, len(kith.Roles))
	for i, r := range kith.Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// readPassword takes the password from the first line of stdin, or makes
// one up and says so.
func readPassword(stdin io.Reader, fromStdin bool, stdout io.Writer) (string, error) {
	if !fromStdin {
		pw := generatedPassword()
		fmt.Fprintf(stdout, "password: %s   (shown once; change it with 'kith users passwd')\n", pw)
		return pw, nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", usageError{"--password-stdin: no password on standard input"}
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func generatedPassword() string { return access.RandomPassword() }

func runUsers(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	help := `Usage:
  kith users add NAME --role ROLE [--password-stdin]   add a console user
  kith users list [--json]                             list users
  kith users role NAME ROLE                            change a user's role (signs the user out)
  kith users passwd NAME [--password-stdin]            set a new password (signs the user out)
  kith users disable NAME                              stop a user signing in (signs the user out)
  kith users enable NAME                               let a disabled user sign in again

Without --password-stdin, a random password is made up and printed once.
Roles: ` + roleNames() + `
  admin     everything: users, keys, sources, the audit log, undoing merges
  agent     searches customers and reads whole profiles
  marketer  reads whole profiles
  analyst   reads profiles by id with personal data hidden
Every change is recorded in the audit log. All commands take --data-dir DIR.
`
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, help)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return nil
	}
	sub := args[0]
	fs := flag.NewFlagSet("kith users "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, help+"\nFlags:\n"); fs.PrintDefaults() }
	resolve := configFlags(fs, false)
	role := fs.String("role", "", "role (add): "+roleNames())
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	asJSON := fs.Bool("json", false, "print JSON (list)")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	want := map[string]int{"add": 1, "list": 0, "role": 2, "passwd": 1, "disable": 1, "enable": 1}
	n, ok := want[sub]
	if !ok {
		return usageError{fmt.Sprintf("unknown users command %q; use add, list, role, passwd, disable or enable", sub)}
	}
	if len(pos) != n {
		return usageError{fmt.Sprintf("users %s takes %d argument(s), got %d; see kith users --help", sub, n, len(pos))}
	}
	cfg, err := resolve()
	if err != nil {
		return err
	}
	db, err := sqlite.Open(ctx, cfg.DataDir, sqlite.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	users := access.NewUsers(db, db, db)
	ctx = cliActor(ctx)
	switch sub {
	case "add":
		if *role == "" {
			return usageError{"users add needs --role (" + roleNames() + ")"}
		}
		if _, err := kith.ParseRole(*role); err != nil {
			return err
		}
		pw, err := readPassword(stdin, *pwStdin, stdout)
		if err != nil {
			return err
		}
		u, err := users.Add(ctx, pos[0], *role, pw)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added user %s (%s)\n", u.Name, u.Role)
	case "list":
		list, err := users.List(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			type userJSON struct {
				Name       string     `json:"name"`
				Role       kith.Role  `json:"role"`
				CreatedAt  time.Time  `json:"createdAt"`
				DisabledAt *time.Time `json:"disabledAt,omitempty"`
			}
			out := make([]userJSON, len(list))
			for i, u := range list {
				out[i] = userJSON{Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt}
				if u.Disabled() {
					t := u.DisabledAt
					out[i].DisabledAt = &t
				}
			}
			return printJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tSTATUS")
		for _, u := range list {
			st := "active"
			if u.Disabled() {
				st = "disabled " + u.DisabledAt.Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, u.CreatedAt.Format(time.DateTime), st)
		}
		return tw.Flush()
	case "role":
		u, err := users.SetRole(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is now %s\n", u.Name, u.Role)
	case "passwd":
		pw, err := readPassword(stdin, *pwStdin, stdout)
		if err != nil {
			return err
		}
		if _, err := users.SetPassword(ctx, pos[0], pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "changed the password of %s\n", pos[0])
	case "disable":
		if _, err := users.Disable(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "disabled %s\n", pos[0])
	case "enable":
		if _, err := users.Enable(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enabled %s\n", pos[0])
	}
	return nil
}
