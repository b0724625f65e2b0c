// Package executor runs builds outside the reconcile loop. An Executor takes a job (a
// deterministic name, the FlashArchive that owns it, and a build request as JSON), runs
// `flarecast archive build` for it somewhere, and answers what became of it: Pending,
// Running, Succeeded (with the archive digest when it knows it) or Failed (with a message).
//
// Two implementations: Local runs the command as a subprocess of the manager, keeps each
// job's state in a directory (so a restarted manager finds finished results again) and calls
// back when a job ends; Job creates a Kubernetes batch/v1 Job per build, whose status is the
// state. Neither interprets the request: package build does. A Customizer (Local) can also
// say how to get a shell in a paused build's root and end the pause.
package executor
