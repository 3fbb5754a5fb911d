// Package lambdart is a local stand-in for the AWS Lambda Runtime API, for
// tests and `make invoke`: it serves the Runtime API on 127.0.0.1, runs a
// built function binary (the same `bootstrap` the Lambda build makes, built
// for the host) as a child process pointed at it, delivers events and hands
// back what the function answered — a buffered payload, a streamed function
// URL response (status, headers, body), or an error — with the logs the
// process wrote.
//
// It exists so that the real binaries, with their real aws-lambda-go runtime
// client, can be exercised the way `sam local invoke` would, on a machine
// without Docker. It is never used in production and must never be linked
// into a function: in Lambda the Runtime API is provided by the service. It
// listens on loopback only and implements only what a Go runtime client
// uses: invocation/next, invocation/{id}/response (buffered and streamed),
// invocation/{id}/error and init/error. There is no extensions API, no
// concurrency beyond one invocation at a time per process, and no
// re-initialisation after a crash (call Run again).
package lambdart
