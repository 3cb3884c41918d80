package transfer

import (
	"fmt"

	"github.com/vidup/vidup/internal/contract"
	"github.com/vidup/vidup/internal/units"
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
			return 0, fmt.Errorf("part size %s would need more than %d parts for %s; use a part size of %s or more, or leave it automatic",
				units.Size(requested).String(), MaxParts, units.Size(size).String(), units.Size(need).String())
		}
		return requested, nil
	}
	if size > MaxObjectSize {
		return 0, fmt.Errorf("%s is larger than S3's largest object (%s)", units.Size(size).String(), units.Size(MaxObjectSize).String())
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
		return fmt.Errorf("part size %s is out of S3's range: use 5MiB to 5GiB", units.Size(n).String())
	}
	return nil
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
