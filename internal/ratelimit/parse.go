package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// rateExample ends every parse error so that the user sees a form that works.
const rateExample = "write it like 50MiB/s, 400Mbit/s, 10M or 0 for no limit"

// ParseRate reads a bandwidth such as "50MiB/s", "400Mbit/s", "10M" or
// "1.5GB/s" and returns it in bytes per second. "" and "0" mean no limit and
// return 0.
//
// The grammar is NUMBER [PREFIX] [UNIT] ["/s"]:
//   - PREFIX k, M, G, T (any case) are decimal (1000); Ki, Mi, Gi, Ti are
//     binary (1024).
//   - UNIT "B" or "Bps", or no unit at all, counts bytes; "bit", "bits" or
//     "bps" counts bits (divided by 8).
//   - A lone lowercase "b" ("10Mb") is refused: people write it for both
//     megabits and megabytes, and guessing wrong is off by a factor of eight.
//
// The result is rounded down to whole bytes; a positive rate below one byte
// per second is an error rather than a silent "unlimited".
func ParseRate(s string) (int64, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, nil
	}
	rest := in
	perSecond := false
	if before, ok := strings.CutSuffix(rest, "/s"); ok {
		rest, perSecond = before, true
	}

	numEnd := 0
	for numEnd < len(rest) && (rest[numEnd] >= '0' && rest[numEnd] <= '9' || rest[numEnd] == '.') {
		numEnd++
	}
	if numEnd == 0 {
		if strings.HasPrefix(rest, "-") {
			return 0, fmt.Errorf("invalid rate %q: a rate cannot be negative; %s", in, rateExample)
		}
		return 0, fmt.Errorf("invalid rate %q: it must start with a number; %s", in, rateExample)
	}
	value, err := strconv.ParseFloat(rest[:numEnd], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q: %q is not a number; %s", in, rest[:numEnd], rateExample)
	}
	unit := strings.TrimSpace(rest[numEnd:])

	multiplier, bits, err := parseUnit(unit, perSecond)
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q: %v; %s", in, err, rateExample)
	}
	if value == 0 {
		return 0, nil
	}
	bytesPerSec := value * multiplier
	if bits {
		bytesPerSec /= 8
	}
	if bytesPerSec >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid rate %q: it is too large; %s", in, rateExample)
	}
	if bytesPerSec < 1 {
		return 0, fmt.Errorf("invalid rate %q: it is below one byte per second; %s", in, rateExample)
	}
	return int64(bytesPerSec), nil
}

// parseUnit splits "MiB", "Mbit", "kbps", "G" and the like into a
// multiplier and whether the unit counts bits.
func parseUnit(unit string, perSecond bool) (multiplier float64, bits bool, err error) {
	multiplier = 1
	if unit == "" {
		return multiplier, false, nil
	}
	var base float64
	switch unit[0] {
	case 'k', 'K':
		base = 1
	case 'm', 'M':
		base = 2
	case 'g', 'G':
		base = 3
	case 't', 'T':
		base = 4
	}
	if base > 0 {
		unit = unit[1:]
		step := 1000.0
		if strings.HasPrefix(unit, "i") {
			step = 1024
			unit = unit[1:]
		}
		multiplier = math.Pow(step, base)
	}

	switch unit {
	case "", "B":
		return multiplier, false, nil
	case "Bps":
		if perSecond {
			return 0, false, fmt.Errorf("%q already means per second, drop the \"/s\"", "Bps")
		}
		return multiplier, false, nil
	case "bit", "bits":
		return multiplier, true, nil
	case "bps":
		if perSecond {
			return 0, false, fmt.Errorf("%q already means per second, drop the \"/s\"", "bps")
		}
		return multiplier, true, nil
	case "b":
		return 0, false, fmt.Errorf("a lowercase \"b\" is ambiguous, use \"B\" for bytes or \"bit\" for bits")
	}
	return 0, false, fmt.Errorf("unknown unit %q", unit)
}
