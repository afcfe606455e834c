package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openmcu/mcu/api"
	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/conference"
	"github.com/openmcu/mcu/web"
)

// runServe is `mcu serve`: it returns the process exit code.
func runServe(args []string) int {
	return serveMain(args, os.Getenv, os.Stderr, nil)
}

// serveMain loads the config, then serves until SIGINT or SIGTERM. ready,
// when set, is called with the bound addresses once both listeners are up
// and the signal handler is installed (tests use it).
func serveMain(args []string, getenv func(string) string, stderr io.Writer, ready func(grpcAddr, httpAddr string)) int {
	cfg, warnings, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "mcu serve:", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	// libav's warnings and errors (a broken source stream) join our log.
	codec.SetLogger(log)
	for _, w := range warnings {
		log.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log, ready); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	return 0
}

// serve runs the gRPC and HTTP servers until ctx is done, then drains:
// health goes NOT_SERVING and /healthz 503, new RPCs are refused, watchers
// are told UNAVAILABLE, the manager closes every participant, and in-flight
// RPCs get until cfg.ShutdownTimeout to finish.
func serve(ctx context.Context, cfg Config, log *slog.Logger, ready func(grpcAddr, httpAddr string)) error {
	m, err := conference.NewManager(cfg.Conference)
	if err != nil {
		return fmt.Errorf("conference: %w", err)
	}
	reg := m.Registry()
	if err := registerRuntimeCollectors(reg); err != nil {
		closeManager(m, cfg.ShutdownTimeout, log)
		return err
	}

	var lc net.ListenConfig
	grpcLis, err := lc.Listen(ctx, "tcp", cfg.GRPCAddr)
	if err != nil {
		closeManager(m, cfg.ShutdownTimeout, log)
		return fmt.Errorf("grpc_addr: %w", err)
	}
	httpLis, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		grpcLis.Close()
		closeManager(m, cfg.ShutdownTimeout, log)
		return fmt.Errorf("http_addr: %w", err)
	}

	dsp := cfg.Conference.DSP
	srv := api.NewGRPCServer(api.Config{Token: cfg.APIToken, Logger: log, DefaultDSP: &dsp}, api.FromConference(m))
	gw, err := api.NewGateway(srv)
	if err != nil {
		grpcLis.Close()
		httpLis.Close()
		closeManager(m, cfg.ShutdownTimeout, log)
		return err
	}
	defer gw.Close()
	var draining atomic.Bool
	httpSrv := &http.Server{
		Handler:           httpHandler(reg, &draining, gw),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	errc := make(chan error, 2)
	go func() {
		if err := srv.GRPC.Serve(grpcLis); err != nil {
			errc <- fmt.Errorf("grpc: %w", err)
		}
	}()
	go func() {
		if err := httpSrv.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	udp := fmt.Sprintf("%d-%d", cfg.Conference.Transport.UDPPortMin, cfg.Conference.Transport.UDPPortMax)
	if p := cfg.Conference.Transport.UDPMuxPort; p != 0 {
		udp = fmt.Sprintf("%d (shared)", p)
	}
	log.Info("mcu serving", "grpc_addr", grpcLis.Addr().String(), "http_addr", httpLis.Addr().String(),
		"auth", cfg.APIToken != "", "udp_ports", udp)
	if ready != nil {
		ready(grpcLis.Addr().String(), httpLis.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: draining participants")
	case runErr = <-errc:
	}

	draining.Store(true)
	srv.Drain()
	grpcStopped := make(chan struct{})
	go func() {
		srv.GRPC.GracefulStop() // refuses new RPCs at once, then waits for in-flight ones
		close(grpcStopped)
	}()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := m.Close(sctx); err != nil {
		log.Error("closing participants", "err", err)
	}
	select {
	case <-grpcStopped:
	case <-sctx.Done():
		log.Warn("shutdown timeout: cancelling open RPCs", "timeout", cfg.ShutdownTimeout)
		srv.GRPC.Stop()
		<-grpcStopped
	}
	if err := httpSrv.Shutdown(sctx); err != nil {
		httpSrv.Close()
	}
	log.Info("mcu stopped")
	return runErr
}

func closeManager(m *conference.Manager, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		log.Error("closing conference manager", "err", err)
	}
}

// registerRuntimeCollectors adds the Go and process collectors unless the
// manager already did.
func registerRuntimeCollectors(reg *prometheus.Registry) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("metrics: %w", err)
			}
		}
	}
	return nil
}

// httpHandler serves /healthz (503 while draining), /metrics, the HTTP/JSON
// API under /v1/ (gw, nil leaves it out), its OpenAPI document at
// /openapi.json, and the browser demo at /.
func httpHandler(g prometheus.Gatherer, draining *atomic.Bool, gw http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "draining\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	if gw != nil {
		mux.Handle("/v1/", gw)
	}
	mux.Handle("GET /openapi.json", api.OpenAPIHandler())
	mux.Handle("/", web.Handler()) // no method: "GET /" would conflict with "/v1/"
	return mux
}
