package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith/match"
)

const matchHelp = `Usage:
  kith match dedupe FILE.csv [flags]
  kith match link A.csv B.csv [flags]
  kith match eval --pairs PAIRS.csv --truth TRUTH.csv [flags]

Finds the records that are one person when no shared key says so: names
with typos, old addresses, birth dates with a digit wrong. Nothing is read
from or written to a store; run 'kith match COMMAND --help' for each.

The matcher is Fellegi–Sunter as Splink does it. Each field is compared in
graded levels (exact, one edit, Jaro–Winkler bands, same sound, swapped
given and family names, birth dates with transposed digits or day and month
exchanged); blocking rules choose which pairs to compare; the model's
parameters are learned from the file itself by expectation–maximisation,
with no labels. A pair's match probability comes from the weights of its
fields' levels, exact agreements on common values weighing less.
`

const matchDedupeHelp = `Usage: kith match dedupe FILE.csv [flags]

Finds the records of one file that are the same person. Writes the pairs
at or above --threshold as id_l,id_r,probability (id_l on the earlier
line), and with --clusters each record's cluster: the records joined
through those pairs.
` + matchInputHelp

const matchLinkHelp = `Usage: kith match link A.csv B.csv [flags]

Finds the records of A and B that are the same person; pairs within one
file are not compared. Writes the pairs at or above --threshold as
id_l,id_r,probability with id_l from A and id_r from B, and with
--clusters each record's cluster as id,cluster,file (file is A or B, since
the two files' ids may overlap).
` + matchInputHelp

const matchInputHelp = `
Files are CSV with a header row and an id column (unique within a file).
Columns named given_name, surname, street_number, address_1, address_2,
suburb, postcode, state, date_of_birth and soc_sec_id are read as those
fields; --map COLUMN=FIELD reads another column as a field (repeat it), and
--map COLUMN= ignores a column. Other columns are ignored, and the id is
never compared. Dates of birth are YYYYMMDD (other separators are dropped).

The default --threshold is the auto-merge threshold, %v: above it Kith
merges profiles without asking anyone. --candidates writes every compared
pair with its probability, for kith match eval to measure blocking recall
and the best threshold. A summary goes to standard error.

Flags:
`

const matchEvalHelp = `Usage: kith match eval --pairs PAIRS.csv --truth TRUTH.csv [flags]

Measures predicted pairs against the truth and prints

  precision=… recall=… f1=… bcubed_f1=…

Precision, recall and F1 are pairwise, after clustering: the predicted
pairs are joined into clusters (connected components), every two records
of a cluster count as a predicted pair, and every two records of one true
person as a true pair. B-cubed F1 averages each record's cluster
precision and recall over all records, singletons included.

--pairs    id_l,id_r[,probability], as kith match dedupe and link write.
--truth    either id_l,id_r (every pair of records of one person) or
           id,entity (each record's person; any second column name).
--records  the records file, so that records in neither file count as
           singletons in B-cubed (the truth in id,entity form already has
           them).
--candidates  every compared pair, as kith match dedupe --candidates
           writes: also prints blocking_recall (the share of true pairs
           blocking compared at all; a pair it never compared cannot be
           found), and, with probabilities, best_f1 over all thresholds
           and the threshold that gives it.
--threshold  only pairs at or above this probability count.

Flags:
`

func runMatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, matchHelp)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return nil
	}
	switch args[0] {
	case "dedupe":
		return runMatchBatch(ctx, "dedupe", args[1:], stdout, stderr)
	case "link":
		return runMatchBatch(ctx, "link", args[1:], stdout, stderr)
	case "eval":
		return runMatchEval(args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, matchHelp)
	return usageError{fmt.Sprintf("unknown match command %q; use dedupe, link or eval", args[0])}
}

// columnMap turns --map specs into the columns each field is read from,
// starting from the default names.
func columnMap(specs []string) (cols map[string]match.Field, named []string, err error) {
	cols = match.DefaultColumns()
	for _, spec := range specs {
		col, field, ok := strings.Cut(spec, "=")
		col = strings.ToLower(strings.TrimSpace(col))
		if !ok || col == "" {
			return nil, nil, usageError{fmt.Sprintf("--map %q: want COLUMN=FIELD, e.g. --map first_name=given_name", spec)}
		}
		field = strings.TrimSpace(field)
		if field == "" {
			delete(cols, col)
			continue
		}
		f, ok := match.ParseField(field)
		if !ok {
			var all []string
			for _, f := range match.Fields() {
				all = append(all, f.String())
			}
			return nil, nil, usageError{fmt.Sprintf("--map %q: no field %q; fields are %s", spec, field, strings.Join(all, ", "))}
		}
		for c, g := range cols {
			if g == f {
				delete(cols, c) // one column per field: the named one replaces the default
			}
		}
		cols[col] = f
		named = append(named, col)
	}
	return cols, named, nil
}

func runMatchBatch(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kith match "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	help, files := matchDedupeHelp, 1
	if cmd == "link" {
		help, files = matchLinkHelp, 2
	}
	help = fmt.Sprintf(help, match.AutoMergeThreshold)
	fs.Usage = func() { fmt.Fprint(stderr, help); fs.PrintDefaults() }
	var maps mapFlag
	fs.Var(&maps, "map", "COLUMN=FIELD: read COLUMN as FIELD; COLUMN= ignores it; repeat for each column")
	threshold := fs.Float64("threshold", match.AutoMergeThreshold, "write pairs with at least this match probability (0 to 1)")
	out := fs.String("out", "", "write the pairs here (default standard output)")
	clustersPath := fs.String("clusters", "", "write each record's cluster here as id,cluster")
	candsPath := fs.String("candidates", "", "write every compared pair with its probability here")
	delim := fs.String("delimiter", ",", `field delimiter: one character, e.g. ";" or "\t"`)
	seed := fs.Uint64("seed", 1, "seed of the random pairs the model learns from")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if len(pos) != files {
		fs.Usage()
		if files == 1 {
			return usageError{fmt.Sprintf("match dedupe needs one file, got %d", len(pos))}
		}
		return usageError{fmt.Sprintf("match link needs two files, got %d", len(pos))}
	}
	if *threshold <= 0 || *threshold > 1 {
		return usageError{fmt.Sprintf("--threshold %v: want a probability above 0 and at most 1", *threshold)}
	}
	comma, err := parseDelimiter(*delim)
	if err != nil {
		return err
	}
	cols, named, err := columnMap(maps)
	if err != nil {
		return err
	}
	var sets [][]match.Record
	for _, path := range pos {
		recs, err := readPeople(path, match.CSVOptions{Columns: cols, Required: named, Comma: comma})
		if err != nil {
			return err
		}
		sets = append(sets, recs)
	}
	opts := match.Options{Threshold: *threshold, Seed: *seed, KeepCandidates: *candsPath != ""}
	start := time.Now()
	var res *match.Result
	if cmd == "link" {
		res, err = match.Link(ctx, sets[0], sets[1], opts)
	} else {
		res, err = match.Dedupe(ctx, sets[0], opts)
	}
	if err != nil {
		return err
	}
	ix := res.Matcher.Index()
	id := func(i int) string { return ix.Record(i).ID }

	if err := writeFile(*out, stdout, func(w io.Writer) error { return writePairs(w, res.Pairs, id) }); err != nil {
		return err
	}
	if *candsPath != "" {
		if err := writeFile(*candsPath, nil, func(w io.Writer) error { return writePairs(w, res.Candidates, id) }); err != nil {
			return err
		}
	}
	clusters := 0
	if *clustersPath != "" {
		err := writeFile(*clustersPath, nil, func(w io.Writer) error {
			var err error
			clusters, err = writeClusters(w, res.Clusters, id, cmd == "link", len(sets[0]))
			return err
		})
		if err != nil {
			return err
		}
	}
	st := res.Stats
	fmt.Fprintf(stderr, "records %d, candidate pairs %d, pairs at or above %v: %d", st.Records, st.CandidatePairs, *threshold, len(res.Pairs))
	if *clustersPath != "" {
		fmt.Fprintf(stderr, ", clusters %d", clusters)
	}
	if st.Vetoed > 0 {
		fmt.Fprintf(stderr, ", kept apart as households %d", st.Vetoed)
	}
	if st.SkippedBlocks > 0 {
		fmt.Fprintf(stderr, ", blocks too large to compare %d (%d pairs)", st.SkippedBlocks, st.SkippedPairs)
	}
	fmt.Fprintf(stderr, "; took %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func readPeople(path string, opts match.CSVOptions) ([]match.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return match.ReadCSV(bufio.NewReaderSize(f, 1<<16), path, opts)
}

// writeFile writes to path, or to def when path is empty, and reports
// the first error of writing or closing.
func writeFile(path string, def io.Writer, write func(io.Writer) error) error {
	if path == "" {
		bw := bufio.NewWriter(def)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writePairs(w io.Writer, pairs []match.Pair, id func(int) string) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"id_l", "id_r", "probability"})
	for _, p := range pairs {
		cw.Write([]string{id(p.Left), id(p.Right), strconv.FormatFloat(p.Probability, 'f', 6, 64)})
	}
	cw.Flush()
	return cw.Error()
}

// writeClusters writes id,cluster rows, clusters numbered from 1 in the
// order their first record appears, and returns how many there are.
func writeClusters(w io.Writer, clusters []int, id func(int) string, link bool, left int) (int, error) {
	cw := csv.NewWriter(w)
	head := []string{"id", "cluster"}
	if link {
		head = append(head, "file")
	}
	cw.Write(head)
	num := make(map[int]int)
	for i, c := range clusters {
		k, ok := num[c]
		if !ok {
			k = len(num) + 1
			num[c] = k
		}
		row := []string{id(i), strconv.Itoa(k)}
		if link {
			row = append(row, map[bool]string{true: "A", false: "B"}[i < left])
		}
		cw.Write(row)
	}
	cw.Flush()
	return len(num), cw.Error()
}

func runMatchEval(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kith match eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, matchEvalHelp); fs.PrintDefaults() }
	pairsPath := fs.String("pairs", "", "predicted pairs: id_l,id_r[,probability]")
	truthPath := fs.String("truth", "", "true pairs (id_l,id_r) or each record's person (id,entity)")
	recordsPath := fs.String("records", "", "the records file, for singletons in B-cubed")
	candsPath := fs.String("candidates", "", "every compared pair, for blocking recall and the best threshold")
	threshold := fs.Float64("threshold", 0, "count only pairs with at least this probability")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if len(pos) != 0 {
		return usageError{fmt.Sprintf("match eval takes no arguments, got %q; see kith match eval --help", pos)}
	}
	if *pairsPath == "" || *truthPath == "" {
		fs.Usage()
		return usageError{"match eval needs --pairs and --truth"}
	}
	pred, truth := match.NewClustering(), match.NewClustering()
	if *recordsPath != "" {
		recs, err := readPeople(*recordsPath, match.CSVOptions{Columns: map[string]match.Field{}})
		if err != nil {
			return err
		}
		for _, r := range recs {
			pred.Add(r.ID)
			truth.Add(r.ID)
		}
	}
	pairs, err := readPairs(*pairsPath)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		pred.Add(p.Left)
		pred.Add(p.Right)
		if p.Probability >= *threshold {
			pred.Join(p.Left, p.Right)
		}
	}
	if err := readTruth(*truthPath, truth); err != nil {
		return err
	}
	s := match.Evaluate(pred, truth)
	fmt.Fprintf(stdout, "precision=%.4f recall=%.4f f1=%.4f bcubed_f1=%.4f\n", s.Precision, s.Recall, s.F1, s.BCubedF1)
	fmt.Fprintf(stdout, "predicted_pairs=%d true_pairs=%d correct_pairs=%d records=%d bcubed_precision=%.4f bcubed_recall=%.4f\n",
		s.PredictedPairs, s.TruePairs, s.CorrectPairs, s.Records, s.BCubedPrecision, s.BCubedRecall)
	if *candsPath != "" {
		cands, err := readPairs(*candsPath)
		if err != nil {
			return err
		}
		recall, found, total := match.BlockingRecall(cands, truth)
		fmt.Fprintf(stdout, "blocking_recall=%.4f true_pairs_compared=%d true_pairs=%d candidates=%d", recall, found, total, len(cands))
		if len(cands) > 0 && cands[0].Probability >= 0 {
			best, at := match.BestF1(cands, truth)
			fmt.Fprintf(stdout, " best_f1=%.4f best_threshold=%.6g", best, at)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

// readPairs reads id_l,id_r[,probability] rows; Probability is -1 where
// the file has none.
func readPairs(path string) ([]match.IDPair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<16))
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file: want a header id_l,id_r[,probability]", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	il, okl := col["id_l"]
	ir, okr := col["id_r"]
	ip, okp := col["probability"]
	if !okl || !okr {
		return nil, fmt.Errorf("%s:1: header %q lacks id_l and id_r", path, strings.Join(header, ","))
	}
	var out []match.IDPair
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %v", path, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		p := match.IDPair{Left: strings.TrimSpace(row[il]), Right: strings.TrimSpace(row[ir]), Probability: -1}
		if p.Left == "" || p.Right == "" {
			return nil, fmt.Errorf("%s:%d: empty id", path, line)
		}
		if okp {
			v, err := strconv.ParseFloat(strings.TrimSpace(row[ip]), 64)
			if err != nil || v < 0 || v > 1 {
				return nil, fmt.Errorf("%s:%d: probability %q: want a number from 0 to 1", path, line, row[ip])
			}
			p.Probability = v
		}
		out = append(out, p)
	}
}

// readTruth reads true pairs (id_l,id_r) or true clusters (id,entity) into
// c.
func readTruth(path string, c *match.Clustering) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	head, err := bufio.NewReader(f).ReadString('\n')
	f.Close()
	if err != nil && head == "" {
		return fmt.Errorf("%s: empty file: want a header id_l,id_r or id,entity", path)
	}
	cols := strings.Split(strings.ToLower(strings.TrimSpace(strings.TrimPrefix(head, "\ufeff"))), ",")
	if len(cols) >= 2 && strings.TrimSpace(cols[0]) == "id" {
		rf, err := os.Open(path)
		if err != nil {
			return err
		}
		defer rf.Close()
		r := csv.NewReader(bufio.NewReaderSize(rf, 1<<16))
		r.ReuseRecord = true
		first := map[string]string{} // entity → its first record
		for header := true; ; header = false {
			row, err := r.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				var pe *csv.ParseError
				if errors.As(err, &pe) {
					return fmt.Errorf("%s:%d: %v", path, pe.Line, pe.Err)
				}
				return fmt.Errorf("%s: %w", path, err)
			}
			if header {
				continue
			}
			line, _ := r.FieldPos(0)
			id, ent := strings.TrimSpace(row[0]), strings.TrimSpace(row[1])
			if id == "" || ent == "" {
				return fmt.Errorf("%s:%d: empty id or entity", path, line)
			}
			c.Add(id)
			if f, ok := first[ent]; ok {
				c.Join(f, id)
			} else {
				first[ent] = id
			}
		}
	}
	pairs, err := readPairs(path)
	if err != nil {
		return fmt.Errorf("%w (or give id,entity)", err)
	}
	for _, p := range pairs {
		c.Join(p.Left, p.Right)
	}
	return nil
}
