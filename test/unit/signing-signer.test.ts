// OpenPgpSigner packet-level behaviour: hash choice, signature types, one
// signature per key, streamed input that is never buffered whole. The real
// verifiers (gpgv, sqv) run in test/e2e/signing-*.test.ts.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import * as openpgp from 'openpgp';
import { hasCode } from '../../repo-layout/errors.js';
import { OpenPgpSigner } from '../../repo-layout/signing/openpgp-signer.js';
import { testKey } from '../support/test-key.js';

const FIXED = new Date('2024-05-01T12:00:00Z');

/** Signer over the cached test key(s) with a pinned clock, so RSA signatures are byte-reproducible. */
async function pinnedSigner(...algorithms: Array<'rsa4096' | 'ed25519'>): Promise<OpenPgpSigner> {
  const keys = await Promise.all(algorithms.map((algorithm) => testKey({ algorithm })));
  return OpenPgpSigner.fromArmored(
    keys.map((k) => k.key.secretArmored),
    { now: () => FIXED },
  );
}

/** Parses a binary or armored detached signature into its packets. */
async function packets(sig: Uint8Array | string): Promise<openpgp.SignaturePacket[]> {
  const s = typeof sig === 'string' ? await openpgp.readSignature({ armoredSignature: sig }) : await openpgp.readSignature({ binarySignature: sig });
  return [...s.packets];
}

/** A Readable of `total` bytes in `chunk`-sized pieces of a repeating pattern, made on demand. */
function patternStream(total: number, chunk = 1 << 16): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(chunk, total - sent);
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = (sent + i) & 0xff;
      sent += n;
      this.push(b);
    },
  });
}

test('detachBinary makes one v4 binary signature with the requested hash (sha512 default)', async () => {
  const signer = await pinnedSigner('rsa4096');
  const data = new TextEncoder().encode('payload\n');
  for (const [hash, id] of [
    [undefined, openpgp.enums.hash.sha512],
    ['sha512', openpgp.enums.hash.sha512],
    ['sha256', openpgp.enums.hash.sha256],
    ['sha1', openpgp.enums.hash.sha1],
  ] as const) {
    const sig = await signer.detachBinary(data, hash ? { hash } : {});
    const [p, ...rest] = await packets(sig);
    assert.equal(rest.length, 0);
    assert.equal(p!.version, 4);
    assert.equal(p!.signatureType, openpgp.enums.signature.binary);
    assert.equal(p!.hashAlgorithm, id, `hash ${hash ?? 'default'}`);
    assert.equal(p!.created?.getTime(), FIXED.getTime());
    assert.equal(sig[0]! & 0x80, 0x80, 'starts with an OpenPGP packet tag');
  }
});

test('signatures verify with openpgp.js, and a changed byte does not', async () => {
  const signer = await pinnedSigner('ed25519');
  const { key } = await testKey({ algorithm: 'ed25519' });
  const verificationKeys = await openpgp.readKey({ armoredKey: key.publicArmored });
  const data = new TextEncoder().encode('Origin: lxl\n');
  const sig = await signer.detachBinary(data);
  const verify = async (bytes: Uint8Array) => {
    const res = await openpgp.verify({
      message: await openpgp.createMessage({ binary: bytes }),
      signature: await openpgp.readSignature({ binarySignature: sig }),
      verificationKeys,
      date: FIXED,
    });
    return res.signatures[0]!.verified;
  };
  assert.equal(await verify(data), true);
  const flipped = data.slice();
  flipped[3] ^= 1;
  await assert.rejects(verify(flipped));
});

test('Ed25519 cannot make SHA-1 signatures: SignError, not a weak signature', async () => {
  const signer = await pinnedSigner('ed25519');
  await assert.rejects(signer.detachBinary('x', { hash: 'sha1' }), (e: unknown) => hasCode(e, 'E_SIGN') && /sha1/.test((e as Error).message));
  const ok = await packets(await signer.detachBinary('x', { hash: 'sha256' }));
  assert.equal(ok[0]!.hashAlgorithm, openpgp.enums.hash.sha256);
});

test('a streamed input gives the same signature as the same bytes in memory', async () => {
  const signer = await pinnedSigner('rsa4096');
  const total = 3 * 65536 + 123;
  const chunks: Buffer[] = [];
  for await (const c of patternStream(total)) chunks.push(c as Buffer);
  const whole = Buffer.concat(chunks);
  const fromStream = await signer.detachBinary(patternStream(total));
  const fromBytes = await signer.detachBinary(whole);
  assert.deepEqual(Buffer.from(fromStream), Buffer.from(fromBytes));
  const armoredStream = await signer.detachArmored(patternStream(total, 1000));
  assert.equal(armoredStream, await signer.detachArmored(whole));
});

test('a failing input stream fails the signature with SignError', async () => {
  const signer = await pinnedSigner('rsa4096');
  let n = 0;
  const broken = new Readable({
    read() {
      if (n++ < 3) this.push(Buffer.alloc(1000, 1));
      else this.destroy(new Error('disk on fire'));
    },
  });
  await assert.rejects(signer.detachBinary(broken), (e: unknown) => hasCode(e, 'E_SIGN'));
});

test('signing a 256 MiB stream keeps memory flat (the payload is never buffered)', async () => {
  const signer = await pinnedSigner('rsa4096');
  const total = 256 * 1024 * 1024;
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const [p] = await packets(await signer.detachBinary(patternStream(total, 1 << 20)));
    assert.equal(p!.hashAlgorithm, openpgp.enums.hash.sha512);
  } finally {
    clearInterval(timer);
  }
  const grownMiB = (peak - before) / (1024 * 1024);
  assert.ok(grownMiB < 96, `RSS grew by ${grownMiB.toFixed(0)} MiB while signing a 256 MiB stream`);
});

test('rotation: detachArmored and clearsign carry one signature per key; detachBinary only the primary', async () => {
  const signer = await pinnedSigner('rsa4096', 'ed25519');
  const [rsa, ed] = signer.fingerprints;
  const issuers = (ps: openpgp.SignaturePacket[]) => ps.map((p) => Buffer.from(p.issuerFingerprint!).toString('hex').toUpperCase());

  assert.deepEqual(issuers(await packets(await signer.detachArmored('data\n'))), [rsa, ed]);
  assert.deepEqual(issuers(await packets(await signer.detachArmored(Readable.from([Buffer.from('da'), Buffer.from('ta\n')])))), [rsa, ed]);
  assert.deepEqual(issuers(await packets(await signer.detachBinary('data\n'))), [rsa]);

  const clear = await openpgp.readCleartextMessage({ cleartextMessage: await signer.clearsign('Suite: x\n') });
  const sigs = (clear as unknown as { signature: openpgp.Signature }).signature.packets;
  assert.deepEqual(issuers([...sigs]), [rsa, ed]);
  for (const p of sigs) {
    assert.equal(p.signatureType, openpgp.enums.signature.text);
    assert.equal(p.hashAlgorithm, openpgp.enums.hash.sha512);
  }
});

test('clearsign: Hash header, dash-escaping, LF line ends, one trailing newline dropped from the signed text', async () => {
  const signer = await pinnedSigner('ed25519');
  const text = 'Origin: lxl\n-leading dash\n--- more\nFrom somewhere\nlast line\n';
  const out = await signer.clearsign(text);
  assert.ok(out.startsWith('-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n'));
  assert.ok(!out.includes('\r'), 'no CR in the output');
  assert.ok(out.includes('\n- -leading dash\n- --- more\nFrom somewhere\nlast line\n-----BEGIN PGP SIGNATURE-----\n'));
  assert.ok(out.endsWith('-----END PGP SIGNATURE-----\n'));
  const { key } = await testKey({ algorithm: 'ed25519' });
  const msg = await openpgp.readCleartextMessage({ cleartextMessage: out });
  assert.equal(msg.getText(), text.slice(0, -1));
  const res = await openpgp.verify({ message: msg, verificationKeys: await openpgp.readKey({ armoredKey: key.publicArmored }), date: FIXED });
  assert.equal(await res.signatures[0]!.verified, true);
});

test('clearsign treats CRLF input like LF input (same canonical text, same signature)', async () => {
  const signer = await pinnedSigner('ed25519');
  assert.equal(await signer.clearsign('Origin: a\r\nLabel: b\r\n'), await signer.clearsign('Origin: a\nLabel: b\n'));
  assert.notEqual(await signer.clearsign('Origin: a\nLabel: b\n'), await signer.clearsign('Origin: a\nLabel: c\n'));
});

test('a failed signature destroys the input stream (no open file handle left behind)', async () => {
  const signer = await pinnedSigner('ed25519');
  // An unknown hash fails before a byte is read: only the cleanup can close the stream.
  const input = patternStream(1 << 20);
  await assert.rejects(signer.detachBinary(input, { hash: 'md5' as never }), /unknown hash "md5"/);
  assert.equal(input.destroyed, true);
  const armoredInput = patternStream(1 << 20);
  await assert.rejects(signer.detachArmored(armoredInput, { hash: 'md5' as never }), (e: unknown) => hasCode(e, 'E_SIGN'));
  assert.equal(armoredInput.destroyed, true);
});
