package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/rosterhq/roster/internal/roster"
)

// clientFlags are the flags of the commands that talk to a running
// server. Where to connect and with which token may come from the
// environment (ROSTER_URL, ROSTER_TOKEN: a token in a variable stays out
// of ps); --db may not: a ROSTER_DB exported for serve must not turn an
// import into direct writes to that database.
type clientFlags struct {
	URL   string `name:"url" default:"http://localhost:8080" environ:"" placeholder:"URL" help:"Base URL of the roster server."`
	Token string `environ:"" placeholder:"JWT" help:"Bearer token with the admin role (see roster token)."`
	DB    string `name:"db" placeholder:"DB" help:"Work on this database directly instead of a server: a SQLite path, sqlite:PATH or postgres:// URL (migrated first). Flag only."`
}

func (c *clientFlags) check() error {
	if c.DB != "" {
		return nil // direct mode: no server, no token
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return usagef("invalid --url %q: want http(s)://host[:port]", c.URL)
	case c.Token == "":
		return usagef("--token (or ROSTER_TOKEN) is required")
	}
	c.URL = strings.TrimSuffix(c.URL, "/")
	return nil
}

// importFormats maps --format to the request's Content-Type.
var importFormats = map[string]string{"ndjson": "application/x-ndjson", "json": "application/json", "csv": "text/csv"}

// importCmd is "roster import FILE|-".
type importCmd struct {
	File     string      `arg:"" placeholder:"FILE|-" help:"The file to import; - reads stdin."`
	Client   clientFlags `embed:""`
	Mode     string      `default:"partial" placeholder:"MODE" help:"partial (good rows land, in batches) or atomic (all rows or none)."`
	Conflict string      `name:"on-conflict" default:"fail" placeholder:"ACTION" help:"For an existing email: fail (the row fails), skip, or update (its name)."`
	Format   string      `placeholder:"FORMAT" help:"ndjson, json or csv (default: from the file name's extension, else ndjson)."`
}

// Help is the detail of "roster import --help".
func (*importCmd) Help() string {
	return "Streams users from FILE (or stdin) to POST /api/users/import of a running server, or, with --db, straight into that database with the same readers and rules in this process: NDJSON (one {\"name\",\"email\"} per line), a JSON array, or CSV with a name,email header. Progress goes to stderr (a live line on a terminal), then the summary and every reported row error. Exits 1 when any row failed. With OTEL_EXPORTER_OTLP_ENDPOINT set (and the other OTEL_* variables serve reads; service.name roster-cli), the import is one OpenTelemetry trace: this command's span, sent to the server as a W3C traceparent, is the parent of the server's (docs/OPERATIONS.md)."
}

func (*importCmd) wantArgs() string { return "want one FILE or -" }

func (ic *importCmd) run(ctx context.Context, _ *flagSources, env environment) error {
	c, mode, conflict, form := &ic.Client, ic.Mode, ic.Conflict, ic.Format
	if err := c.check(); err != nil {
		return err
	}
	if mode != "partial" && mode != "atomic" {
		return usagef("invalid --mode %q: want partial or atomic", mode)
	}
	if conflict != "fail" && conflict != "skip" && conflict != "update" {
		return usagef("invalid --on-conflict %q: want fail, skip or update", conflict)
	}
	name := ic.File
	if form == "" {
		form = formatOf(name)
	}
	contentType, ok := importFormats[form]
	if !ok {
		return usagef("invalid --format %q: want ndjson, json or csv", form)
	}
	var (
		in   io.Reader = env.stdin
		size int64     = -1
	)
	if name != "-" {
		f, err := os.Open(name) // #nosec G304 G703 -- the operator names the file to import on the command line
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		in = f
	}
	ctx, span, err := startCLISpan(ctx, env, "roster import", c.DB != "")
	if err != nil {
		return err
	}
	p := startProgress(ctx, env.stderr, "sent", rowCounter(form), size)
	var res roster.ImportResult
	if c.DB != "" {
		opts := roster.ImportOptions{Atomic: mode == "atomic", OnConflict: roster.ConflictPolicy(conflict)}
		res, err = importDB(ctx, c.DB, span.on(), &countingReader{r: in, p: p}, closeOnInterrupt(in), form, opts)
		p.stop(false)
	} else {
		res, err = importHTTP(ctx, c, span, in, size, contentType, mode, conflict, p)
	}
	if err == nil {
		err = importReport(env, p, form, mode, res)
	}
	span.end(err)
	return err
}

// importHTTP sends in to POST /api/users/import, with span's
// traceparent, and returns the server's summary.
func importHTTP(ctx context.Context, c *clientFlags, span *cliSpan, in io.Reader, size int64, contentType, mode, conflict string,
	p *progress) (sum roster.ImportResult, _ error) {
	q := url.Values{"mode": {mode}, "on_conflict": {conflict}}
	// #nosec G704 -- the operator names the server (--url) to send to.
	req, err := http.NewRequestWithContext(ctx, "POST", c.URL+"/api/users/import?"+q.Encode(), &countingReader{r: in, p: p})
	if err != nil {
		p.stop(false)
		return sum, err
	}
	req.ContentLength = max(size, 0)
	if size < 0 {
		req.ContentLength = -1 // unknown: chunked
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	// The body goes out only once the server has accepted the request: a
	// bad token is refused before a row is sent, and no progress shows.
	req.Header.Set("Expect", "100-continue")
	span.request(req)
	res, err := http.DefaultClient.Do(req) // #nosec G704 -- the operator names the server (--url)
	p.stop(false)
	if err != nil {
		return sum, err
	}
	defer res.Body.Close()
	span.response(res)
	if res.StatusCode != http.StatusOK {
		return sum, serverError(res)
	}
	if err := json.NewDecoder(res.Body).Decode(&sum); err != nil {
		return sum, fmt.Errorf("reading the summary: %w", err)
	}
	return sum, nil
}

// importReport writes an import's outcome to stderr: the rows accepted,
// every listed row error, the totals. It fails when any row did.
func importReport(env environment, p *progress, form, mode string, sum roster.ImportResult) error {
	// Rows the server accepted, from its summary; a JSON array's rows are
	// numbered by element, the others' by line.
	fmt.Fprintf(env.stderr, "imported %s in %s\n", plural(sum.Inserted+sum.Updated+sum.Skipped, "row"), p.elapsed())
	where := "line"
	if form == "json" {
		where = "element"
	}
	for _, e := range sum.Errors {
		field := ""
		if e.Field != "" {
			field = " " + e.Field
		}
		fmt.Fprintf(env.stderr, "%s %d:%s %s (%s)\n", where, e.Line, field, e.Message, e.Code)
	}
	if int64(len(sum.Errors)) < sum.Failed {
		fmt.Fprintf(env.stderr, "… and more: the server lists the first %s\n", plural(int64(len(sum.Errors)), "problem"))
	}
	fmt.Fprintf(env.stderr, "inserted %d, updated %d, skipped %d, failed %d\n", sum.Inserted, sum.Updated, sum.Skipped, sum.Failed)
	if sum.Failed > 0 {
		if mode == "atomic" {
			return fmt.Errorf("%s failed; nothing was imported (atomic)", plural(sum.Failed, "row"))
		}
		return fmt.Errorf("%s failed", plural(sum.Failed, "row"))
	}
	return nil
}

// formatOf guesses the format from a file name.
func formatOf(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return "json"
	case ".csv":
		return "csv"
	}
	return "ndjson"
}

// exportCmd is "roster export [-o FILE]". Its filters are flags only.
type exportCmd struct {
	Client        clientFlags `embed:""`
	Output        string      `short:"o" default:"-" placeholder:"FILE" help:"Output file; - is stdout."`
	Format        string      `placeholder:"FORMAT" help:"ndjson or csv (default: from the -o file's extension, .csv for CSV, else ndjson)."`
	Email         string      `placeholder:"EMAIL" help:"Only the user with this email (any case)."`
	Q             string      `name:"q" placeholder:"TEXT" help:"Only users whose name or email contains this (any case; see --match)."`
	Match         string      `placeholder:"MODE" help:"How --q matches: contains (anywhere; under three characters, at the start) or prefix (at the start). Default: contains."`
	CreatedAfter  string      `placeholder:"TIME" help:"Only users created after this RFC 3339 time."`
	CreatedBefore string      `placeholder:"TIME" help:"Only users created before this RFC 3339 time."`
}

// Help is the detail of "roster export --help".
func (*exportCmd) Help() string {
	return "Streams every user (or those matching the filters) from GET /api/users/export of a running server (or, with --db, straight from that database), oldest first, from one consistent snapshot. Progress goes to stderr (a live line on a terminal). With OTEL_EXPORTER_OTLP_ENDPOINT set, the export is one OpenTelemetry trace from this command to the database, as for import (docs/OPERATIONS.md)."
}

func (ec *exportCmd) run(ctx context.Context, _ *flagSources, env environment) error {
	c, out, form := &ec.Client, ec.Output, ec.Format
	email, q, match, createdAfter, createdBefore := ec.Email, ec.Q, ec.Match, ec.CreatedAfter, ec.CreatedBefore
	if err := c.check(); err != nil {
		return err
	}
	if form == "" {
		form = "ndjson"
		if formatOf(out) == "csv" {
			form = "csv"
		}
	}
	accept := map[string]string{"ndjson": "application/x-ndjson", "csv": "text/csv"}[form]
	if accept == "" {
		return usagef("invalid --format %q: want ndjson or csv", form)
	}
	params := url.Values{}
	for k, v := range map[string]string{"email": email, "q": q, "match": match, "created_after": createdAfter, "created_before": createdBefore} {
		if v != "" {
			params.Set(k, v)
		}
	}
	ctx, span, err := startCLISpan(ctx, env, "roster export", c.DB != "")
	if err != nil {
		return err
	}
	err = ec.export(ctx, env, span, form, accept, params)
	span.end(err)
	return err
}

// export runs the export whose flags run has checked, under span: in
// format form (accept, to a server), the filters in params.
func (ec *exportCmd) export(ctx context.Context, env environment, span *cliSpan, form, accept string, params url.Values) error {
	c, out := &ec.Client, ec.Output
	// Nothing is written until the export has begun: a bad filter, a
	// refused token or a database that does not open leaves no file, and
	// an existing one untouched.
	var (
		filter roster.UserFilter
		svc    *roster.Service
		res    *http.Response
		err    error
	)
	if c.DB != "" {
		if filter, err = exportFilter(ec.Email, ec.Q, ec.Match, ec.CreatedAfter, ec.CreatedBefore); err != nil {
			return err
		}
		var closeDB func()
		if ctx, svc, closeDB, err = openService(ctx, c.DB, span.on()); err != nil {
			return err
		}
		defer closeDB()
	} else {
		u := c.URL + "/api/users/export"
		if len(params) > 0 {
			u += "?" + params.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil) // #nosec G704 -- the operator names the server (--url)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", accept)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		span.request(req)
		res, err = http.DefaultClient.Do(req) // #nosec G704 -- the operator names the server (--url)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		span.response(res)
		if res.StatusCode != http.StatusOK {
			return serverError(res)
		}
	}
	var w io.Writer = env.stdout
	var f *outputFile
	if out != "-" {
		f = &outputFile{path: out}
		w = f
	}
	p := startProgress(ctx, env.stderr, "exported", rowCounter(form), -1)
	if c.DB != "" {
		err = exportDB(ctx, svc, &countingWriter{w: w, p: p}, form, filter)
	} else {
		_, err = io.Copy(w, &countingReader{r: res.Body, p: p})
	}
	p.stop(err == nil)
	if f != nil {
		err = f.close(err)
	}
	return err
}

// outputFile is export's -o file, created at the first write (or at a
// close without error, for an empty export): an export that fails before
// its first row (with --db, a filter the service refuses) leaves no file.
type outputFile struct {
	path string
	f    *os.File
}

func (o *outputFile) Write(b []byte) (int, error) {
	if o.f == nil {
		var err error
		if o.f, err = os.Create(o.path); err != nil { // #nosec G304 G703 -- the operator names the output file on the command line
			return 0, err
		}
	}
	return o.f.Write(b)
}

// close ends the file of an export that ended with err: it is removed
// unless the export succeeded, so that a short file never looks complete.
func (o *outputFile) close(err error) error {
	if o.f == nil && err == nil {
		_, err = o.Write(nil)
	}
	if o.f == nil {
		return err
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(o.path) // #nosec G703 -- the file this command just created; never leave a short file that looks complete
	}
	return err
}

// serverError reads the error envelope of a failed call.
func serverError(res *http.Response) error {
	var env struct {
		Error struct {
			Code    roster.Code
			Message string
			Details []roster.FieldError
		}
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if json.Unmarshal(b, &env) != nil || env.Error.Code == "" {
		return fmt.Errorf("server answered %s", res.Status)
	}
	return errors.New("server answered " + describe(env.Error.Code, env.Error.Message, env.Error.Details))
}
