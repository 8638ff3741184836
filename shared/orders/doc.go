// Package orders keeps the state of app-pay and pre-auth orders and applies Alipay's
// notifications to it exactly once.
//
// Every change is decided by one pure function over the current item (machine.go, shared
// by both stores) and written with one conditional write, so that retries by apps,
// cashiers and Alipay, and many concurrent Lambda copies, can neither charge twice, move a
// finished order back, nor lose a payment:
//
//   - creates are conditional puts; the same key with the same params hash replays the
//     stored reply, other params conflict;
//   - a voucher request calling the gateway holds a lease (random token + expiry); only
//     the token holder may record the outcome;
//   - a notification is applied by one conditional update that also records its
//     notify_id, so a redelivery is recognised (Duplicate) and a late or out-of-order
//     notice leaves the state alone (Stale).
//
// MemoryStore (tests, local mode) and DynamoStore (production) have identical semantics,
// checked by the conformance suite in package storetest.
package orders
