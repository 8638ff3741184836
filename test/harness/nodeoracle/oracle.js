'use strict';
// Test oracle: the official Alipay Node SDK behind a newline-delimited JSON protocol on
// stdin/stdout. One request per line ({id, op, ...}), one reply per line
// ({id, ok, result} or {id, ok: false, error}). Started by nodeoracle.Start with the
// module root as its only argument; packages are resolved from <root>/node_modules.
//
// Everything the SDK computes comes from the SDK itself. The only things this script
// does by hand are what Alipay's servers do (sign a notification, decode an orderStr)
// and capturing the exact string the SDK hands to node:crypto.

const path = require('node:path');
const readline = require('node:readline');
const { createRequire } = require('node:module');
const nodeCrypto = require('node:crypto');

const root = process.argv[2];
if (!root) {
  process.stderr.write('usage: node oracle.js <module root>\n');
  process.exit(2);
}
const requireFromRoot = createRequire(path.join(root, 'package.json'));
const { AlipaySdk } = requireFromRoot('alipay-sdk');
const sdkVersion = requireFromRoot('alipay-sdk/package.json').version;
// util.js is not in the package's "exports"; an absolute path reaches the same module
// instance alipay.js uses, so `sign` here is the SDK's own request signer.
const sdkUtil = requireFromRoot(path.join(path.dirname(requireFromRoot.resolve('alipay-sdk')), 'util.js'));

// The SDK signs with (0, crypto.createSign)(alg).update(content, 'utf8'), reading the
// property at call time, so wrapping it here lets us see the content it signed.
const realCreateSign = nodeCrypto.createSign;
let captured = null;
nodeCrypto.createSign = function createSign(algorithm, options) {
  const signer = realCreateSign.call(this, algorithm, options);
  if (captured !== null) {
    const update = signer.update.bind(signer);
    signer.update = (data, encoding) => {
      captured.push({ algorithm, data: String(data), encoding: encoding || '' });
      return update(data, encoding);
    };
  }
  return signer;
};

let sdks = null; // { PKCS1, PKCS8, appSide, alipayPrivateKey }

function need(cond, msg) {
  if (!cond) throw new TypeError(msg);
}

function stringMap(obj, what) {
  need(obj && typeof obj === 'object' && !Array.isArray(obj), `${what} must be an object`);
  for (const [k, v] of Object.entries(obj)) {
    need(typeof v === 'string', `${what}.${k} must be a string`);
  }
  return obj;
}

function sdkFor(keyType) {
  need(sdks !== null, 'init first');
  const sdk = sdks[keyType || 'PKCS1'];
  need(sdk, `unknown key_type ${keyType}`);
  return sdk;
}

// bizObject turns biz_content text into the object the SDK expects: it serialises
// biz_content itself with JSON.stringify, so only text in that canonical form round-trips.
function bizObject(text) {
  let obj;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new TypeError(`biz_content is not JSON: ${e.message}`);
  }
  need(obj && typeof obj === 'object' && !Array.isArray(obj), 'biz_content must be a JSON object');
  return obj;
}

// parseForm decodes application/x-www-form-urlencoded text with the WHATWG parser
// (what Node web frameworks use): '+' is a space, %XX a UTF-8 byte. Duplicate keys are an
// error, since a plain object could keep only one of them.
function parseForm(text) {
  const out = {};
  for (const [k, v] of new URLSearchParams(text)) {
    need(!Object.prototype.hasOwnProperty.call(out, k), `duplicate key ${k}`);
    out[k] = v;
  }
  return out;
}

const ops = {
  init(req) {
    const keys = req.keys || {};
    for (const k of ['app_id', 'app_private_key_pkcs1', 'app_private_key_pkcs8', 'alipay_public_key', 'app_public_key', 'alipay_private_key']) {
      need(typeof keys[k] === 'string' && keys[k] !== '', `keys.${k} is required`);
    }
    sdks = {
      PKCS1: new AlipaySdk({ appId: keys.app_id, privateKey: keys.app_private_key_pkcs1, keyType: 'PKCS1', alipayPublicKey: keys.alipay_public_key }),
      PKCS8: new AlipaySdk({ appId: keys.app_id, privateKey: keys.app_private_key_pkcs8, keyType: 'PKCS8', alipayPublicKey: keys.alipay_public_key }),
      // Verifies what the app signed (orderStr) the way the SDK verifies what Alipay
      // signed: its notification checker with the app public key in Alipay's place.
      appSide: new AlipaySdk({ appId: keys.app_id, privateKey: keys.app_private_key_pkcs1, alipayPublicKey: keys.app_public_key }),
      alipayPrivateKey: nodeCrypto.createPrivateKey(keys.alipay_private_key),
    };
    return { sdk_version: sdkVersion };
  },

  // sign: the SDK's request signer on a parameter map. Common parameters present in the
  // map override the SDK's defaults; biz_content (JSON text) is passed as an object.
  sign(req) {
    const sdk = sdkFor(req.key_type);
    const params = { ...stringMap(req.params, 'params') };
    need(typeof params.method === 'string', 'params.method is required');
    if (Object.prototype.hasOwnProperty.call(params, 'biz_content')) {
      params.biz_content = bizObject(params.biz_content);
    }
    captured = [];
    let signed;
    let seen;
    try {
      signed = sdkUtil.sign(params.method, params, sdk.config, { bizContentAutoSnakeCase: false });
    } finally {
      seen = captured;
      captured = null;
    }
    need(seen.length === 1, `expected one signing, saw ${seen.length}`);
    const out = {};
    for (const [k, v] of Object.entries(signed)) out[k] = String(v);
    return { content: seen[0].data, algorithm: seen[0].algorithm, sign: out.sign, params: out };
  },

  // sdkExecute: the app-pay orderStr exactly as the SDK returns it.
  sdkExecute(req) {
    const sdk = sdkFor(req.key_type);
    const biz = {};
    // Insertion order is the order the SDK writes the parameters in.
    for (const k of ['timestamp', 'notify_url', 'app_auth_token']) {
      if (typeof req[k] === 'string' && req[k] !== '') biz[k] = req[k];
    }
    biz.biz_content = bizObject(req.biz_content);
    const orderStr = sdk.sdkExecute(req.method || 'alipay.trade.app.pay', biz, { bizContentAutoSnakeCase: false });
    return { order_str: orderStr };
  },

  // checkOrderStr: decode an orderStr and verify its sign with the app public key
  // through the SDK's checkNotifySignV2 (content: every parameter but sign, sorted).
  checkOrderStr(req) {
    need(typeof req.order_str === 'string', 'order_str is required');
    need(sdks !== null, 'init first');
    const params = parseForm(req.order_str);
    return { verified: sdks.appSide.checkNotifySignV2({ ...params }) === true, params };
  },

  // checkNotifyV2: the SDK's checkNotifySignV2 on a parameter map, or on a raw body
  // decoded by the WHATWG form parser.
  checkNotifyV2(req) {
    const sdk = sdkFor('PKCS1');
    const params = typeof req.body === 'string' ? parseForm(req.body) : { ...stringMap(req.params, 'params') };
    return { verified: sdk.checkNotifySignV2({ ...params }) === true, params };
  },

  // signNotify: what Alipay does (protocol §8.2): every parameter except sign and
  // sign_type, blank values left out, keys sorted, k=v joined by '&', RSA-SHA256 over
  // the UTF-8 bytes with the Alipay private key.
  signNotify(req) {
    need(sdks !== null, 'init first');
    const params = stringMap(req.params, 'params');
    const content = Object.keys(params)
      .filter(k => k !== 'sign' && k !== 'sign_type' && params[k].trim() !== '')
      .sort()
      .map(k => `${k}=${params[k]}`)
      .join('&');
    const sign = realCreateSign('RSA-SHA256').update(content, 'utf8').sign(sdks.alipayPrivateKey, 'base64');
    return { content, sign };
  },

  // checkResponse: the SDK's reply check, checkResponseSign(raw, node, sign), with sign
  // read from the parsed body as exec() does. The verdict is "ok" or "throws <name>: <msg>".
  checkResponse(req) {
    const sdk = sdkFor('PKCS1');
    need(typeof req.raw === 'string', 'raw is required');
    const node = req.node || `${String(req.method).replaceAll('.', '_')}_response`;
    try {
      const sign = JSON.parse(req.raw).sign;
      sdk.checkResponseSign(req.raw, node, sign);
      return { verdict: 'ok' };
    } catch (e) {
      return { verdict: `throws ${e.name}: ${e.message}` };
    }
  },

  // sleep answers after ms milliseconds (for the caller's timeout handling).
  sleep(req) {
    return new Promise(resolve => setTimeout(() => resolve({ slept: req.ms }), Number(req.ms) || 0));
  },
};

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function handle(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    reply({ id: null, ok: false, error: `bad request line: ${e.message}` });
    return;
  }
  const id = req.id ?? null;
  const op = Object.prototype.hasOwnProperty.call(ops, req.op) ? ops[req.op] : null;
  if (op === null) {
    reply({ id, ok: false, error: `unknown op ${JSON.stringify(req.op)}` });
    return;
  }
  try {
    reply({ id, ok: true, result: await op(req) });
  } catch (e) {
    reply({ id, ok: false, error: `${e.name}: ${e.message}` });
  }
}

// Requests are answered strictly in order.
let chain = Promise.resolve();
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', line => {
  chain = chain.then(() => handle(line));
});
rl.on('close', () => {
  chain.then(() => process.exit(0));
});

reply({ id: 0, ok: true, result: { ready: true, sdk_version: sdkVersion, node_version: process.version, tz_offset_minutes: -new Date().getTimezoneOffset() } });
