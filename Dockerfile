# syntax=docker/dockerfile:1
# wabridge as a container: a static binary on a small base, running as an
# unprivileged user, with its durable store on the /data volume.
#
#   docker build -t wabridge --build-arg VERSION=$(git describe --tags --always) .
#   docker run -p 8080:8080 -v wabridge-data:/data \
#     -v $PWD/config.yaml:/etc/wabridge/config.yaml:ro \
#     -e META_APP_SECRET=... wabridge
#
# docs/deploy.md covers the configuration, the reverse proxy Meta needs and
# the systemd unit for hosts without containers.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/wabridge ./cmd/wabridge

# Alpine rather than scratch: the health check needs an HTTP client in the
# image, and the CA bundle lets the binary reach Slack and Jira over TLS.
FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 wabridge \
 && adduser -S -D -H -u 10001 -G wabridge -s /sbin/nologin wabridge \
 && mkdir -p /data /etc/wabridge \
 && chown wabridge:wabridge /data
COPY --from=build /out/wabridge /usr/local/bin/wabridge
COPY config.example.yaml /etc/wabridge/config.yaml
COPY rules.example.yaml /etc/wabridge/rules.example.yaml
USER 10001:10001
# Inside a container the listener must take connections from outside its
# loopback; the port is published only where `docker run -p` says.
ENV WABRIDGE_SERVER_LISTEN=0.0.0.0:8080 \
    WABRIDGE_STORAGE_DIR=/data \
    WABRIDGE_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8080/readyz || exit 1
# SIGTERM stops intake, drains the pipeline and exits; give it the time the
# config's server.shutdown_timeout allows (docker stop -t).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/wabridge"]
CMD ["serve", "--config", "/etc/wabridge/config.yaml"]
