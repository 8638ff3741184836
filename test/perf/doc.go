// Package perf holds the project's performance measurements and nothing else: hot-path
// benchmarks next to their cryptographic floor (one RSA-2048 sign or verify), the
// official Node SDK doing the same work (nodebench.js), the same paths' CPU over the
// DynamoDB store, cold starts of the Lambda bootstraps under a minimal Runtime API
// stand-in (runtimeapi_test.go, so the figures are the bootstrap process's alone), and a
// bounded load on the local server from a second process (cmd/loaddriver).
// cmd/benchreport runs them all and writes BENCHMARKS.md (`make bench`). The cold-start,
// DynamoDB and load benchmarks need Linux, node and dynalite (npm ci).
//
// The benchmarks report what they measure and never assert timings; they fail when the
// work they time did not happen (a reply other than the success the path exists to
// produce, a notification whose effect is missing).
package perf
