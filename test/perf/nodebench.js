'use strict';
// Times the official Alipay Node SDK on the work our hot paths do, for a side-by-side
// with the Go benchmarks (BenchmarkNodeSDK runs it).
//
//   node nodebench.js <module root> <op> <ops>     fixture JSON on stdin
//
// op: sdkExecute (the app-pay orderStr), checkNotifySignV2 or checkNotifySign (one
// notification's signature). After a warm-up the op runs <ops> times in one loop timed
// with process.hrtime.bigint(); the reply is one JSON line:
//   {"op", "ops", "ns_per_op", "sdk_version", "node_version", "sample"}
// where sample is the op's result (the orderStr, or the verdict) for the caller to check.

const path = require('node:path');
const fs = require('node:fs');
const { createRequire } = require('node:module');

const [root, op, opsArg] = process.argv.slice(2);
const ops = Number.parseInt(opsArg, 10);
if (!root || !op || !(ops > 0)) {
  process.stderr.write('usage: node nodebench.js <module root> <op> <ops> < fixture.json\n');
  process.exit(2);
}
const requireFromRoot = createRequire(path.join(root, 'package.json'));
const { AlipaySdk } = requireFromRoot('alipay-sdk');
const sdkVersion = requireFromRoot('alipay-sdk/package.json').version;

const fixture = JSON.parse(fs.readFileSync(0, 'utf8'));
const sdk = new AlipaySdk({
  appId: fixture.app_id,
  privateKey: fs.readFileSync(fixture.app_private_key_file, 'utf8'),
  keyType: 'PKCS1',
  alipayPublicKey: fs.readFileSync(fixture.alipay_public_key_file, 'utf8'),
});

// Each op gets what a Node service would hold at that point: the request's business
// parameters as an object, or the notification as parsed by the web framework.
let run;
switch (op) {
  case 'sdkExecute': {
    const params = { notify_url: fixture.notify_url, biz_content: JSON.parse(fixture.biz_content) };
    run = () => sdk.sdkExecute('alipay.trade.app.pay', params, { bizContentAutoSnakeCase: false });
    break;
  }
  case 'checkNotifySignV2':
  case 'checkNotifySign': {
    const postData = Object.fromEntries(new URLSearchParams(fixture.notification));
    // The SDK copies postData before touching it; a fresh copy per op keeps it so.
    run = () => sdk[op]({ ...postData });
    break;
  }
  default:
    process.stderr.write(`unknown op ${op}\n`);
    process.exit(2);
}

const warmup = Math.max(200, Math.min(ops, 1000));
let sample;
for (let i = 0; i < warmup; i++) sample = run();
const t0 = process.hrtime.bigint();
for (let i = 0; i < ops; i++) sample = run();
const elapsed = process.hrtime.bigint() - t0;

process.stdout.write(JSON.stringify({
  op, ops, ns_per_op: Number(elapsed) / ops, sdk_version: sdkVersion, node_version: process.version, sample,
}) + '\n');
