package api

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"

	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

// gatewayBuffer is the in-memory connection's buffer; SDP offers and answers
// are a few kB.
const gatewayBuffer = 256 << 10

// Gateway serves mcu.v1.Conference as HTTP/JSON (grpc-gateway, routes in
// proto/mcu/v1/mcu_http.yaml). It calls the gRPC server over an in-memory
// connection rather than calling the service directly, so every HTTP call
// goes through the same interceptors as a gRPC call: logging, validation,
// the bearer token (the Authorization header is forwarded as metadata) and
// panic recovery. Errors come back as the gRPC status mapped to an HTTP code,
// with a JSON body {"code", "message", "details"}; WatchRoom streams one JSON
// object per line, {"result": RoomEvent} or a final {"error": Status}.
type Gateway struct {
	mux  *runtime.ServeMux
	conn *grpc.ClientConn
}

// NewGateway starts s.GRPC on an in-memory listener (GracefulStop and Stop
// close it with the others) and returns the gateway that calls it.
func NewGateway(s *Server) (*Gateway, error) {
	lis := bufconn.Listen(gatewayBuffer)
	go s.GRPC.Serve(lis) //nolint:errcheck // ends when the server stops
	conn, err := grpc.NewClient("passthrough:///mcu-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}),
	)
	if err := mcuv1.RegisterConferenceHandler(context.Background(), mux, conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return &Gateway{mux: mux, conn: conn}, nil
}

// ServeHTTP serves the routes under /v1/.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The bodies are small JSON documents; refuse anything that is not.
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	g.mux.ServeHTTP(w, r)
}

// Close closes the in-memory client connection.
func (g *Gateway) Close() error { return g.conn.Close() }

// OpenAPIHandler serves the gateway's OpenAPI 2 document.
func OpenAPIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(mcuv1.OpenAPI) //nolint:errcheck // the client went away
	})
}
