// Command flarecast is the single binary of the project: its subcommands are the manager
// (controllers), the install server, the node agent, and the archive and model tools.
package main

import (
	"fmt"
	"os"

	"github.com/flarecast/flarecast/internal/cli"
)

func main() {
	err := cli.NewRootCommand().Execute()
	if err != nil {
		var ee *cli.ExitError
		// A bare ExitError has already printed what it had to say.
		if !(asExit(err, &ee) && ee.Err == nil) {
			fmt.Fprintln(os.Stderr, "flarecast:", err)
		}
	}
	os.Exit(cli.ExitCode(err))
}

func asExit(err error, target **cli.ExitError) bool {
	e, ok := err.(*cli.ExitError)
	if ok {
		*target = e
	}
	return ok
}
