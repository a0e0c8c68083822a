/**
 * Canonical CBOR, as protocol/encoding.py writes it (cbor2 canonical=True: RFC 7049
 * length-first map key order, shortest integers, no tags, no floats), and a strict
 * decoder for the server's answers.
 */
import { encode as cborgEncode, decode as cborgDecode } from 'cborg'

const ENCODE_OPTIONS = Object.freeze({ float64: false }) // cborg's default map sorter is RFC 7049's
const DECODE_OPTIONS = Object.freeze({
  strict: true, // shortest forms only
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  tags: [] // no tag is allowed
})

/**
 * Encode a value built from non-negative safe integers, strings, Uint8Arrays, arrays
 * and plain objects with text keys.
 * @param {unknown} value
 * @returns {Uint8Array}
 */
export function encode (value) {
  check(value, 0)
  return cborgEncode(value, ENCODE_OPTIONS)
}

/**
 * Decode canonical CBOR strictly: re-encoding must give the same bytes.
 * @param {Uint8Array} bytes
 * @param {number} maxSize
 * @returns {any}
 */
export function decode (bytes, maxSize) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('CBOR input must be a Uint8Array')
  if (bytes.length > maxSize) throw new RangeError(`CBOR input over ${maxSize} bytes`)
  const value = cborgDecode(bytes, DECODE_OPTIONS)
  const again = encode(value)
  if (!equalBytes(again, bytes)) throw new TypeError('CBOR input is not in canonical form')
  return value
}

/** @param {unknown} value @param {number} depth */
function check (value, depth) {
  if (depth > 8) throw new TypeError('CBOR value nested too deep')
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError('only safe integers are encoded')
  } else if (Array.isArray(value)) {
    for (const item of value) check(item, depth + 1)
  } else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const item of Object.values(value)) check(item, depth + 1)
  } else if (!(typeof value === 'string' || typeof value === 'boolean' || value instanceof Uint8Array || value === null)) {
    throw new TypeError(`CBOR value of type ${typeof value} is not allowed`)
  }
}

/** @param {Uint8Array} a @param {Uint8Array} b */
export function equalBytes (a, b) {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
