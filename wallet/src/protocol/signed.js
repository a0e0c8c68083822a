/**
 * Signed maps (protocol/signed.py `seal`): the canonical CBOR map
 * {v: 1, type: kind, ...fields, sig}, sig an Ed25519 signature under the label `kind`
 * over the canonical CBOR of the map without `sig`.
 */
import { encode } from './cbor.js'
import { sign } from './keys.js'
import { randomBytes } from './bytes.js'

export const VERSION = 1
export const NONCE_SIZE = 16

/**
 * Encode `fields` as a signed map of type `kind`.
 * @param {string} kind
 * @param {Record<string, unknown>} fields
 * @param {CryptoKey} privateKey
 */
export async function seal (kind, fields, privateKey) {
  if ('v' in fields || 'type' in fields || 'sig' in fields) throw new TypeError('reserved field name')
  const body = { v: VERSION, type: kind, ...fields }
  const sig = await sign(privateKey, kind, encode(body))
  return encode({ ...body, sig })
}

/**
 * A wallet request: `fields` plus a timestamp and a fresh nonce, sealed.
 * @param {string} kind
 * @param {Record<string, unknown>} fields
 * @param {CryptoKey} privateKey
 * @param {number} [now] Unix seconds (default: this device's clock)
 */
export async function request (kind, fields, privateKey, now = Math.floor(Date.now() / 1000)) {
  return seal(kind, { ts: now, nonce: randomBytes(NONCE_SIZE), ...fields }, privateKey)
}
