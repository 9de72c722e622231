# wabridge: `make run` serves config.example.yaml on 127.0.0.1:8080 with the
# log notifier (no accounts needed); `make test` is what CI runs.
GO      ?= go
BIN     := bin/wabridge
CONFIG  ?= config.example.yaml
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BENCH_SECONDS ?= 10

.PHONY: all build run test vet fmt lint tidy bench check clean

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

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./rules/ ./internal/whatsapp/ ./internal/pipeline/
	BENCH_SECONDS=$(BENCH_SECONDS) $(GO) run ./cmd/wabridge-bench

clean:
	rm -rf bin data
