// Package reliability holds no production code: its tests are the project's evidence of
// reliability, security and interoperability. They run the real slices (apppay, preauth,
// notify) behind an HTTP server on 127.0.0.1 with the order store on dynalite, the
// sandbox gateway simulator and the official Node SDK as an independent oracle, then
// attack, break and cross-check them:
//
//   - interop: every orderStr the running apppay handler returns verifies with the SDK,
//     and the simulator's signed gateway replies verify with the SDK's reply check;
//   - adversarial notifications: a corpus of forged, tampered, replayed, truncated,
//     oversized, mis-encoded and garbage bodies never gets "success" nor changes an
//     order, while genuine duplicates and reordered notices are applied exactly once;
//   - faults: the store stopped mid-stream, Secrets Manager down at cold start, gateway
//     timeouts and bad replies, and concurrent identical voucher requests;
//   - security: no key material in any log line or reply of the whole suite, body
//     limits, and JWT scoping through the Lambda adapter.
//
// `go test ./test/reliability/` runs the short forms; RELIABILITY_SOAK=1 (make soak)
// runs the same tests with larger counts. RELIABILITY.md at the module root records what
// each test tries and what it measured.
package reliability
