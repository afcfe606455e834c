package api

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/validator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/openmcu/mcu/conference"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// Config configures the gRPC server.
type Config struct {
	// Token, when set, is required as "authorization: Bearer <token>" on
	// every RPC except the health service. Empty disables auth; the caller
	// then has to keep the listener on loopback.
	Token string
	// Logger receives one line per RPC, and panics. Nil discards.
	Logger *slog.Logger
	// DefaultDSP fills the DSP switches a CreateRoom request leaves unset
	// (normally conference.Config.DSP). Nil means NS and AGC on, AEC off.
	DefaultDSP *conference.DSPSettings
}

// Server bundles the gRPC server with the services registered on it.
type Server struct {
	GRPC    *grpc.Server
	Service *Service
	Health  *health.Server
}

// NewGRPCServer builds a gRPC server with the Conference service, the
// standard health service and reflection, behind the interceptor chain
// logging -> validation -> auth -> recovery. Extra options are appended.
func NewGRPCServer(cfg Config, m Manager, opts ...grpc.ServerOption) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall)}
	// Health probes arrive every few seconds: they are neither logged nor
	// authenticated.
	skipHealth := selector.MatchFunc(notHealth)
	unary := []grpc.UnaryServerInterceptor{
		selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(slogAdapter(log), logOpts...), skipHealth),
		validator.UnaryServerInterceptor(),
	}
	stream := []grpc.StreamServerInterceptor{
		selector.StreamServerInterceptor(logging.StreamServerInterceptor(slogAdapter(log), logOpts...), skipHealth),
		validator.StreamServerInterceptor(),
	}
	if cfg.Token != "" {
		authFn := bearerAuth(cfg.Token)
		unary = append(unary, selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(authFn), skipHealth))
		stream = append(stream, selector.StreamServerInterceptor(auth.StreamServerInterceptor(authFn), skipHealth))
	}
	rec := recovery.WithRecoveryHandlerContext(recoveryHandler(log))
	unary = append(unary, recovery.UnaryServerInterceptor(rec))
	stream = append(stream, recovery.StreamServerInterceptor(rec))

	opts = append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	}, opts...)
	gs := grpc.NewServer(opts...)

	svc := NewService(cfg, m)
	mcuv1.RegisterConferenceServer(gs, svc)
	hs := health.NewServer()
	hs.SetServingStatus(mcuv1.Conference_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	return &Server{GRPC: gs, Service: svc, Health: hs}
}

// Drain marks the server NOT_SERVING and ends WatchRoom streams; call it
// before GracefulStop.
func (s *Server) Drain() {
	s.Health.Shutdown()
	s.Service.Drain()
}

// notHealth matches every call but the health service's, so that probes
// need no secret and do not flood the log.
func notHealth(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service != healthpb.Health_ServiceDesc.ServiceName
}

func bearerAuth(token string) auth.AuthFunc {
	want := []byte(token)
	return func(ctx context.Context) (context.Context, error) {
		got, err := auth.AuthFromMD(ctx, "bearer")
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			return nil, status.Error(codes.Unauthenticated, "invalid token")
		}
		return ctx, nil
	}
}

// recoveryHandler logs the panic with its stack and tells the client no
// more than INTERNAL.
func recoveryHandler(log *slog.Logger) recovery.RecoveryHandlerFuncContext {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in gRPC handler", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, msgInternal)
	}
}

func slogAdapter(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}
