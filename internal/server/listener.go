package server

import (
	"net"
	"strconv"
	"sync"
	"time"
)

// refusal is what a connection over the limit gets before it is closed:
// a complete HTTP answer, so a provider sees 503 and retries, rather than
// a reset it may not.
var refusal = func() []byte {
	body := `{"error":"too many connections, retry later"}`
	return []byte("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
}()

// LimitListener accepts at most max connections at a time from ln. One
// more is answered 503 with Retry-After and closed at once, so the memory
// the open connections take stays bounded however many are opened.
func LimitListener(ln net.Listener, max int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max)}
}

type limitListener struct {
	net.Listener
	slots chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			go refuse(c)
		}
	}
}

func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(refusal)
	_ = c.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
