package transfer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vidup/vidup/internal/contract"
)

// S3's limits on multipart uploads.
const (
	MinPartSize = 5 << 20
	MaxPartSize = contract.MaxPartSize
	MaxParts    = contract.MaxParts
	// MaxObjectSize is the largest object S3 accepts (48.8 TiB).
	MaxObjectSize = contract.MaxObjectSize
)

// DefaultPartSize is the part size of files small enough for it to keep
// under MaxParts: large enough that per-request costs vanish, small enough
// that a retried part costs little.
const DefaultPartSize = 16 << 20

// ChoosePartSize returns the part size for a file of size bytes. requested
// is the user's --part-size (0: automatic). The automatic size starts at
// DefaultPartSize and doubles until the file fits in MaxParts parts; a
// requested size too small for the file is an error that names the
// smallest one that works.
func ChoosePartSize(size, requested int64) (int64, error) {
	if requested != 0 {
		if err := CheckPartSize(requested); err != nil {
			return 0, err
		}
		if size > 0 && ceilDiv(size, requested) > MaxParts {
			need, _ := ChoosePartSize(size, 0)
			return 0, fmt.Errorf("part size %s would need more than %d parts for %s; use --part-size %s or more, or leave it automatic",
				FormatSize(requested), MaxParts, FormatSize(size), FormatSize(need))
		}
		return requested, nil
	}
	if size > MaxObjectSize {
		return 0, fmt.Errorf("%s is larger than S3's largest object (%s)", FormatSize(size), FormatSize(MaxObjectSize))
	}
	ps := int64(DefaultPartSize)
	for size > 0 && ceilDiv(size, ps) > MaxParts {
		ps *= 2
	}
	if ps > MaxPartSize {
		ps = MaxPartSize
	}
	return ps, nil
}

// CheckPartSize tells whether S3 accepts parts of n bytes.
func CheckPartSize(n int64) error {
	if n < MinPartSize || n > MaxPartSize {
		return fmt.Errorf("part size %s is out of S3's range: use 5MiB to 5GiB", FormatSize(n))
	}
	return nil
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000}, {"tb", 1000 * 1000 * 1000 * 1000},
	// Single letters are binary, as in dd, curl and most S3 tools: 64M is 64MiB.
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1}, {"", 1},
}

// ParseSize reads a byte size: 16MiB, 64M (= 64MiB), 1GiB, 500MB, 1048576.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		num = strings.TrimSpace(num)
		if num == "" {
			break
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 {
			break
		}
		if n > (1<<62)/u.mult {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return n * u.mult, nil
	}
	return 0, fmt.Errorf("size %q is not a size; write it like 16MiB, 64M or 1GiB", s)
}

// FormatSize writes n in the largest binary unit that divides it, else in
// one decimal of the largest unit below it.
func FormatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i, v := 0, n
	for i < len(units)-1 && v >= 1024 && v%1024 == 0 {
		v /= 1024
		i++
	}
	if i == 0 && n >= 1024 {
		f := float64(n)
		for i < len(units)-1 && f >= 1024 {
			f /= 1024
			i++
		}
		return strconv.FormatFloat(f, 'f', 1, 64) + units[i]
	}
	return strconv.FormatInt(v, 10) + units[i]
}
