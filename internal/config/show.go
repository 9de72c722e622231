package config

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/secret"
)

// YAML writes the effective configuration (file, environment and defaults
// together) under the keys the file uses: durations in the duration
// grammar, secrets as <secret>.
func (c *Config) YAML() ([]byte, error) {
	return yaml.Marshal(toNode(reflect.ValueOf(*c)))
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	secretType   = reflect.TypeOf(secret.Secret(""))
)

func scalar(v string, tag string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v}
}

func toNode(v reflect.Value) *yaml.Node {
	switch {
	case v.Type() == durationType:
		return scalar(duration.Format(time.Duration(v.Int())), "!!str")
	case v.Type() == secretType:
		if v.String() == "" {
			return scalar("", "!!str")
		}
		return scalar(secret.Redacted, "!!str")
	}
	switch v.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("mapstructure"), ",")[0]
			if tag == "" || tag == "-" || !t.Field(i).IsExported() {
				continue
			}
			n.Content = append(n.Content, scalar(tag, "!!str"), toNode(v.Field(i)))
		}
		return n
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := 0; i < v.Len(); i++ {
			e := toNode(v.Index(i))
			if e.Kind != yaml.ScalarNode {
				n.Style = 0
			}
			n.Content = append(n.Content, e)
		}
		return n
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			n.Content = append(n.Content, scalar(k.String(), "!!str"), toNode(v.MapIndex(k)))
		}
		return n
	case reflect.Bool:
		return scalar(strconv.FormatBool(v.Bool()), "!!bool")
	case reflect.Int, reflect.Int64, reflect.Int32:
		return scalar(strconv.FormatInt(v.Int(), 10), "!!int")
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return scalar("", "!!null")
		}
		return toNode(v.Elem())
	case reflect.String:
		return scalar(v.String(), "!!str")
	}
	return scalar("", "!!null")
}
