package transfer

import (
	"testing"

	"github.com/vidup/vidup/internal/units"
)

// The growing part size lets a stream reach 9 TiB within 10,000 parts (S3's
// largest object, 48.8 TiB, needs every part at 5 GiB: only a file, whose
// size is known ahead, gets there), and never passes S3's largest part.
func TestStreamPartSize(t *testing.T) {
	for _, first := range []int64{MinPartSize, DefaultPartSize, 64 << 20} {
		var total int64
		for n := int32(1); n <= MaxParts; n++ {
			ps := streamPartSize(first, n)
			if ps < first || ps > MaxPartSize {
				t.Fatalf("first %d: part %d has size %d", first, n, ps)
			}
			if n > 1 && ps < streamPartSize(first, n-1) {
				t.Fatalf("first %d: part %d is smaller than the one before", first, n)
			}
			total += ps
		}
		if total < 9<<40 {
			t.Errorf("first %s: 10,000 parts carry %s, less than 9 TiB", units.Size(first), units.Size(total))
		}
	}
	if got := streamPartSize(MinPartSize, 900); got != MinPartSize {
		t.Errorf("part 900: %d, want the first size", got)
	}
	if got := streamPartSize(MinPartSize, 901); got != 2*MinPartSize {
		t.Errorf("part 901: %d, want twice the first size", got)
	}
}
