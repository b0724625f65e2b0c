package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/atomicfile"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
)

// buildOutcome is what --result holds: the result of a build, or the failure that stopped
// it when a bound or a check did (its reason is the FlashArchive's).
type buildOutcome struct {
	*build.Result
	Failure *build.Failure `json:"failure,omitempty"`
}

func newArchiveBuildCommand() *cobra.Command {
	var requestFile, resultFile, progressFile, workDir, terminationLog, progressURL, progressTokenFile string
	cmd := &cobra.Command{
		Use:   "build --request FILE [--result FILE] [--progress FILE] [--work-dir DIR]",
		Short: "Build the archive a build request describes (what the manager's executors run)",
		Long: `Build reads a build request (JSON, written by the FlashArchive controller: the archive
to build, its inputs with every ConfigMap and template already resolved, the repository and the
name to tag, and the limits of the build) and builds it: a Generic archive from a rootfs tarball
checked against its digest, a Configured or Deployable one derived from its base's digest. The
request names its own repository; --repo is ignored. The result (manifest digest, sections,
sizes) is printed as JSON and, with --result, written atomically to FILE; a build a limit or a
check stopped writes its failure there instead ({"failure":{"reason":…,"message":…}}).

Downloads and spooled tar contents go under --work-dir (default: a directory "work" beside the
request file), in a directory removed when the build ends. With --progress, FILE says about
once a second how far the build has got ({"stage":…,"bytes":…,"total":…}).

In a pod (what the Job executor runs), --termination-log FILE receives a failed build's reason
and message ({"reason":…,"message":…}, within the kubelet's 4096 bytes), and --progress-url URL
with --progress-token-file FILE sends the progress to the manager's build-progress endpoint,
since the pod has no token for the API server.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if requestFile == "" {
				return usageError(fmt.Errorf("--request FILE is required"))
			}
			var req build.Request
			if err := readJSONFile("--request", requestFile, &req); err != nil {
				return err
			}
			if workDir == "" {
				workDir = filepath.Join(filepath.Dir(requestFile), "work")
			}
			opts := build.Options{WorkDir: workDir}
			var reporters []func(build.Progress)
			if progressFile != "" {
				reporters = append(reporters, progressWriter(progressFile))
			}
			if progressURL != "" {
				// The answer to a paused build's report may be its resume: the file the build
				// waits for, in the work directory (build.ResumeFile).
				resume := func() {
					if err := os.WriteFile(filepath.Join(workDir, build.ResumeFile), nil, 0o600); err != nil {
						fmt.Fprintf(os.Stderr, "flarecast: resume: %v\n", err)
					}
				}
				push, err := progressPusher(cmd.Context(), progressURL, progressTokenFile, resume)
				if err != nil {
					return err
				}
				reporters = append(reporters, push)
			}
			if len(reporters) > 0 {
				opts.Progress = func(p build.Progress) {
					for _, r := range reporters {
						r(p)
					}
				}
			}
			// A pod being deleted (its archive deleted while it builds or waits in a pause) gets
			// SIGTERM first: the build then stops and removes its root within the grace period,
			// rather than dying with it in place.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			res, err := build.Run(ctx, &req, opts)
			if err != nil && terminationLog != "" {
				writeTerminationLog(terminationLog, err)
			}
			if f, ok := build.AsFailure(err); ok && resultFile != "" {
				if werr := writeOutcome(resultFile, buildOutcome{Failure: f}); werr != nil {
					return fmt.Errorf("%w (and --result: %v)", err, werr)
				}
			}
			if err != nil {
				return err
			}
			if resultFile != "" {
				if err := writeOutcome(resultFile, buildOutcome{Result: res}); err != nil {
					return err
				}
			}
			return printJSON(cmd.OutOrStdout(), res)
		},
	}
	cmd.Flags().StringVar(&requestFile, "request", "", "build request, JSON")
	cmd.Flags().StringVar(&resultFile, "result", "", "where to write the result, JSON")
	cmd.Flags().StringVar(&progressFile, "progress", "", "where to write the build's progress, JSON")
	cmd.Flags().StringVar(&workDir, "work-dir", "", "where downloads and spooled contents go while the build runs")
	cmd.Flags().StringVar(&terminationLog, "termination-log", "", "where a failed build writes its reason and message (a pod's /dev/termination-log)")
	cmd.Flags().StringVar(&progressURL, "progress-url", "", "the manager's build-progress endpoint for this build")
	cmd.Flags().StringVar(&progressTokenFile, "progress-token-file", "", "file holding this build's token for --progress-url")
	return cmd
}

func writeOutcome(file string, o buildOutcome) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(file, b, 0o644); err != nil {
		return fmt.Errorf("--result: %w", err)
	}
	return nil
}

// progressWriter writes the latest progress to file at most once a second: a reader (the
// executor) sees whole documents, since each replaces the last by a rename; they need not
// survive a crash, so they are not synced.
func progressWriter(file string) func(build.Progress) {
	var last time.Time
	var stage string
	return func(p build.Progress) {
		if p.Stage == stage && time.Since(last) < time.Second {
			return
		}
		last, stage = time.Now(), p.Stage
		b, _ := json.Marshal(p)
		tmp := file + ".tmp"
		if os.WriteFile(tmp, b, 0o644) == nil {
			os.Rename(tmp, file)
		}
	}
}

// writeTerminationLog writes in place: the kubelet mounts the file itself, so there is no
// directory to rename a temporary file in.
func writeTerminationLog(file string, err error) {
	o := executor.Outcome{Message: err.Error()}
	if f, ok := build.AsFailure(err); ok {
		o = executor.Outcome{Reason: f.Reason, Message: f.Message}
	}
	if werr := os.WriteFile(file, executor.EncodeOutcome(o), 0o644); werr != nil {
		fmt.Fprintf(os.Stderr, "flarecast: --termination-log: %v\n", werr)
	}
}

// progressPusher sends progress to the manager at most once a second, off the build's path:
// a slow or absent endpoint never slows the build, and a report that finds the previous one
// still in flight is dropped (the next one says more anyway).
func progressPusher(ctx context.Context, url, tokenFile string, resume func()) (func(build.Progress), error) {
	if tokenFile == "" {
		return nil, usageError(fmt.Errorf("--progress-url needs --progress-token-file"))
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("--progress-token-file: %w", err)
	}
	token := strings.TrimSpace(string(tok))
	c := &http.Client{Timeout: 2 * time.Second}
	var last time.Time
	var stage string
	var busy atomic.Bool
	return func(p build.Progress) {
		if (p.Stage == stage && time.Since(last) < time.Second) || !busy.CompareAndSwap(false, true) {
			return
		}
		last, stage = time.Now(), p.Stage
		go func() {
			defer busy.Store(false)
			reply, err := executor.PushProgress(ctx, c, url, token, executor.Progress{Stage: p.Stage, Bytes: p.Bytes, Total: p.Total, Root: p.Root})
			if err != nil {
				fmt.Fprintf(os.Stderr, "flarecast: progress report: %v\n", err)
			}
			if reply.Resume && p.Stage == build.StageCustomize {
				resume()
			}
		}()
	}, nil
}
