package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

func runOffers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	help := `Usage:
  kith offers grant CODE FILE --channel CHANNEL [--campaign NAME] [--url URL]

Grants offer CODE to every person listed in FILE through a running Kith, with
a progress bar, and prints how many were granted and why the others were not,
by line. FILE has one person per line: a profile id (prf_…) or an identifier
as type:value (email:ann@example.com, phone:+14155550101, user_id:u-42,
loyalty_id:L-9). Blank lines and lines starting with # are skipped.

The API key comes from KITH_API_KEY (admin scope). A person already holding
as many grants as the offer allows is refused, so running it again after an
interruption grants only the rest.
`
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, help)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return nil
	}
	if args[0] != "grant" {
		fmt.Fprint(stderr, help)
		return usageError{fmt.Sprintf("unknown offers command %q", args[0])}
	}
	fs := flag.NewFlagSet("kith offers grant", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, help+"\nFlags:\n"); fs.PrintDefaults() }
	channel := fs.String("channel", "", "the channel that promised the offer: "+kindNames())
	campaign := fs.String("campaign", "", "the campaign it belongs to")
	base := fs.String("url", "http://127.0.0.1:8080", "the Kith server")
	chunk := fs.Int("chunk", 1000, "people per request")
	quiet := fs.Bool("quiet", false, "no progress bar")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"kith offers grant needs an offer code and a file"}
	}
	if _, err := kith.ParseKind(*channel); err != nil {
		return usageError{"--channel: " + kith.ErrorMessage(err)}
	}
	key := os.Getenv("KITH_API_KEY")
	if key == "" {
		return usageError{"set KITH_API_KEY to an API key with the admin scope"}
	}
	if *chunk < 1 || *chunk > 50000 {
		return usageError{"--chunk is from 1 to 50000"}
	}
	g := &bulkGrant{api: &apiClient{base: strings.TrimRight(*base, "/"), key: key, hc: &http.Client{Timeout: 5 * time.Minute}},
		code: pos[0], channel: *channel, campaign: *campaign}
	total, err := countPeople(pos[1])
	if err != nil {
		return err
	}
	var bar *progressBar
	if !*quiet {
		bar = newProgressBar(stderr, "grant "+pos[0], "people", total)
	}
	err = g.run(ctx, pos[1], *chunk, func(done int) {
		if bar != nil {
			bar.set(done)
		}
	})
	if bar != nil {
		bar.finish()
	}
	fmt.Fprintf(stdout, "granted  %d\nrefused  %d\n", g.granted, g.refused)
	for _, r := range g.refusals {
		fmt.Fprintf(stdout, "line %d: %s\n", r.line, r.reason)
	}
	if g.refused > len(g.refusals) {
		fmt.Fprintf(stdout, "(%d more refusals not shown)\n", g.refused-len(g.refusals))
	}
	return err
}

// countPeople counts the people a list names, for the progress bar.
func countPeople(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n, sc.Err()
}

// bulkGrant sends a list to POST /v1/offers/{code}/grants a chunk at a time.
type bulkGrant struct {
	api                     *apiClient
	code, channel, campaign string
	granted, refused        int
	refusals                []lineRefusal
}

type lineRefusal struct {
	line   int
	reason string
}

func (g *bulkGrant) run(ctx context.Context, path string, chunk int, progress func(done int)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var idLines, profileLines []int
	var ids []kith.Identifier
	var profileIDs []string
	lineNo, done := 0, 0
	flush := func() error {
		if len(profileIDs)+len(ids) == 0 {
			return nil
		}
		// The server lists refusals by position: profiles first, then identifiers.
		lines := append(append([]int(nil), profileLines...), idLines...)
		if err := g.send(ctx, profileIDs, ids, lines); err != nil {
			return err
		}
		done += len(lines)
		progress(done)
		profileIDs, ids, profileLines, idLines = nil, nil, nil, nil
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "prf_") {
			profileIDs, profileLines = append(profileIDs, line), append(profileLines, lineNo)
		} else {
			typ, value, ok := strings.Cut(line, ":")
			if !ok || typ == "" || value == "" {
				g.refuse(lineNo, fmt.Sprintf("%q is neither a profile id nor type:value", line))
				done++
				continue
			}
			ids, idLines = append(ids, kith.Identifier{Type: strings.TrimSpace(typ), Value: strings.TrimSpace(value)}), append(idLines, lineNo)
		}
		if len(profileIDs)+len(ids) >= chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: line %d: %w", path, lineNo+1, err)
	}
	return flush()
}

func (g *bulkGrant) refuse(line int, reason string) {
	g.refused++
	if len(g.refusals) < 20 {
		g.refusals = append(g.refusals, lineRefusal{line, reason})
	}
}

func (g *bulkGrant) send(ctx context.Context, profiles []string, ids []kith.Identifier, lines []int) error {
	body, err := json.Marshal(map[string]any{"profiles": profiles, "identifiers": ids, "channel": g.channel, "campaign": g.campaign})
	if err != nil {
		return err
	}
	var out struct {
		Granted  int `json:"granted"`
		Refused  int `json:"refused"`
		Refusals []struct {
			Index  int    `json:"index"`
			Reason string `json:"reason"`
		} `json:"refusals"`
	}
	if err := g.api.do(ctx, http.MethodPost, "/v1/offers/"+url.PathEscape(g.code)+"/grants", body, &out); err != nil {
		return fmt.Errorf("grant %s: %w", g.code, err)
	}
	g.granted += out.Granted
	for _, r := range out.Refusals {
		line := 0
		if r.Index >= 0 && r.Index < len(lines) {
			line = lines[r.Index]
		}
		g.refuse(line, r.Reason)
	}
	g.refused += out.Refused - len(out.Refusals)
	return nil
}
