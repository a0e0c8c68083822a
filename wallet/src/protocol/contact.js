/**
 * Contact details sealed to the health authority (protocol/contact.py and
 * protocol/authority_seal.py): the CBOR map {phone, lang, notify[, name]}, padded to
 * 384 bytes (uint16 big-endian length, data, zeros), sealed with HPKE base mode
 * DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM, info `safecode/v1/contact`.
 * Blob: 0x01 || enc (32) || ciphertext (400) = 433 bytes.
 */
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core'
import { encode } from './cbor.js'
import { concat, randomBytes } from './bytes.js'
import { isE164 } from './phone.js'

export const VERSION = 1
export const PURPOSE = 'contact'
export const PADDED_SIZE = 384
export const BLOB_SIZE = 1 + 32 + PADDED_SIZE + 16
export const NOTIFY_SECRET_SIZE = 32
export const NAME_MAX_CHARS = 64
const LANG = /^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$/
// Refused in a name: controls, separators, private use, unassigned, surrogates, and
// format characters other than the two joiners (as protocol/contact.py).
const REFUSED = /[\p{Cc}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?![\u200c\u200d])\p{Cf}/u

/** @param {string} purpose */
export function info (purpose) {
  return new TextEncoder().encode('safecode/v1/' + purpose)
}

/**
 * Why `name` cannot be sent, or null if it can. Length counts code points, as Python does.
 * @param {string} name
 */
export function nameProblem (name) {
  const chars = [...name].length
  if (chars < 1 || chars > NAME_MAX_CHARS) return 'length'
  if (name !== name.trim() || name.normalize('NFC') !== name) return 'spaces'
  if (REFUSED.test(name)) return 'control'
  return null
}

/**
 * The canonical CBOR plaintext.
 * @param {{phone: string, lang: string, notify: Uint8Array, name?: string|null}} contact
 */
export function contactBytes ({ phone, lang, notify, name }) {
  if (!isE164(phone)) throw new TypeError('phone must be E.164')
  if (!LANG.test(lang) || lang.length > 24) throw new TypeError('bad language tag')
  if (!(notify instanceof Uint8Array) || notify.length !== NOTIFY_SECRET_SIZE) throw new TypeError('notify is 32 bytes')
  /** @type {Record<string, unknown>} */
  const map = { phone, lang, notify }
  if (name != null) {
    if (nameProblem(name) !== null) throw new TypeError('bad name')
    map.name = name
  }
  return encode(map)
}

/**
 * Length-prefix `data` and fill with zeros up to `paddedSize`.
 * @param {Uint8Array} data
 * @param {number} paddedSize
 */
export function pad (data, paddedSize = PADDED_SIZE) {
  if (data.length > paddedSize - 2) throw new RangeError('contact too large')
  const out = new Uint8Array(paddedSize)
  out[0] = data.length >> 8
  out[1] = data.length & 0xff
  out.set(data, 2)
  return out
}

/** A fresh notification secret. */
export function newNotifySecret () {
  return randomBytes(NOTIFY_SECRET_SIZE)
}

const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() })

/**
 * Seal `data` to the HA key for `purpose`.
 * @param {Uint8Array} haPublicRaw 32 bytes
 * @param {string} purpose
 * @param {Uint8Array} data
 * @param {number} paddedSize
 */
export async function sealToAuthority (haPublicRaw, purpose, data, paddedSize) {
  const recipientPublicKey = await suite.kem.deserializePublicKey(haPublicRaw)
  const sender = await suite.createSenderContext({ recipientPublicKey, info: info(purpose) })
  const ct = new Uint8Array(await sender.seal(pad(data, paddedSize)))
  return concat(new Uint8Array([VERSION]), new Uint8Array(sender.enc), ct)
}

/**
 * Seal a contact: a 433-byte blob only the health authority opens.
 * @param {Uint8Array} haPublicRaw
 * @param {{phone: string, lang: string, notify: Uint8Array, name?: string|null}} contact
 */
export async function sealContact (haPublicRaw, contact) {
  const blob = await sealToAuthority(haPublicRaw, PURPOSE, contactBytes(contact), PADDED_SIZE)
  if (blob.length !== BLOB_SIZE) throw new Error('sealed contact has the wrong size')
  return blob
}
