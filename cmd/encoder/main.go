// Command encoder is vidup's reference encoding step: a webhook receiver of
// vidup serve that makes an HLS rendition of every registered video and sets
// its status (docs/recipes.md). Run it with `go run ./cmd/encoder`.
package main

import (
	"os"

	"github.com/vidup/vidup/internal/encoder"
)

func main() { os.Exit(encoder.Main(os.Args[1:], os.Stderr, os.Getenv)) }
