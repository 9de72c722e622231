package sources

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/wabridge/wabridge/internal/problem"
)

// Source types (sources[].type).
const (
	TypeMeta      = "meta"
	TypeEvolution = "evolution"
	TypeZAPI      = "zapi"
	TypeTwilio    = "twilio"
	TypeStatus    = "status"
	TypeInbound   = "inbound"
	TypeMapped    = "mapped"
)

// Types lists every source type, for validation messages and documentation.
func Types() []string {
	return []string{TypeMeta, TypeEvolution, TypeZAPI, TypeTwilio, TypeStatus, TypeInbound, TypeMapped}
}

// New builds the adapter for one configured source. A relative mapping_file
// must already be resolved against the config file's directory. The error
// is a problem.List: a mapping file's problems carry its FILE:LINE, the
// others name the source and the key.
func New(cfg Config) (Source, error) {
	s, errs := build(cfg)
	if len(errs) > 0 {
		var l problem.List
		for _, err := range errs {
			l.Append(err)
		}
		return nil, l
	}
	return s, nil
}

// Validate reports every problem of one source's config, for `wabridge
// check`. Errors name the source and the key; a mapping_file problem is
// reported as FILE:LINE: message.
func Validate(cfg Config) []error {
	_, errs := build(cfg)
	return errs
}

func build(cfg Config) (Source, []error) {
	typ := strings.ToLower(strings.TrimSpace(cfg.Type))
	if typ == TypeMeta {
		m, err := NewMeta(cfg)
		if err != nil {
			return nil, []error{err}
		}
		return m, nil
	}
	var errs []error
	wrap := func(err error) error {
		// FILE:LINE problems of a mapping file already say where they are:
		// build does not prefix them with the source name.
		if p, ok := err.(problem.Problem); ok && p.File != "" {
			return err
		}
		return fmt.Errorf("source %s: %w", cfg.Name, err)
	}
	add := func(es ...error) {
		for _, e := range es {
			errs = append(errs, wrap(e))
		}
	}
	switch typ {
	case TypeEvolution, TypeZAPI, TypeTwilio, TypeStatus, TypeInbound, TypeMapped:
	case "":
		add(fmt.Errorf("type: required (%s)", strings.Join(Types(), ", ")))
		return nil, errs
	default:
		add(fmt.Errorf("type: %q is not one of %s", cfg.Type, strings.Join(Types(), ", ")))
		return nil, errs
	}
	b := base{name: cfg.Name, typ: typ}
	auth, authErrs := buildAuth(cfg.Auth, cfg.PublicURL, typ)
	add(authErrs...)
	b.auth = auth
	accept, acceptErrs := newAccept(cfg.Accept)
	add(acceptErrs...)
	b.accept = accept
	add(b.buildStatusMap(cfg.StatusMap)...)
	if cfg.Preset != "" && typ != TypeMapped {
		add(fmt.Errorf("preset: only type mapped takes a preset (write type: mapped, preset: %s)", cfg.Preset))
	}

	var src Source
	switch typ {
	case TypeEvolution:
		src = &Evolution{base: b}
	case TypeZAPI:
		src = &ZAPI{base: b}
	case TypeTwilio:
		src = &Twilio{base: b}
	case TypeStatus:
		src = &StatusGateway{base: b}
	case TypeInbound:
		src = &Inbound{base: b}
	case TypeMapped:
		m, mErrs := compileSourceMapping(cfg)
		add(mErrs...)
		src = &Mapped{base: b, m: m}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return src, nil
}

var statusWord = regexp.MustCompile(`^[a-z0-9_.-]+$`)

// buildStatusMap checks and lowercases status_map. Only the status and mapped
// types read provider words a user may need to rename; elsewhere a map would
// silently do nothing, so it is an error.
func (b *base) buildStatusMap(in map[string]string) []error {
	if len(in) == 0 {
		return nil
	}
	if b.typ != TypeStatus && b.typ != TypeMapped {
		return []error{fmt.Errorf("status_map: only types status and mapped use it (type %s normalises its provider's statuses itself)", b.typ)}
	}
	var errs []error
	b.statusMap = make(map[string]string, len(in))
	for from, to := range in {
		to = strings.ToLower(strings.TrimSpace(to))
		switch {
		case strings.TrimSpace(from) == "":
			errs = append(errs, errors.New("status_map: an empty provider word"))
		case b.typ == TypeStatus && !knownGatewayStatus(to):
			errs = append(errs, fmt.Errorf("status_map: %s: %q is not a status wabridge knows (%s)", from, to, strings.Join(gatewayStatuses(), ", ")))
		case !statusWord.MatchString(to):
			errs = append(errs, fmt.Errorf("status_map: %s: %q must be a lowercase word", from, to))
		default:
			b.statusMap[strings.ToLower(strings.TrimSpace(from))] = to
		}
	}
	return errs
}
