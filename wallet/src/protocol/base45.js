/**
 * Base45 (RFC 9285) through `base45-js`, the EU Digital COVID Certificate project's
 * encoder. (`@digitalbazaar/base45` 1.0.0 was tried first and refused: its encoder reads
 * `input.buffer` from offset 0, so it encodes the wrong bytes for a Uint8Array view
 * such as the ones cborg returns.)
 */
import base45js from 'base45-js'

/**
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function encode (bytes) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('Base45 input must be a Uint8Array')
  return base45js.encode(bytes)
}
