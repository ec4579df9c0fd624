package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"time"

	"github.com/rosterhq/roster/internal/admin"
	"github.com/rosterhq/roster/internal/apidocs"
	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/feed"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/prommetrics"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/tracing"
)

// serveConfig is the flags of serve: every one is a server setting, also
// read from ROSTER_<FLAG> and the names in its environ tag.
type serveConfig struct {
	Addr              string                 `default:":8080" environ:"PORT" placeholder:"ADDR" help:"Address to listen on; in development mode (no JWT_SECRET) 127.0.0.1:8080 unless set."`
	AdminAddr         string                 `default:"127.0.0.1:9090" environ:"" placeholder:"ADDR" help:"Admin listener for /metrics and /debug/pprof; keep it private (empty disables)."`
	CORSOrigins       stringList             `name:"cors-origins" environ:"" placeholder:"ORIGINS" help:"Origins allowed to call the API from a browser, comma-separated, or * (empty: CORS off)."`
	RateLimit         float64                `default:"50" environ:"" help:"Requests per second per client (token subject, else IP); 0 disables."`
	RateBurst         int                    `default:"100" environ:"" help:"Requests a client may make at once before the rate applies."`
	TrustedProxies    stringList             `environ:"" placeholder:"CIDRS" help:"CIDRs of proxies whose X-Forwarded-For/Forwarded name the client, comma-separated."`
	MaxInflight       int                    `default:"512" environ:"" help:"API requests served at once; more wait --inflight-wait, then get 503 (0: unlimited)."`
	InflightWait      time.Duration          `default:"100ms" environ:"" help:"How long a request waits for an in-flight slot before 503."`
	RequestTimeout    time.Duration          `default:"10s" environ:"" help:"Deadline of each API request, database work included (503 TIMEOUT)."`
	MaxSubscribers    int                    `default:"10000" environ:"" help:"Open change-feed streams (GET /api/events) at once; more get 503 (0: unlimited)."`
	MaxPerUser        int                    `name:"max-subscribers-per-user" default:"5" environ:"" help:"Open change-feed streams of one token subject, admins too; more get 429 TOO_MANY_STREAMS (0: unlimited)."`
	EventRetention    time.Duration          `default:"24h" environ:"" help:"How long change-feed events are kept for clients resuming with Last-Event-ID."`
	EventKeepAlive    time.Duration          `name:"event-keepalive" default:"15s" environ:"" help:"Interval of keep-alive comments on idle change-feed streams."`
	ConsistencyCookie bool                   `name:"consistency-cookie" environ:"" help:"Also carry read-your-writes tokens in a cookie (roster_consistency, HttpOnly, a minute) for browser clients: a write sets it, a read without the X-Roster-Consistency header presents it (docs/SCALING.md)."`
	EventPoll         time.Duration          `name:"event-poll-interval" default:"1s" environ:"" help:"How often the change feed reads the events table besides notifications: the delay of other instances' events when there are none (behind a transaction pooler without --listen-database-url)."`
	ImportMaxBytes    int64                  `default:"${import_max_bytes}" environ:"" help:"Largest body of POST /api/users/import, before and after decompression."`
	MaxBulk           int                    `default:"2" environ:"" help:"Imports and exports served at once; more get 503 (0: unlimited)."`
	ImportIdle        time.Duration          `name:"import-idle-timeout" default:"30s" environ:"" help:"An import whose body makes no progress this long ends with 408 (0: never)."`
	DB                dbFlags                `embed:""`
	Pool              poolFlags              `embed:""`
	JWT               jwtFlags               `embed:""`
	LogLevel          string                 `default:"info" environ:"LOG_LEVEL" placeholder:"LEVEL" help:"Log level: debug, info, warn or error."`
	LogFormat         string                 `default:"auto" environ:"LOG_FORMAT" placeholder:"FORMAT" help:"Log format: json, text, or auto (text on a terminal, else json)."`
	Migrate           bool                   `default:"true" negatable:"" environ:"" help:"Apply pending migrations at start."`
	ShutdownTimeout   time.Duration          `default:"15s" environ:"" help:"How long in-flight requests may take to finish on SIGINT/SIGTERM, after --drain-delay."`
	DrainDelay        time.Duration          `environ:"" help:"On SIGINT/SIGTERM, how long to keep serving (readiness 503, Connection: close) before the listener closes, so balancers stop routing here first (default 5s when KUBERNETES_SERVICE_HOST is set, else 0)."`
	OTel              bool                   `name:"otel" environ:"" help:"Print the OpenTelemetry tracing configuration at start (tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT is set; docs/OPERATIONS.md)."`
	TrustParent       bool                   `name:"trust-traceparent" default:"true" negatable:"" environ:"" help:"Continue a caller's W3C traceparent; with --no-trust-traceparent each request starts a new trace, linked to the caller's."`
	EmailVisibility   roster.EmailVisibility `default:"self" environ:"" placeholder:"self|all" help:"Whose emails tokens without the admin role see (self: their own only; all: every email, a shared directory)."`
}

// Help is the detail of "roster serve --help".
func (*serveConfig) Help() string {
	return "Without DATABASE_URL it uses the embedded SQLite database ./roster.db; without JWT_SECRET it runs in development mode with a random secret and prints an admin token and a user token."
}

func (cfg *serveConfig) run(ctx context.Context, fs *flagSources, env environment) error {
	return serve(ctx, cfg, fs, env)
}

// tracingFlushTimeout bounds the flush of queued spans when serve
// returns other than by a graceful shutdown, which has its own budget.
const tracingFlushTimeout = 5 * time.Second

// defaultDrainDelay covers the seconds Kubernetes takes to remove a
// terminating pod from its Service's endpoints: until then new connections
// still arrive, and a closed listener would refuse them.
const defaultDrainDelay = 5 * time.Second

func serve(ctx context.Context, flags *serveConfig, fs *flagSources, env environment) error {
	// Everything is checked before anything is opened.
	logger, err := newLogger(env.stderr, flags.LogLevel, flags.LogFormat)
	if err != nil {
		return err
	}
	flags.Pool.apply(&flags.DB)
	if _, _, err := flags.DB.engine(); err != nil {
		return err
	}
	if flags.Migrate && flags.DB.pool.Pooled && flags.DB.pool.ListenURL == "" {
		return errNoMigrator
	}
	if flags.ShutdownTimeout <= 0 {
		return usagef("--shutdown-timeout must be positive")
	}
	if flags.DrainDelay < 0 {
		return usagef("--drain-delay must not be negative")
	}
	if !fs.explicit("drain-delay") && env.getenv("KUBERNETES_SERVICE_HOST") != "" {
		flags.DrainDelay = defaultDrainDelay
	}
	if _, ok := fs.setEmpty("admin-addr"); ok {
		flags.AdminAddr = "" // ROSTER_ADMIN_ADDR= disables it, as --admin-addr= does
	}
	if err := checkAddrs(flags, fs); err != nil {
		return err
	}
	cfg, err := flags.httpConfig()
	if err != nil {
		return err
	}
	tcfg, err := tracingFromEnv(env.getenv, "roster", flags.TrustParent)
	if err != nil {
		return err
	}
	if src, ok := fs.setEmpty("jwt-secret"); ok && flags.JWT.Secret == "" {
		return usagef("%s is set but empty: give a secret of at least %d bytes, or unset it for development mode", src, auth.MinSecretLength)
	}
	devMode := flags.JWT.Secret == ""
	if devMode {
		if flags.JWT.Secret, err = auth.GenerateSecret(); err != nil {
			return err
		}
		// Its printed admin token opens everything: keep it to this machine.
		if !fs.explicit("addr") {
			flags.Addr = devAddr
		}
	}
	authority, err := flags.JWT.authority()
	if err != nil {
		return err
	}

	// Both ports are taken before the database is opened: a port in use
	// is reported before anything is created or migrated.
	ln, aln, err := listenBoth(flags.Addr, flags.AdminAddr)
	if err != nil {
		return err
	}
	defer closeUnserved(ln, aln)

	tp, stopTracing, err := startTracing(ctx, tcfg)
	if err != nil {
		return err
	}
	// Every return flushes the spans queued so far; the shutdown below
	// does it within its own budget, after which this does nothing. Its
	// context is not the signal's, which has ended by then.
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
		defer cancel()
		if err := stopTracing(fctx); err != nil {
			logger.Warn("tracing", "err", err)
		}
	}()
	if tp != nil {
		logger = slog.New(tracing.NewLogHandler(logger.Handler()))
		logger.Info("tracing on", "endpoint", tcfg.endpoint, "protocol", tcfg.protocol, "sampler", tcfg.sampler, "ratio", tcfg.ratio, "service", tcfg.service)
		flags.DB.tracing = true
	}
	cfg.Tracer, cfg.TrustTraceparent = tp, tcfg.trust

	flags.DB.logger = logger
	db, err := openDatabase(ctx, &flags.DB)
	if err != nil {
		return err
	}
	defer db.close()
	if flags.Migrate {
		res, err := migrateUp(ctx, db)
		if err != nil {
			return err
		}
		for _, r := range res {
			logger.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
		}
	}
	db.doneMigrating() // serve migrates at start only

	reg := newRegistry(db)
	// One clock dates users and events and judges the events' age.
	clock := time.Now
	cfg.Users = roster.NewService(db.users, clock, roster.WithEmailVisibility(flags.EmailVisibility))
	cfg.Auth = authority
	cfg.Logger = logger
	cfg.Metrics = prommetrics.New(reg)
	cfg.CursorKey = deriveKey(flags.JWT.Secret, "roster list cursor v1")
	cfg.KeepAlive = flags.EventKeepAlive
	cfg.ConsistencyCookie = flags.ConsistencyCookie
	cfg.Version, cfg.DevMode = version, devMode
	cfg.Docs = apidocs.Routes() // the edge build leaves the documentation out
	if flags.DB.pool.Pooled && flags.DB.pool.ListenURL == "" {
		logger.Warn("change feed: no LISTEN through the transaction pooler and no --listen-database-url; other instances' events arrive by polling the events table",
			"poll_interval", flags.EventPoll.String())
	}
	broker := feed.New(feed.Config{Store: db.events, Logger: logger, MaxSubscribers: flags.MaxSubscribers, MaxPerSubject: flags.MaxPerUser,
		Retention: flags.EventRetention, PollInterval: flags.EventPoll, Now: clock})
	cfg.Feed = broker
	feedCtx, stopFeed := context.WithCancel(context.Background())
	feedDone := make(chan error, 1)
	go func() { feedDone <- broker.Run(feedCtx) }()
	defer func() {
		stopFeed()
		if err := <-feedDone; err != nil {
			logger.Error("change feed", "err", err)
		}
	}()
	srv := httpapi.NewServer(cfg)
	// Request contexts descend from base, not from ctx: the signal must not
	// cancel requests the server has accepted (a write would be reported
	// failed and land anyway). Only the shutdown timeout running out ends
	// them.
	base, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	hs := newHTTPServer(base, srv, logger)
	// The warning comes before "listening", so that whoever waits for that
	// line has seen it too.
	if devMode {
		logger.Warn("development mode: JWT_SECRET is not set, tokens are signed with a random secret, and an admin token is printed on stdout",
			"addr", ln.Addr().String())
	}
	logger.Info("listening", "addr", ln.Addr().String(), "database", db.engine)

	// The admin listener has no auth: it must stay on a private address.
	var adminSrv *http.Server
	adminErr := make(chan error, 1)
	if aln != nil {
		adminSrv = newHTTPServer(base, admin.Handler(reg), logger)
		adminSrv.WriteTimeout = 0 // CPU profiles and traces stream for as long as asked
		logger.Info("admin listening", "addr", aln.Addr().String())
		go func() { adminErr <- adminSrv.Serve(aln) }()
	}
	if err := printBanner(env.stdout, authority, devMode, ln.Addr(), aln); err != nil {
		return err
	}
	if flags.OTel {
		tcfg.describe(env.stdout)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	// Readiness fails first so balancers stop routing here; requests that
	// still arrive during the drain delay are served, on connections that
	// then close. Then the listener and idle connections close, streams
	// end with a final event, and in-flight requests get shutdownTimeout
	// to finish. The change feed and the pool close after them (defers).
	logger.Info("shutting down", "drain_delay", flags.DrainDelay.String(), "timeout", flags.ShutdownTimeout.String())
	srv.BeginDrain()
	if flags.DrainDelay > 0 {
		<-env.timer(flags.DrainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), flags.ShutdownTimeout)
	defer cancel()
	srv.Drain()
	err = hs.Shutdown(sctx)
	if err == nil {
		err = srv.WaitStreams(sctx)
	}
	if err != nil {
		// Out of time: what is still running is cut.
		logger.Warn("shutdown timeout: closing open connections", "err", err)
		hardStop()
		_ = hs.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	// The last requests' spans, within what is left of the budget.
	if err := stopTracing(sctx); err != nil {
		logger.Warn("tracing", "err", err)
	}
	if adminSrv != nil {
		// Profiles in progress are cut; the admin data is not precious.
		_ = adminSrv.Close()
		if err := <-adminErr; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve (admin): %w", err)
		}
	}
	logger.Info("stopped")
	return nil
}

// newHTTPServer sets the timeouts that keep slow or idle clients
// (slowloris) from holding connections and goroutines indefinitely.
func newHTTPServer(ctx context.Context, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
}

// httpConfig checks the protective settings and returns them as the
// start of the server's configuration; serve adds the rest.
func (cfg *serveConfig) httpConfig() (httpapi.Config, error) {
	c := httpapi.Config{
		CORSOrigins:    cfg.CORSOrigins,
		RateLimit:      cfg.RateLimit,
		RateBurst:      cfg.RateBurst,
		MaxInflight:    cfg.MaxInflight,
		InflightWait:   cfg.InflightWait,
		RequestTimeout: cfg.RequestTimeout,
		ImportMaxBytes: cfg.ImportMaxBytes,
	}
	c.MaxBulk, c.ImportIdleTimeout = cfg.MaxBulk, cfg.ImportIdle
	if cfg.ImportMaxBytes <= 0 {
		return c, usagef("invalid --import-max-bytes %d: must be positive", cfg.ImportMaxBytes)
	}
	for _, o := range cfg.CORSOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return c, usagef("invalid --cors-origins entry %q: want scheme://host[:port] or *", o)
		}
	}
	for _, p := range cfg.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return c, usagef("invalid --trusted-proxies entry %q: want a CIDR such as 10.0.0.0/8", p)
			}
			prefix = netip.PrefixFrom(a, a.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
	}
	switch {
	case cfg.RateLimit < 0:
		return c, usagef("--rate-limit must not be negative")
	case cfg.RateLimit > 0 && cfg.RateBurst < 1:
		return c, usagef("--rate-burst must be at least 1")
	case cfg.MaxInflight < 0:
		return c, usagef("--max-inflight must not be negative")
	case cfg.MaxBulk < 0 || cfg.ImportIdle < 0:
		return c, usagef("--max-bulk and --import-idle-timeout must not be negative")
	case cfg.InflightWait < 0:
		return c, usagef("--inflight-wait must not be negative")
	case cfg.RequestTimeout < 0:
		return c, usagef("--request-timeout must not be negative")
	case cfg.MaxSubscribers < 0:
		return c, usagef("--max-subscribers must not be negative")
	case cfg.MaxPerUser < 0:
		return c, usagef("--max-subscribers-per-user must not be negative")
	case cfg.EventRetention <= 0:
		return c, usagef("--event-retention must be positive")
	case cfg.EventKeepAlive <= 0:
		return c, usagef("--event-keepalive must be positive")
	case cfg.EventPoll <= 0:
		return c, usagef("--event-poll-interval must be positive")
	}
	return c, nil
}

// deriveKey makes a purpose-specific key from the JWT secret, so that
// every instance sharing the secret shares the key, and a leak of one
// derived key reveals nothing about the secret or other keys.
func deriveKey(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("invalid log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "auto":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		fallthrough
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usagef("invalid log format %q: use json, text or auto", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// jwtFlags are the token settings shared by serve and token.
type jwtFlags struct {
	Secret   string `name:"jwt-secret" environ:"JWT_SECRET" placeholder:"SECRET" help:"HS256 signing secret, at least 32 bytes; set it in the environment, not on the command line (ps shows it)."`
	Issuer   string `name:"jwt-issuer" environ:"" placeholder:"ISS" help:"When set, tokens must carry this \"iss\"."`
	Audience string `name:"jwt-audience" environ:"" placeholder:"AUD" help:"When set, tokens must list this \"aud\"."`
}

func (j *jwtFlags) authority() (*auth.Authority, error) {
	a, err := auth.New(auth.Config{Secret: []byte(j.Secret), Issuer: j.Issuer, Audience: j.Audience})
	if err != nil {
		return nil, usagef("%s", err)
	}
	return a, nil
}
