package console

import (
	"fmt"
	"net/url"
	"time"
)

// Config is the server.console block. The console is served only where
// the admin API is (server.admin_token, on server.admin_listen when set).
type Config struct {
	// Enabled turns the console off while keeping the admin API.
	Enabled bool `mapstructure:"enabled" json:"enabled"`
	// PublicURL is the origin people open the console at when it is behind
	// a reverse proxy ("https://wabridge.example.com"): form posts must come
	// from it, and an https one marks the session cookie Secure. Empty means
	// the origin the request names in its Host header, Secure over TLS.
	PublicURL string `mapstructure:"public_url" json:"public_url"`
	// SessionTTL is how long a sign-in lasts, from the sign-in.
	SessionTTL time.Duration `mapstructure:"session_ttl" json:"session_ttl"`
}

// DefaultConfig is the console's part of config.Defaults.
func DefaultConfig() Config {
	return Config{Enabled: true, SessionTTL: 12 * time.Hour}
}

// Problems lists what is wrong with c, each naming its key under prefix.
func (c Config) Problems(prefix string) []string {
	var out []string
	if c.PublicURL != "" {
		if _, err := parseOrigin(c.PublicURL); err != nil {
			out = append(out, fmt.Sprintf("%s.public_url: %v", prefix, err))
		}
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 30*24*time.Hour {
		out = append(out, fmt.Sprintf("%s.session_ttl: %s is outside 1m..30d", prefix, c.SessionTTL))
	}
	return out
}

// parseOrigin reads a public URL as scheme://host[:port], the form an
// Origin header has.
func parseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q: want http(s)://host[:port]", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: want the origin alone, http(s)://host[:port], with no path, query or user", s)
	}
	return u.Scheme + "://" + u.Host, nil
}
