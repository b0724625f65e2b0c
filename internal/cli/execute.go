package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Execute runs root with the process's arguments and returns the exit code; it is main's
// body, kept here so that tests run exactly what the binary runs. An error goes to stderr
// as "flarecast: …". A command asked for -o json that fails before writing anything also
// writes {"error": …, "exitCode": …} to stdout, so whatever reads its output always gets
// JSON; one that wrote its result already (verify, model check) keeps that as its output.
func Execute(ctx context.Context, root *cobra.Command, stdout, stderr io.Writer) int {
	out := &countingWriter{w: stdout}
	root.SetOut(out)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	code := ExitCode(err)
	// A bare ExitError has already printed what it had to say.
	if ee, ok := err.(*ExitError); !ok || ee.Err != nil {
		fmt.Fprintln(stderr, "flarecast:", err)
		if cmd != nil && out.n == 0 && wantsJSON(cmd) {
			printJSON(out, struct {
				Error    string `json:"error"`
				ExitCode int    `json:"exitCode"`
			}{err.Error(), code})
		}
	}
	return code
}

// wantsJSON reports whether cmd was given -o json (its own flag or an inherited one).
func wantsJSON(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("output")
	return f != nil && f.Value.String() == "json"
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
