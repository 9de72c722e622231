package log

// Config is the notifiers.log block of the config file.
type Config struct {
	// Path is the file that receives one JSON line per notification; "" is stdout.
	Path string `mapstructure:"path" json:"path"`
}
