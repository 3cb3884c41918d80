// Command vidup uploads video files straight to S3 through a company's API,
// and serves the reference implementation of that API.
package main

import (
	"os"

	"github.com/vidup/vidup/internal/cli"
)

func main() {
	os.Exit(cli.Main())
}
