package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/wabridge/wabridge/internal/whatsapp"
)

// bareSecretEnv carries the app secret to the bare receiver, so it does
// not show in the process list.
const bareSecretEnv = "WABRIDGE_BENCH_SECRET"

// maxBody is Meta's largest delivery, the limit wabridge applies too.
const maxBody = 3 << 20

// bareHandler is the least a receiver must do: read the body, check its
// signature, answer. It is the upper bound wabridge is compared with.
func bareHandler(secret []byte) http.Handler {
	r := gin.New()
	r.POST("/webhooks/:source", func(c *gin.Context) {
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
		if err != nil {
			c.JSON(http.StatusRequestEntityTooLarge, gin.H{"error": "body over 3 MiB or unreadable"})
			return
		}
		if err := whatsapp.VerifySignature(secret, body, c.GetHeader(whatsapp.SignatureHeader)); err != nil {
			c.JSON(http.StatusUnauthorized, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "accepted"})
	})
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	return r
}

// runBare serves the bare receiver until SIGTERM: `wabridge-bench bare
// -listen ADDR`, with the secret in WABRIDGE_BENCH_SECRET.
func runBare(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	secret := os.Getenv(bareSecretEnv)
	if secret == "" {
		fmt.Fprintf(stderr, "wabridge-bench bare: %s is empty; the receiver needs the app secret to check signatures\n", bareSecretEnv)
		return 2
	}
	// gin's debug mode prints every route and a warning: noise in the
	// process log and work the bare receiver should not do.
	gin.SetMode(gin.ReleaseMode)
	if err := serveBare(*listen, []byte(secret)); err != nil {
		fmt.Fprintf(stderr, "wabridge-bench bare: %v\n", err)
		return 1
	}
	return 0
}

func serveBare(listen string, secret []byte) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q: the bench listens on loopback only", listen)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	// The same server timeouts wabridge uses by default, so neither side
	// gets an advantage from the http.Server settings.
	srv := &http.Server{
		Handler:           bareHandler(secret),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
