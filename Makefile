# wabridge: `make run` serves config.example.yaml on 127.0.0.1:8080 with the
# log notifier (no accounts needed); `make test` is what CI runs.
GO      ?= go
BIN     := bin/wabridge
CONFIG  ?= config.example.yaml
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.revision=$(REVISION)
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64
BENCH_SECONDS ?= 10

.PHONY: all build run test vet fmt lint tidy bench check release clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/wabridge

run: build
	./$(BIN) serve --config $(CONFIG)

check: build
	./$(BIN) check --config $(CONFIG)

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# lint fails when gofmt would change a file or go vet finds a problem.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# tidy fails when go.mod or go.sum is not what `go mod tidy` would write.
tidy:
	$(GO) mod tidy -diff

test: lint tidy
	$(GO) test -race -count=1 ./...
	$(GO) run ./cmd/wabridge test rules --config config.example.yaml rules.example.tests.yaml

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./rules/ ./internal/whatsapp/ ./internal/pipeline/
	BENCH_SECONDS=$(BENCH_SECONDS) $(GO) run ./cmd/wabridge-bench

# release cross-builds static binaries stamped with the version and revision:
# dist/wabridge-VERSION-linux-amd64 and -arm64, with SHA256SUMS.
release:
	@mkdir -p dist
	@set -e; for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=dist/wabridge-$(VERSION)-$$os-$$arch; \
		echo "building $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $$out ./cmd/wabridge; \
	done
	cd dist && sha256sum wabridge-$(VERSION)-* > SHA256SUMS

clean:
	rm -rf bin data dist
