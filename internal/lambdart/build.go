package lambdart

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// Build compiles the Go main package pkg (e.g. "./functions/poller") of the
// module in dir into the executable out, the way the Lambda build does
// (`go build -tags lambda.norpc`) but for the host's OS and architecture,
// so Run can start it. It uses the go command on PATH and this process's
// environment as is: set CGO_ENABLED=0 there for a static binary like the
// deployed one; leaving it alone lets tests reuse the build cache of
// `go build ./...`.
func Build(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	output, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("build %s for the host: %w\n%s", pkg, err, output)
	}
	return nil
}
