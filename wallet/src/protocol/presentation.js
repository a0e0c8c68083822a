/**
 * Presentations (protocol/presentation.py): QR text `SC1:` + Base45 of the canonical
 * CBOR array [1, code_type, credential, timestamp, signature]; the wallet key signs
 * [1, code_type, credential, timestamp] under the label `presentation`.
 */
import { encode as base45 } from './base45.js'
import { encode } from './cbor.js'
import { sign } from './keys.js'

export const VERSION = 1
export const PREFIX = 'SC1:'
export const LABEL = 'presentation'
export const CodeType = Object.freeze({ CHECKIN: 1, DIAGNOSTIC: 2 })

/**
 * The bytes the wallet key signs.
 * @param {number} codeType
 * @param {Array<unknown>} credential the credential array as the issuer sent it
 * @param {number} timestamp Unix seconds
 */
export function signedPart (codeType, credential, timestamp) {
  return encode([VERSION, codeType, credential, timestamp])
}

/**
 * A fresh presentation: its CBOR bytes and its QR text.
 * @param {CryptoKey} walletKey
 * @param {Array<unknown>} credential
 * @param {number} timestamp
 * @param {number} [codeType]
 * @returns {Promise<{bytes: Uint8Array, text: string, signature: Uint8Array}>}
 */
export async function present (walletKey, credential, timestamp, codeType = CodeType.CHECKIN) {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp > 0xffffffff) {
    throw new RangeError('timestamp must be a uint32 of Unix seconds')
  }
  const signature = await sign(walletKey, LABEL, signedPart(codeType, credential, timestamp))
  const bytes = encode([VERSION, codeType, credential, timestamp, signature])
  return { bytes, text: PREFIX + base45(bytes), signature }
}
