// Runs s3rver's own CLI with two changes that make it behave as S3 does:
// - PUTs are atomic on S3 (a GET sees the old object or the new one, never a
//   part) but s3rver writes objects in place, and answers before the bytes
//   are on disk. So uploads are received fully first, written to a temp file
//   and renamed into place, and each key's writes, reads and deletes run one
//   at a time, with reads buffered before the key is released.
// - S3 lists keys in UTF-8 byte order; s3rver lists them in directory-walk
//   order, and with a delimiter it misses common prefixes whose objects sit
//   two or more levels down (so `rclone sync` skipped apt/dists/). So
//   listings are made recursively, grouped by delimiter and sorted here.
// Everything else (HTTP, SigV4, XML, multipart) is stock s3rver.
'use strict';

const crypto = require('node:crypto');
const fsp = require('node:fs/promises');
const path = require('node:path');
const { Readable } = require('node:stream');
const FilesystemStore = require('s3rver/lib/stores/filesystem.js');

const tails = new Map();
function exclusive(id, fn) {
  const prev = tails.get(id) || Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  tails.set(id, tail);
  tail.then(() => {
    if (tails.get(id) === tail) tails.delete(id);
  });
  return run;
}

// Events, not for-await: s3rver's multipart concatenation stream ends early under async iteration.
function buffer(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(Buffer.from(c)));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

const { getObject, deleteObject, listObjects } = FilesystemStore.prototype;

FilesystemStore.prototype.listObjects = async function (bucket, options) {
  const { delimiter = '', prefix = '' } = options;
  const maxKeys = options.maxKeys === undefined ? Infinity : options.maxKeys;
  // Without a delimiter s3rver walks every level; its own delimiter walk misses keys two or more levels down.
  const all = await listObjects.call(this, bucket, { ...options, delimiter: '', maxKeys: Infinity });
  const entries = [];
  const prefixes = new Set();
  for (const object of all.objects) {
    const idx = delimiter ? object.key.slice(prefix.length).indexOf(delimiter) : -1;
    if (idx === -1) entries.push({ key: object.key, object });
    else prefixes.add(object.key.slice(0, prefix.length + idx + delimiter.length));
  }
  for (const key of prefixes) entries.push({ key });
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  const page = entries.slice(0, maxKeys);
  return {
    objects: page.filter((e) => e.object).map((e) => e.object),
    commonPrefixes: page.filter((e) => !e.object).map((e) => e.key),
    isTruncated: entries.length > maxKeys,
  };
};

// s3rver's own putObject resolves before its write stream has flushed, so a GET right after a PUT can read a
// short file; this one writes a temp file and renames it into place before answering.
let tmpSeq = 0;
FilesystemStore.prototype.putObject = async function (object) {
  const content = Buffer.isBuffer(object.content) ? object.content : await buffer(object.content);
  return exclusive(`${object.bucket}/${object.key}`, async () => {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    await fsp.mkdir(path.dirname(objectPath), { recursive: true });
    const tmp = `${objectPath}.lxl-tmp-${process.pid}-${++tmpSeq}`;
    await fsp.writeFile(tmp, content);
    await fsp.rename(tmp, objectPath);
    const md5 = crypto.createHash('md5').update(content).digest('hex');
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size: content.length, md5 };
  });
};

FilesystemStore.prototype.getObject = function (bucket, key, options) {
  return exclusive(`${bucket}/${key}`, async () => {
    const object = await getObject.call(this, bucket, key, options);
    if (object && object.content) object.content = Readable.from([await buffer(object.content)]);
    return object;
  });
};

FilesystemStore.prototype.deleteObject = function (bucket, key) {
  return exclusive(`${bucket}/${key}`, () => deleteObject.call(this, bucket, key));
};

require('s3rver/bin/s3rver.js');
