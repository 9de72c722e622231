package whatsapp

// valid reports whether data is one JSON value, exactly as json.Valid
// does: the same grammar, the same nesting limit, no check of UTF-8 (which
// encoding/json does not make either). It exists because json.Valid's
// byte-at-a-time state machine was the costliest single step of parsing a
// delivery; FuzzValid holds it to json.Valid.
func valid(data []byte) bool { return validIndex(data, nil) }

// validIndex is valid, recording in ix (when not nil) where every
// container of at least indexedContainer bytes ends.
func validIndex(data []byte, ix ends) bool {
	// open holds, per nesting level, the bracket that closes it; starts,
	// when ix records, where it opened.
	var stack [64]byte
	open := stack[:0]
	var startStack [64]int
	starts := startStack[:0]
	i := skipSpace(data, 0)
	for {
		// A value starts at i.
		if i >= len(data) {
			return false
		}
		switch c := data[i]; c {
		case '{', '[':
			if len(open) >= maxNesting {
				return false
			}
			closing := byte('}')
			if c == '[' {
				closing = ']'
			}
			open = append(open, closing)
			if ix != nil {
				starts = append(starts, i)
			}
			i = skipSpace(data, i+1)
			if i < len(data) && data[i] == closing {
				open = open[:len(open)-1]
				if ix != nil {
					ix.record(data, starts[len(starts)-1], i+1)
					starts = starts[:len(starts)-1]
				}
				i++
				break
			}
			if c == '{' {
				if i = objectKey(data, i); i < 0 {
					return false
				}
			}
			continue // the first value of the container
		case '"':
			if i = validString(data, i); i < 0 {
				return false
			}
		case 't':
			if i = literal(data, i, "true"); i < 0 {
				return false
			}
		case 'f':
			if i = literal(data, i, "false"); i < 0 {
				return false
			}
		case 'n':
			if i = literal(data, i, "null"); i < 0 {
				return false
			}
		default:
			if i = validNumber(data, i); i < 0 {
				return false
			}
		}
		// A value ended just before i: what may follow it.
		for {
			i = skipSpace(data, i)
			if len(open) == 0 {
				return i == len(data)
			}
			if i >= len(data) {
				return false
			}
			closing := open[len(open)-1]
			if data[i] == closing {
				open = open[:len(open)-1]
				if ix != nil {
					ix.record(data, starts[len(starts)-1], i+1)
					starts = starts[:len(starts)-1]
				}
				i++
				continue
			}
			if data[i] != ',' {
				return false
			}
			i = skipSpace(data, i+1)
			if closing == '}' {
				if i = objectKey(data, i); i < 0 {
					return false
				}
			}
			break
		}
	}
}

// record notes the container data[start:end] if it is large.
func (ix ends) record(data []byte, start, end int) {
	if end-start >= indexedContainer {
		ix[&data[start]] = end - start
	}
}

// maxNesting is encoding/json's limit on nested arrays and objects.
const maxNesting = 10000

// objectKey reads `"key" :` at i and returns where its value starts, or -1.
func objectKey(data []byte, i int) int {
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	if i = validString(data, i); i < 0 {
		return -1
	}
	i = skipSpace(data, i)
	if i >= len(data) || data[i] != ':' {
		return -1
	}
	return skipSpace(data, i+1)
}

// validString returns the index just past the string at data[i], or -1.
func validString(data []byte, i int) int {
	for i++; i < len(data); {
		c := data[i]
		switch {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(data) {
				return -1
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) {
					return -1
				}
				for _, h := range data[i+2 : i+6] {
					if !isHex(h) {
						return -1
					}
				}
				i += 6
			default:
				return -1
			}
		case c < 0x20:
			return -1
		default:
			i++
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func literal(data []byte, i int, word string) int {
	if len(data)-i < len(word) || string(data[i:i+len(word)]) != word {
		return -1
	}
	return i + len(word)
}

// validNumber returns the index just past the number at data[i], or -1:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(data []byte, i int) int {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return -1
	case data[i] == '0':
		i++
	case '1' <= data[i] && data[i] <= '9':
		i = digits(data, i+1)
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		j := digits(data, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(data, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}
