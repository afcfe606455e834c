// Command mcu is the MCU server (`mcu serve`, the default) and its offline
// tools (`mcu dsp` cleans up WAV files with the server's voice processing).
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run dispatches a subcommand and returns the exit code. With no
// subcommand, or only flags, it serves.
func run(args []string, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		return runServe(args)
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:])
	case "dsp":
		return runDSP(args[1:])
	case "help", "-h", "-help", "--help":
		usage(stderr)
		return 0
	default:
		fmt.Fprintf(stderr, "mcu: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: mcu <command> [flags]

commands:
  serve   run the server (the default); see 'mcu serve --help'
  dsp     process WAV files with echo cancellation, noise suppression and AGC;
          see 'mcu dsp --help'
`)
}
