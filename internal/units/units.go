// Package units is how vidup reads and writes quantities for people: one
// byte size type and one rate type for every flag, and one way to print a
// byte count, a duration and a path.
//
// Sizes and rates share one grammar, so that --part-size 64M and
// --bwlimit 64M mean the same 64 MiB:
//   - a bare prefix is binary: 64K, 64M, 64G, 64T are 64×2¹⁰, 2²⁰, 2³⁰, 2⁴⁰;
//   - KiB, MiB, GiB, TiB are binary too; kB, MB, GB, TB are decimal (10³…10¹²);
//   - a rate may end in /s, and may count bits: 400Mbit/s is 400×10⁶ bits
//     (Mibit is binary), divided by 8.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Size is a number of bytes. As a flag it reads the grammar above and
// prints in the largest binary unit that divides it (64MiB).
type Size int64

// Rate is a number of bytes per second; 0 is no limit.
type Rate int64

// ParseSize reads a byte size: 16MiB, 64M (= 64MiB), 1GiB, 500MB, 1048576.
func ParseSize(s string) (Size, error) {
	in := strings.TrimSpace(s)
	num, unit := splitNumber(in)
	v, err := strconv.ParseFloat(num, 64)
	if num == "" || err != nil || strings.Contains(num, ".") {
		return 0, fmt.Errorf("size %q is not a size; write it like 16MiB, 64M or 1GiB", s)
	}
	mult, bits, err := parseUnit(unit, false, false)
	if err != nil || bits {
		return 0, fmt.Errorf("size %q is not a size; write it like 16MiB, 64M or 1GiB", s)
	}
	n := v * mult
	if n > 1<<62 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n), nil
}

// rateExample ends every rate parse error so that the user sees a form that works.
const rateExample = "write it like 50MiB/s, 64M, 400Mbit/s or 0 for no limit"

// ParseRate reads a bandwidth such as 50MiB/s, 64M (= 64MiB/s), 400Mbit/s
// or 1.5GB/s in bytes per second. "", "0" and "off" mean no limit. A number
// without a unit (10) is refused: rclone reads --bwlimit 10 as 10 KiB/s,
// other tools as bytes or megabits, so it is written 10B/s, 10M or 10Mbit/s
// to mean one of them. A lone
// lowercase "b" (10Mb) is refused: people write it for both megabits and
// megabytes, and guessing wrong is off by a factor of eight. A positive rate
// below one byte per second is an error rather than a silent "unlimited".
func ParseRate(s string) (Rate, error) {
	in := strings.TrimSpace(s)
	if in == "" || strings.EqualFold(in, "off") {
		return 0, nil
	}
	rest, perSecond := strings.CutSuffix(in, "/s")
	num, unit := splitNumber(rest)
	if num == "" {
		if strings.HasPrefix(rest, "-") {
			return 0, fmt.Errorf("invalid rate %q: a rate cannot be negative; %s", in, rateExample)
		}
		return 0, fmt.Errorf("invalid rate %q: it must start with a number; %s", in, rateExample)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q: %q is not a number; %s", in, num, rateExample)
	}
	mult, bits, err := parseUnit(unit, true, perSecond)
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q: %v; %s", in, err, rateExample)
	}
	if v == 0 {
		return 0, nil
	}
	if unit == "" {
		return 0, fmt.Errorf("invalid rate %q: it has no unit (%sM is %sMiB/s, %sMB/s is decimal, %sMbit/s is bits, %sB/s is bytes); %s", in, num, num, num, num, num, rateExample)
	}
	r := v * mult
	if bits {
		r /= 8
	}
	if r >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid rate %q: it is too large; %s", in, rateExample)
	}
	if r < 1 {
		return 0, fmt.Errorf("invalid rate %q: it is below one byte per second; %s", in, rateExample)
	}
	return Rate(r), nil
}

func splitNumber(s string) (num, unit string) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// parseUnit splits "MiB", "M", "MB", "Mbit", "kbps" and the like into a
// multiplier and whether the unit counts bits.
func parseUnit(unit string, rate, perSecond bool) (mult float64, bits bool, err error) {
	mult = 1
	if unit == "" {
		return 1, false, nil
	}
	power := strings.IndexByte("kmgt", byte(unicode.ToLower(rune(unit[0])))) + 1
	binary := true
	if power > 0 {
		unit = unit[1:]
		if u, ok := strings.CutPrefix(unit, "i"); ok {
			unit = u
		} else if unit != "" {
			// An explicit unit after a bare prefix (MB, Mbit) is SI.
			binary = false
		}
		step := 1024.0
		if !binary {
			step = 1000
		}
		mult = math.Pow(step, float64(power))
	}
	switch strings.ToLower(unit) {
	case "":
		return mult, false, nil
	case "b":
		if unit == "b" && rate {
			return 0, false, fmt.Errorf("a lowercase \"b\" is ambiguous, use \"B\" for bytes or \"bit\" for bits")
		}
		return mult, false, nil
	case "bps":
		if !rate {
			return 0, false, fmt.Errorf("unknown unit %q", unit)
		}
		if perSecond {
			return 0, false, fmt.Errorf("%q already means per second, drop the \"/s\"", unit)
		}
		return mult, unit == "bps", nil
	case "bit", "bits":
		if !rate {
			return 0, false, fmt.Errorf("unknown unit %q", unit)
		}
		return mult, true, nil
	}
	return 0, false, fmt.Errorf("unknown unit %q", unit)
}

var binaryUnits = []string{"B", "KiB", "MiB", "GiB", "TiB"}

// String writes s in the largest binary unit that divides it (64MiB), else
// with one decimal in the largest unit below it (1.5GiB).
func (s Size) String() string {
	n := int64(s)
	i, v := 0, n
	for i < len(binaryUnits)-1 && v >= 1024 && v%1024 == 0 {
		v /= 1024
		i++
	}
	if i == 0 && n >= 1024 {
		f := float64(n)
		for i < len(binaryUnits)-1 && f >= 1024 {
			f /= 1024
			i++
		}
		return strconv.FormatFloat(f, 'f', 1, 64) + binaryUnits[i]
	}
	return strconv.FormatInt(v, 10) + binaryUnits[i]
}

// String writes r like a size per second (64MiB/s); 0 is "0" (no limit).
func (r Rate) String() string {
	if r == 0 {
		return "0"
	}
	return Size(r).String() + "/s"
}

// Bytes is a byte count as people read it in progress and summaries, three
// figures at most: "812 B", "6.0 MiB", "85 MiB", "1.2 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	i := -1
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[i])
	}
	return fmt.Sprintf("%.0f %ciB", v, "KMGTPE"[i])
}

// Count is n with its noun, singular for one: "1 part", "6 parts".
func Count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Duration is an elapsed time, ETA or age in whole seconds and at most two
// units: "34s", "5m12s", "2h03m", "3d04h".
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	const day = 24 * time.Hour
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 2*day:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dd%02dh", d/day, d%day/time.Hour)
}

// Path makes a path safe to print on a terminal or in a log line: as it is
// when it holds only printable characters, else quoted with Go escapes, so
// that a "\r" or an escape sequence in a file name is shown, not obeyed.
func Path(p string) string {
	for _, r := range p {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return strconv.Quote(p)
		}
	}
	return p
}

// Text makes message text from elsewhere (a server's error, an S3 answer)
// safe to print on a terminal or in a log line: control characters (C0,
// C1, DEL, newlines included), invalid UTF-8 and the bidirectional
// overrides are shown as Go escapes ("\x1b", "\u202e") instead of being
// obeyed; the rest is kept as it is.
func Text(s string) string {
	if !needsEscape(s, false) {
		return s
	}
	return escape(s, false)
}

// Lines is Text for a message of several lines of vidup's own (a list of
// problems): the newlines between them stay, everything else Text escapes
// is escaped.
func Lines(s string) string {
	if !needsEscape(s, true) {
		return s
	}
	return escape(s, true)
}

func needsEscape(s string, keepNewline bool) bool {
	for i, r := range s {
		if unsafeRune(r) && !(keepNewline && r == '\n') {
			return true
		}
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return true
			}
		}
	}
	return false
}

func escape(s string, keepNewline bool) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case r == '\n' && keepNewline:
			b.WriteByte('\n')
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

// unsafeRune: a rune a terminal may obey rather than show.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || // C0, DEL, C1 (U+009B is a CSI)
		r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || // bidi embeddings, overrides, isolates
		r == 0x200e || r == 0x200f || r == 0x061c // bidi marks
}
