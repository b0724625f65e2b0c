// Command flarecast is the single binary of the project: its subcommands are the manager
// (controllers), the install server, the node agent, and the archive and model tools.
package main

import (
	"context"
	"os"

	"github.com/flarecast/flarecast/internal/cli"
)

func main() {
	os.Exit(cli.Execute(context.Background(), cli.NewRootCommand(), os.Stdout, os.Stderr))
}
