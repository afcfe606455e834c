# The Makefile owns the build flags: x264 links Debian's libx264 through
# pkg-config, and libopusfile is not needed.
GO        ?= go
TAGS      := extlib,pkgconfig,nolibopusfile
GOFLAGS_T := -tags $(TAGS)
BIN       := bin
PURE_PKGS := ./media/... ./mixer/... ./dsp/...

export PATH := $(PATH):/usr/local/go/bin:$(shell $(GO) env GOPATH 2>/dev/null)/bin

.PHONY: all deps build run test vet test-pure bench proto proto-check clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	$(GO) build $(GOFLAGS_T) -o $(BIN)/mcu ./cmd/mcu
	$(GO) build $(GOFLAGS_T) -o $(BIN)/mcuctl ./cmd/mcuctl

## run: the server with its embedded defaults (gRPC 127.0.0.1:50051, HTTP 127.0.0.1:8080)
run: build
	./$(BIN)/mcu serve $(ARGS)

vet: deps
	$(GO) vet $(GOFLAGS_T) ./...

## test-pure: the packages that must build without cgo
test-pure:
	CGO_ENABLED=0 $(GO) vet $(PURE_PKGS)
	CGO_ENABLED=0 $(GO) test -count=1 $(PURE_PKGS)

# Packages whose tests run real-time media over loopback. They run one at a
# time, after the CPU-heavy packages, so a loaded machine does not starve
# their 20 ms clocks.
REALTIME_PKGS := ./conference/... ./api/... ./client/... ./cmd/... ./web/...

## test: vet, then every test with the race detector, end-to-end tests included
test: deps vet test-pure proto-check
	$(GO) test $(GOFLAGS_T) -race -count=1 -timeout 10m $$($(GO) list ./... | grep -v -e /conference -e /api -e /client -e /cmd/ -e /web)
	$(GO) test $(GOFLAGS_T) -race -count=1 -timeout 10m -p 1 $(REALTIME_PKGS)

bench: deps
	$(GO) test $(GOFLAGS_T) -run '^$$' -bench . -benchmem ./...

proto:
	bash scripts/genproto.sh

## proto-check: the committed generated code matches mcu.proto
proto-check:
	@bash scripts/genproto.sh
	@git diff --exit-code --stat -- proto/ || { echo "proto/: generated code is stale, run make proto and commit" >&2; exit 1; }

clean:
	rm -rf $(BIN)
