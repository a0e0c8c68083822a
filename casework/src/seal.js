/**
 * Opening what is sealed to the health authority (protocol/authority_seal.py): HPKE base
 * mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, info `safecode/v1/` +
 * purpose; blob = 0x01 || enc (32) || ciphertext (padded size + 16); plaintext =
 * uint16 big-endian length || data || zero bytes. Four purposes (protocol/issuance.py,
 * protocol/contact.py, protocol/case_opening.py): `batch-credentials` (1 to 7 credential
 * ids of 8 bytes), `credential-owner` (a 16-byte enrolment id), `contact` (a canonical
 * CBOR map) and `case-opening` (a case's kept opening, a canonical CBOR map).
 */
import { decode as cborgDecode, encode as cborgEncode } from 'cborg'
import { suite } from './keyfile.js'
import { equalBytes } from './bytes.js'

export const VERSION = 1
const ENC_SIZE = 32
const TAG_SIZE = 16
export const PURPOSES = Object.freeze({
  'batch-credentials': 2 + 7 * 8,
  'credential-owner': 32,
  contact: 384,
  'case-opening': 16384
})
const CREDENTIAL_ID_SIZE = 8
const ENROLMENT_ID_SIZE = 16
const E164 = /^\+[1-9][0-9]{6,14}$/
const LANG = /^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$/
const REFUSED = /[\p{Cc}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?![\u200c\u200d])\p{Cf}/u
const DECODE = Object.freeze({ strict: true, allowIndefinite: false, allowUndefined: false, allowInfinity: false, allowNaN: false, allowBigInt: false, rejectDuplicateMapKeys: true, tags: [] })

/** A blob that does not open: `reason` is `size`, `version`, `key` or `content`. */
export class SealError extends Error {
  /** @param {string} reason @param {string} message */
  constructor (reason, message) {
    super(message)
    this.reason = reason
  }
}

/**
 * The data in a blob sealed for `purpose`, or SealError.
 * @param {CryptoKey} key the HA private key
 * @param {string} purpose
 * @param {Uint8Array} blob
 */
export async function openFromAuthority (key, purpose, blob) {
  const padded = PURPOSES[purpose]
  if (padded === undefined) throw new TypeError(`not a sealing purpose: ${purpose}`)
  if (!(blob instanceof Uint8Array) || blob.length !== 1 + ENC_SIZE + padded + TAG_SIZE) throw new SealError('size', `${purpose} blob of the wrong size`)
  if (blob[0] !== VERSION) throw new SealError('version', `${purpose} blob version ${blob[0]} is not supported`)
  let plain
  try {
    const ctx = await suite.createRecipientContext({ recipientKey: key, enc: blob.slice(1, 1 + ENC_SIZE), info: new TextEncoder().encode('safecode/v1/' + purpose) })
    plain = new Uint8Array(await ctx.open(blob.slice(1 + ENC_SIZE)))
  } catch {
    throw new SealError('key', `${purpose} blob does not open with this key`)
  }
  const length = (plain[0] << 8) | plain[1]
  if (length > plain.length - 2 || plain.subarray(2 + length).some((b) => b !== 0)) throw new SealError('content', `${purpose} blob: padding is not exact`)
  return plain.slice(2, 2 + length)
}

/** The credential ids (8 bytes each) in a sealed batch list. */
export async function openBatchList (key, blob) {
  const data = await openFromAuthority(key, 'batch-credentials', blob)
  if (data.length === 0 || data.length % CREDENTIAL_ID_SIZE) throw new SealError('content', 'sealed batch list: not a whole number of credential ids')
  const out = []
  for (let i = 0; i < data.length; i += CREDENTIAL_ID_SIZE) out.push(data.slice(i, i + CREDENTIAL_ID_SIZE))
  return out
}

/** The enrolment id (16 bytes) in a sealed owner. */
export async function openOwner (key, blob) {
  const data = await openFromAuthority(key, 'credential-owner', blob)
  if (data.length !== ENROLMENT_ID_SIZE) throw new SealError('content', 'sealed owner: not a 16-byte enrolment id')
  return data
}

/** @param {Uint8Array} data @param {string} what */
function decodeCanonical (data, what = 'contact') {
  let value
  try {
    value = cborgDecode(data, DECODE)
  } catch {
    throw new SealError('content', `${what}: not CBOR`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) throw new SealError('content', `${what}: not a map`)
  if (!equalBytes(cborgEncode(value, { float64: false }), data)) throw new SealError('content', `${what}: not canonical CBOR`)
  return value
}

/** @param {unknown} list @param {number} [size] */
function blobList (list, size) {
  if (!Array.isArray(list) || !list.every((b) => b instanceof Uint8Array && b.length > 0 && b.length <= 512 && (size === undefined || b.length === size))) throw new SealError('content', 'case opening: a bad list')
  return list
}

/**
 * A case's kept opening (POST /v1/cases/<case>/opening): {batches, owners} as sealed
 * blobs and card credential ids, each list as raw bytes.
 * @param {CryptoKey} key
 * @param {Uint8Array} blob
 */
export async function openCaseOpening (key, blob) {
  const map = decodeCanonical(await openFromAuthority(key, 'case-opening', blob), 'case opening')
  if (Object.keys(map).sort().join(',') !== 'batches,credentials,owners') throw new SealError('content', 'case opening: unexpected fields')
  return { batches: blobList(map.batches), owners: blobList(map.owners), credentials: blobList(map.credentials, CREDENTIAL_ID_SIZE) }
}

/**
 * The contact in a sealed contact blob: {phone, lang, notify, name (or null)}.
 * @param {CryptoKey} key
 * @param {Uint8Array} blob
 */
export async function openContact (key, blob) {
  const map = decodeCanonical(await openFromAuthority(key, 'contact', blob))
  const keys = Object.keys(map).sort().join(',')
  if (keys !== 'lang,notify,phone' && keys !== 'lang,name,notify,phone') throw new SealError('content', 'contact: unexpected fields')
  const { phone, lang, notify, name = null } = map
  if (typeof phone !== 'string' || !E164.test(phone)) throw new SealError('content', 'contact: phone is not E.164')
  if (typeof lang !== 'string' || lang.length > 24 || !LANG.test(lang)) throw new SealError('content', 'contact: bad language tag')
  if (!(notify instanceof Uint8Array) || notify.length !== 32) throw new SealError('content', 'contact: notify is not 32 bytes')
  if (name !== null) {
    const chars = typeof name === 'string' ? [...name].length : 0
    if (chars < 1 || chars > 64 || name !== name.trim() || name.normalize('NFC') !== name || REFUSED.test(name)) throw new SealError('content', 'contact: bad name')
  }
  return { phone, lang, notify, name }
}
