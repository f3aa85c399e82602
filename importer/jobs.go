package importer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/kithhq/kith"
)

// Job states.
const (
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// MaxJobs is how many jobs Jobs remembers; the oldest finished ones are
// forgotten, with their files, beyond it.
const MaxJobs = 200

// JobStatus is what an import job has done so far.
type JobStatus struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	Source     string     `json:"source"`
	File       string     `json:"file,omitempty"`
	Mapping    []string   `json:"map"`
	CreatedAt  time.Time  `json:"createdAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	Progress   Progress   `json:"progress"`
	Summary    *Summary   `json:"summary,omitempty"`
	Error      *JobError  `json:"error,omitempty"`
}

// JobError says why a job failed, as the API's errors do.
type JobError struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Jobs runs imports in the background for the API. Jobs live in this
// process's memory: a restart forgets them (their events stay in the log,
// and posting the file again resumes without duplicates).
type Jobs struct {
	svc      *Service
	dir      string
	maxBytes int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	jobs  map[string]*job
	order []string
}

type job struct {
	status  JobStatus
	file    string // the spooled upload
	rejects string // the rejects file
}

// NewJobs returns Jobs that spool uploads of at most maxBytes (0: no
// limit) to dir (empty: the system's temporary directory).
func NewJobs(svc *Service, dir string, maxBytes int64) *Jobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &Jobs{svc: svc, dir: dir, maxBytes: maxBytes, ctx: ctx, cancel: cancel, jobs: map[string]*job{}}
}

// MaxBytes is the largest file Start takes (0: no limit).
func (j *Jobs) MaxBytes() int64 { return j.maxBytes }

// ParseMapping reads --map style specs with the importer's identity rules.
func (j *Jobs) ParseMapping(specs []string) (Mapping, error) { return ParseMapping(specs, j.svc.ids) }

// Start spools body to disk, checks it as a whole (Check: a file that
// cannot be imported is refused here, before anything is written) and
// imports it in the background as the actor in ctx.
func (j *Jobs) Start(ctx context.Context, body io.Reader, opt Options) (JobStatus, error) {
	if opt.Source == nil {
		return JobStatus{}, kith.Invalid("source", "an import needs a source")
	}
	if opt.Source.Revoked() {
		return JobStatus{}, kith.Invalid("source", "source %q is revoked", opt.Source.Name)
	}
	if opt.Delimiter == 0 {
		opt.Delimiter = ','
	}
	f, err := os.CreateTemp(j.dir, "kith-import-*.csv")
	if err != nil {
		return JobStatus{}, fmt.Errorf("spool upload: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	src := body
	if j.maxBytes > 0 {
		src = io.LimitReader(body, j.maxBytes+1)
	}
	n, err := io.Copy(f, src)
	if err != nil {
		return JobStatus{}, kith.Invalid("file", "reading the upload: %v", err)
	}
	if j.maxBytes > 0 && n > j.maxBytes {
		return JobStatus{}, &kith.Error{Code: kith.ETOOLARGE, Field: "file", Message: fmt.Sprintf("the file is larger than %d bytes, the limit for uploads; import it with 'kith import' on the server", j.maxBytes)}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return JobStatus{}, err
	}
	if _, err := Check(f, opt.Mapping, opt.Delimiter); err != nil {
		return JobStatus{}, err
	}
	rf, err := os.CreateTemp(j.dir, "kith-import-*.rejects.csv")
	if err != nil {
		return JobStatus{}, fmt.Errorf("rejects file: %w", err)
	}
	keep = true
	specs := make([]string, len(opt.Mapping))
	for i, fl := range opt.Mapping {
		specs[i] = fl.String()
	}
	jb := &job{file: f.Name(), rejects: rf.Name(), status: JobStatus{ID: newJobID(), Status: JobRunning,
		Source: opt.Source.Name, File: opt.File, Mapping: specs, CreatedAt: time.Now().UTC()}}
	j.mu.Lock()
	j.jobs[jb.status.ID] = jb
	j.order = append(j.order, jb.status.ID)
	j.forget()
	st := jb.status
	j.mu.Unlock()

	actor, _ := kith.ActorFrom(ctx)
	opt.Rejects = rf
	opt.Progress = func(p Progress) {
		j.mu.Lock()
		jb.status.Progress = p
		j.mu.Unlock()
	}
	j.wg.Go(func() {
		defer f.Close()
		sum, err := j.svc.Run(kith.WithActor(j.ctx, actor), f, opt)
		if cerr := rf.Close(); cerr != nil && err == nil {
			err = cerr
		}
		now := time.Now().UTC()
		j.mu.Lock()
		defer j.mu.Unlock()
		jb.status.Summary, jb.status.FinishedAt, jb.status.Status = sum, &now, JobDone
		if err != nil {
			jb.status.Status = JobFailed
			jb.status.Error = &JobError{Code: kith.ErrorCode(err), Field: kith.ErrorField(err), Message: kith.ErrorMessage(err)}
			if errors.Is(err, context.Canceled) {
				jb.status.Error = &JobError{Code: kith.EUNAVAILABLE, Message: "the server stopped during the import; post the file again to finish it (rows already imported are skipped)"}
			}
		}
	})
	return st, nil
}

// forget drops the oldest finished jobs beyond MaxJobs; j.mu is held.
func (j *Jobs) forget() {
	for i := 0; len(j.jobs) > MaxJobs && i < len(j.order); {
		id := j.order[i]
		jb := j.jobs[id]
		if jb.status.Status == JobRunning {
			i++
			continue
		}
		os.Remove(jb.file)
		os.Remove(jb.rejects)
		delete(j.jobs, id)
		j.order = append(j.order[:i], j.order[i+1:]...)
	}
}

// Status returns a job's status; ENOTFOUND for an unknown id.
func (j *Jobs) Status(id string) (JobStatus, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jb, ok := j.jobs[id]
	if !ok {
		return JobStatus{}, kith.Errorf(kith.ENOTFOUND, "no import job %q on this node", id)
	}
	return jb.snapshot(), nil
}

// snapshot is a copy of the job's status that later progress leaves
// alone; the Jobs' mutex is held.
func (jb *job) snapshot() JobStatus {
	st := jb.status
	if st.Summary != nil {
		s := *st.Summary
		st.Summary = &s
	}
	return st
}

// List returns the jobs this node remembers, the newest first.
func (j *Jobs) List() []JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]JobStatus, 0, len(j.order))
	for i := len(j.order) - 1; i >= 0; i-- {
		out = append(out, j.jobs[j.order[i]].snapshot())
	}
	return out
}

// IdentifierTypes are the identifier types a mapping may name, in the
// identity config's order.
func (j *Jobs) IdentifierTypes() []string { return j.svc.ids.Types() }

// Rejects opens a finished job's rejects file (CSV: line, reason).
// ECONFLICT while the job runs.
func (j *Jobs) Rejects(id string) (io.ReadCloser, error) {
	st, err := j.Status(id)
	if err != nil {
		return nil, err
	}
	if st.Status == JobRunning {
		return nil, kith.Errorf(kith.ECONFLICT, "import job %s is still running; its rejects are ready when it is done", id)
	}
	j.mu.Lock()
	path := j.jobs[id].rejects
	j.mu.Unlock()
	return os.Open(path)
}

// Close stops running jobs, waits for them and removes their files.
func (j *Jobs) Close() {
	j.cancel()
	j.wg.Wait()
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, jb := range j.jobs {
		os.Remove(jb.file)
		os.Remove(jb.rejects)
	}
}

func newJobID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "imp_" + hex.EncodeToString(b)
}
