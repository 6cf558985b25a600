// Bytes as a Buffer without a copy: the encoders return Uint8Arrays or
// Buffers, and the writers and hashers take either.

/** `data` as a Buffer: itself when it is one, a view of the same memory for another Uint8Array, UTF-8 for a string. */
export function asBuffer(data: Uint8Array | string): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
