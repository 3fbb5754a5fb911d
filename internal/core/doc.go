// Package core is oncallgate's domain: access requests as oncallgate sees
// them, the targets they are routed to, the alert mappings that track them,
// the rules that decide auto-approval and webhook reviews, and the use cases
// the three Lambda handlers call.
//
// It declares the narrow interfaces it needs from the outside world
// (Teleport, Store, the per-provider notifiers and on-call directories,
// Clock) and never imports an adapter: no AWS SDK, no HTTP client, no gRPC
// here. Adapters classify their failures into the error kinds of errors.go;
// core decides what to do with them.
package core
