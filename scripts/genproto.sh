#!/usr/bin/env bash
# Regenerates the committed Go code for proto/mcu/v1/mcu.proto, and the
# HTTP/JSON gateway and OpenAPI document from the rules in mcu_http.yaml.
# Installs what it needs at pinned versions: protoc 3.21 (Debian 12's
# protobuf-compiler) with the well-known types (libprotobuf-dev), and the Go
# plugins below.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1
GRPC_GATEWAY_VERSION=v2.33.0

cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
fi

apt_install() {
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

if ! command -v protoc >/dev/null 2>&1; then
	apt_install protobuf-compiler libprotobuf-dev
fi
PROTO_INCLUDE=/usr/include
if [ ! -f "$PROTO_INCLUDE/google/protobuf/timestamp.proto" ]; then
	apt_install libprotobuf-dev
fi
case "$(protoc --version)" in
"libprotoc 3.21."*) ;;
*) echo "genproto: want protoc 3.21.x, have $(protoc --version)" >&2; exit 1 ;;
esac

GOBIN="$(go env GOBIN)"
if [ -z "$GOBIN" ]; then
	GOBIN="$(go env GOPATH)/bin"
fi
if [ "$("$GOBIN/protoc-gen-go" --version 2>/dev/null)" != "protoc-gen-go $PROTOC_GEN_GO_VERSION" ]; then
	GOBIN="$GOBIN" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if [ "$("$GOBIN/protoc-gen-go-grpc" --version 2>/dev/null)" != "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}" ]; then
	GOBIN="$GOBIN" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi
gw_version() { "$GOBIN/$1" --version 2>/dev/null | sed -n 's/^Version \(v[^,]*\),.*/\1/p'; }
for plugin in protoc-gen-grpc-gateway protoc-gen-openapiv2; do
	if [ "$(gw_version "$plugin")" != "$GRPC_GATEWAY_VERSION" ]; then
		GOBIN="$GOBIN" go install "github.com/grpc-ecosystem/grpc-gateway/v2/$plugin@$GRPC_GATEWAY_VERSION"
	fi
done

protoc \
	-I proto -I "$PROTO_INCLUDE" \
	--plugin=protoc-gen-go="$GOBIN/protoc-gen-go" \
	--plugin=protoc-gen-go-grpc="$GOBIN/protoc-gen-go-grpc" \
	--go_out=proto --go_opt=paths=source_relative \
	--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	--plugin=protoc-gen-grpc-gateway="$GOBIN/protoc-gen-grpc-gateway" \
	--plugin=protoc-gen-openapiv2="$GOBIN/protoc-gen-openapiv2" \
	--grpc-gateway_out=proto \
	--grpc-gateway_opt=paths=source_relative,grpc_api_configuration=proto/mcu/v1/mcu_http.yaml \
	--openapiv2_out=proto \
	--openapiv2_opt=grpc_api_configuration=proto/mcu/v1/mcu_http.yaml,output_format=json,disable_default_errors=false \
	mcu/v1/mcu.proto
