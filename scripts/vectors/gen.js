'use strict';
// Vector generator: rebuilds the SDK-produced fields of testdata/vectors/*.json from their
// inputs with the official Alipay Node SDK (alipay-sdk, pinned in package.json) and
// node:crypto, so anyone can check where the committed vectors came from.
//
//   node scripts/vectors/gen.js <module root> <out dir>   (make vectors: out = testdata/vectors)
//
// Each case keeps its INPUTS (parameter maps, fixed timestamps, sign content, raw bodies,
// key and certificate files); this script recomputes from them, with the SDK:
//   key_formats.json      expected_sign, every variant's sdk_result (sign or the SDK's error)
//   cert_sn.json          every SN value and md5_input (the string the SDK hashed, captured)
//   request_sign.json     sign_content (captured from the SDK's signer) and sign, every case
//                         but the AES one (its biz_content is ciphertext)
//   app_pay_orderstr.json sign_content and sign over the decoded params
//   notify.json           signature_valid, sdk.checkNotifySign / sdk.checkNotifySignV2
//                         verdicts on the raw body (UTF-8 cases; the SDK cannot read GBK)
//   response_verify.json  sdk.checkResponseSign verdict (public-key-mode cases)
// Everything else (notes, raw bodies, wire captures, exec() verdicts, cert-mode and AES
// cases, and the fields the original generator arranged itself: notification bodies
// form-encoded from the signed params, GBK bytes, order_str_sorted_form_encoded) is
// carried over unchanged. The Go test TestCommittedVectorsMatchTheSDK
// (test/harness/nodeoracle) runs this script into a temp dir and fails on any
// difference; make vectors-check does the same from the command line.

const fs = require('node:fs');
const path = require('node:path');
const querystring = require('node:querystring');
const { createRequire } = require('node:module');
const nodeCrypto = require('node:crypto');

const [rootArg, outDir] = process.argv.slice(2);
const root = rootArg && path.resolve(rootArg);
if (!rootArg || !outDir) {
  process.stderr.write('usage: node gen.js <module root> <out dir>\n');
  process.exit(2);
}
// The SDK formats timestamps in the process zone; Alipay's clock is China time.
process.env.TZ = 'Asia/Shanghai';

const requireFromRoot = createRequire(path.join(root, 'package.json'));
const { AlipaySdk } = requireFromRoot('alipay-sdk');
const sdkDir = path.dirname(requireFromRoot.resolve('alipay-sdk'));
const sdkUtil = requireFromRoot(path.join(sdkDir, 'util.js'));
const certUtil = requireFromRoot(path.join(sdkDir, 'antcertutil.js'));

const td = path.join(root, 'testdata');
const vec = name => JSON.parse(fs.readFileSync(path.join(td, 'vectors', name), 'utf8'));
const file = rel => fs.readFileSync(path.join(td, rel), 'utf8');
const APP_ID = '2021000000000001';

// Capture what the SDK hands to node:crypto: it reads these properties at call time.
let captured = null;
for (const fn of ['createSign', 'createVerify', 'createHash']) {
  const real = nodeCrypto[fn];
  nodeCrypto[fn] = function wrapped(alg, opts) {
    const obj = real.call(this, alg, opts);
    if (captured !== null) {
      const update = obj.update.bind(obj);
      obj.update = (data, enc) => {
        captured.push({ fn, alg, data: String(data) });
        return update(data, enc);
      };
    }
    return obj;
  };
}
function capture(f) {
  captured = [];
  try {
    const result = f();
    return { result, seen: captured };
  } finally {
    captured = null;
  }
}

function must(cond, msg) {
  if (!cond) throw new Error(msg);
}

const appKey = file('keys/app_private_pkcs1.pem');
const alipayPub = file('keys/alipay_public.txt').trim();
const sdk = new AlipaySdk({ appId: APP_ID, privateKey: appKey, keyType: 'PKCS1', alipayPublicKey: alipayPub });

// sdkSign: the SDK's request signer over a full parameter map (common parameters in the
// map override the SDK's defaults, biz_content passed as the object it serialises).
function sdkSign(params, client = sdk) {
  const p = { ...params };
  delete p.sign;
  if (typeof p.biz_content === 'string') p.biz_content = JSON.parse(p.biz_content);
  const { result, seen } = capture(() => sdkUtil.sign(p.method, p, client.config, { bizContentAutoSnakeCase: false }));
  const signs = seen.filter(s => s.fn === 'createSign');
  must(signs.length === 1, `expected one signing, saw ${signs.length}`);
  return { sign_content: signs[0].data, sign: String(result.sign) };
}

function parseContent(content) {
  const params = {};
  for (const pair of content.split('&')) {
    const i = pair.indexOf('=');
    params[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return params;
}

// ---- key_formats.json
function keyFormats() {
  const v = vec('key_formats.json');
  const params = parseContent(v.sign_content);
  for (const variant of v.variants) {
    let text = file(variant.file);
    if (/CRLF/.test(variant.container)) text = text.replace(/\r?\n/g, '\r\n');
    const keyType = /^PKCS8/.test(variant.sdk_keyType) ? 'PKCS8' : 'PKCS1';
    try {
      const client = new AlipaySdk({ appId: APP_ID, privateKey: text, keyType, alipayPublicKey: alipayPub });
      const r = sdkSign(params, client);
      must(r.sign_content === v.sign_content, `${variant.file}: the SDK signed ${r.sign_content}`);
      variant.sdk_result = { sign: r.sign };
    } catch (e) {
      variant.sdk_result = { error: String(e) };
    }
  }
  v.expected_sign = v.variants[0].sdk_result.sign;
  return v;
}

// ---- cert_sn.json
function certSN() {
  const v = vec('cert_sn.json');
  const sn = (rel, isRoot) => {
    const { result, seen } = capture(() => certUtil.getSN(file(rel), isRoot));
    return { value: result, inputs: seen.filter(s => s.fn === 'createHash').map(s => s.data) };
  };
  const leaf = (entry, rel) => {
    const r = sn(rel, false);
    entry.value = r.value;
    entry.md5_input = r.inputs[0];
  };
  leaf(v.app_cert_sn, v.files.app_cert);
  leaf(v.alipay_cert_sn, v.files.alipay_public_cert);
  leaf(v.odd_rdn_order_issuer, v.files.odd_order_issuer_cert);
  const r = sn(v.files.alipay_root_cert, true);
  v.alipay_root_cert_sn.value = r.value;
  const counted = v.alipay_root_cert_sn.certificates_in_file_order.filter(c => c.counts_for_root_sn);
  must(counted.length === r.inputs.length, `root SN: the SDK hashed ${r.inputs.length} certificates`);
  counted.forEach((c, i) => {
    c.md5_input = r.inputs[i];
    c.md5 = nodeCrypto.createHash('md5').update(r.inputs[i], 'utf8').digest('hex');
  });
  return v;
}

// ---- request_sign.json
function requestSign() {
  const v = vec('request_sign.json');
  const certClient = new AlipaySdk({
    appId: APP_ID, privateKey: appKey, keyType: 'PKCS1',
    appCertContent: file('certs/app_cert.crt'),
    alipayPublicCertContent: file('certs/alipay_public_cert.crt'),
    alipayRootCertContent: file('certs/alipay_root_cert.crt'),
  });
  for (const c of v.cases) {
    if (c.aes_key_file) continue; // biz_content is ciphertext: carried over
    const client = /certificate mode/.test(c.sdk_call) ? certClient : sdk;
    const r = sdkSign(c.params, client);
    c.sign_content = r.sign_content;
    c.sign = r.sign;
  }
  return v;
}

// ---- app_pay_orderstr.json
function appPay() {
  const v = vec('app_pay_orderstr.json');
  for (const c of v.cases) {
    const r = sdkSign(c.params);
    c.sign_content = r.sign_content;
    c.sign = r.sign;
  }
  return v;
}

// ---- notify.json
// verdict is "ok"/true/false or "throws <name>: <message>", cut at 184 characters plus
// "..." as the committed vectors record it (the SDK's messages repeat the whole reply).
function verdict(f) {
  try {
    return f();
  } catch (e) {
    const msg = `throws ${e.name}: ${e.message}`;
    return msg.length > 184 ? `${msg.slice(0, 184)}...` : msg;
  }
}
// Inputs changed after the vectors were first generated. Real unfreeze notices carry
// notify_type=fund_auth_unfreeze, not fund_auth_freeze (docs/lifecycle.md L12, L2.4); no
// real notice with operation_type=PAY was ever seen (L1.5), so that case carries no
// notify_type at all and is classified by the fund-auth rule of docs/protocol.md §8.6
// instead of by a label Alipay was never seen to send. A relabelled case is signed again
// (node:crypto, the Alipay test key) over the content the SDK's notification check builds,
// and its body keeps its field order.
const NOTIFY_INPUTS = {
  fund_auth_unfreeze_success: { notify_type: 'fund_auth_unfreeze', kind: 'fund_auth_unfreeze' },
  fund_auth_pay_success: { notify_type: null, kind: 'fund_auth_freeze' },
};
function javaEncode(v) {
  return encodeURIComponent(v).replace(/%20/g, '+').replace(/[!'()*~]/g, ch => '%' + ch.charCodeAt(0).toString(16).toUpperCase());
}
function relabel(c, input) {
  const params = { ...c.params };
  if (input.notify_type === null) delete params.notify_type;
  else params.notify_type = input.notify_type;
  // The content the SDK verifies against: what its check hands to node:crypto.
  const { seen } = capture(() => sdk.checkNotifySignV2({ ...params, sign: 'AAAA', sign_type: 'RSA2' }));
  // The SDK checks the content without sign_type first (and, failing, once more with it).
  const verifies = seen.filter(x => x.fn === 'createVerify' && !/(^|&)sign_type=/.test(x.data));
  must(verifies.length === 1, `${c.name}: expected one verification without sign_type, saw ${verifies.length}`);
  const content = verifies[0].data;
  const priv = nodeCrypto.createPrivateKey(file(notifyKeys.alipay_private_key));
  const sign = nodeCrypto.sign('RSA-SHA256', Buffer.from(content, 'utf8'), priv).toString('base64');
  params.sign = sign;
  let body = c.body.replace(/(^|&)notify_type=[^&]*/, '');
  if (body.startsWith('&')) body = body.slice(1);
  if (input.notify_type !== null) body = `notify_type=${javaEncode(input.notify_type)}&${body}`;
  body = body.replace(/(^|&)sign=[^&]*/, `$1sign=${javaEncode(sign)}`);
  // Keep the params' own order (notify_type first, as Alipay writes it).
  const ordered = {};
  if (params.notify_type !== undefined) ordered.notify_type = params.notify_type;
  for (const [k, val] of Object.entries(params)) if (k !== 'notify_type') ordered[k] = val;
  c.params = ordered;
  c.kind = input.kind;
  c.sign_content = content;
  c.body = body;
}
let notifyKeys;
function notify() {
  const v = vec('notify.json');
  notifyKeys = v.keys;
  const pub = nodeCrypto.createPublicKey(file('keys/alipay_public.pem'));
  for (const c of v.cases) {
    if (NOTIFY_INPUTS[c.name]) relabel(c, NOTIFY_INPUTS[c.name]);
    if (c.charset.toLowerCase() !== 'utf-8') continue; // the SDK reads UTF-8 only: carried over
    const parsed = querystring.parse(c.body);
    const sign = typeof parsed.sign === 'string' ? parsed.sign : '';
    c.signature_valid = sign !== '' && typeof c.sign_content === 'string' && nodeCrypto.verify('RSA-SHA256', Buffer.from(c.sign_content, 'utf8'), pub, Buffer.from(sign, 'base64'));
    c.sdk = {
      checkNotifySign: verdict(() => sdk.checkNotifySign({ ...querystring.parse(c.body) })),
      checkNotifySignV2: verdict(() => sdk.checkNotifySignV2({ ...querystring.parse(c.body) })),
    };
  }
  return v;
}

// ---- response_verify.json
function responseVerify() {
  const v = vec('response_verify.json');
  for (const c of v.cases) {
    if (c.alipay_cert_sn || c.aes_key_file) continue; // cert-mode / AES replies: carried over
    c.sdk.checkResponseSign = verdict(() => {
      sdk.checkResponseSign(c.raw_body, c.node_name, JSON.parse(c.raw_body).sign);
      return 'ok';
    });
  }
  return v;
}

const outputs = {
  'key_formats.json': keyFormats,
  'cert_sn.json': certSN,
  'request_sign.json': requestSign,
  'app_pay_orderstr.json': appPay,
  'notify.json': notify,
  'response_verify.json': responseVerify,
};
fs.mkdirSync(outDir, { recursive: true });
for (const [name, build] of Object.entries(outputs)) {
  fs.writeFileSync(path.join(outDir, name), JSON.stringify(build(), null, 2) + '\n');
}
