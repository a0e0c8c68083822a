/**
 * Exposure notices (protocol/notice.py): the tag a wallet looks for, and the checks on
 * the public list GET /v1/notices.
 *
 *   tag = HMAC-SHA-256(key = the contact's 32-byte notify secret,
 *                      msg = "safecode/v1/notice\n" || notice id (16 bytes))[:16]
 *
 * The list is hostile data: a notice that is not exactly as the format says is skipped
 * (the others still count), and guidance is only ever put on screen as text.
 */
import { concat, fromHex } from './bytes.js'
import { NOTIFY_SECRET_SIZE } from './contact.js'

export const NOTICE_ID_SIZE = 16
export const TAG_SIZE = 16
export const MAX_PADDED_TAGS = 5008
export const MAX_GUIDANCE = 800
/** Notices read from one list (the newest: the server lists them oldest first). */
export const MAX_NOTICES = 10000
export const LANGUAGES = ['ko', 'en']
const TAG_DOMAIN = new TextEncoder().encode('safecode/v1/notice\n')
const HEX_ID = /^[0-9a-f]{32}$/
const B64_TAG = /^[A-Za-z0-9_-]{21}[AQgw]$/ // 16 bytes: the last character carries 2 bits
const DAY = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/
// Refused in guidance, as protocol/audit_entry.py: controls, format (bidi overrides,
// zero-width characters), surrogates, private use, unassigned, line/paragraph separators.
const REFUSED = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/u

/**
 * @typedef {{notice: string, tags: string[], from_day: string, to_day: string,
 *   guidance: {ko: string, en: string}, published_ms: number}} Notice
 */

/**
 * The 16-byte tag of the contact holding `notifySecret` in notice `noticeId` (WebCrypto).
 * @param {Uint8Array} notifySecret
 * @param {Uint8Array} noticeId
 */
export async function noticeTag (notifySecret, noticeId) {
  return tagWith(await tagKey(notifySecret), noticeId)
}

/**
 * The HMAC key of a notify secret (non-extractable), imported once for many notices.
 * @param {Uint8Array} notifySecret
 */
async function tagKey (notifySecret) {
  if (!(notifySecret instanceof Uint8Array) || notifySecret.length !== NOTIFY_SECRET_SIZE) throw new TypeError('notify secret is 32 bytes')
  return crypto.subtle.importKey('raw', notifySecret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
}

/**
 * @param {CryptoKey} key from tagKey
 * @param {Uint8Array} noticeId
 */
async function tagWith (key, noticeId) {
  if (!(noticeId instanceof Uint8Array) || noticeId.length !== NOTICE_ID_SIZE) throw new TypeError('notice id is 16 bytes')
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, concat(TAG_DOMAIN, noticeId)))
  return mac.slice(0, TAG_SIZE)
}

/**
 * Bytes as unpadded base64url text (the tags' form in the list).
 * @param {Uint8Array} bytes
 */
export function toBase64Url (bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** @param {unknown} value */
function plainText (value) {
  return typeof value === 'string' && value.length > 0 && [...value].length <= MAX_GUIDANCE &&
    value === value.trim() && value.normalize('NFC') === value && !REFUSED.test(value)
}

/** @param {unknown} value */
function isDay (value) {
  if (typeof value !== 'string' || !DAY.test(value)) return false
  const date = new Date(value + 'T00:00:00Z')
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value
}

/**
 * One notice of the list, checked; null if anything about it is off.
 * @param {unknown} value
 * @returns {Notice|null}
 */
export function checkNotice (value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null
  const n = /** @type {Record<string, unknown>} */ (value)
  const keys = Object.keys(n).sort().join(',')
  if (keys !== 'from_day,guidance,notice,published_ms,tags,to_day') return null
  if (typeof n.notice !== 'string' || !HEX_ID.test(n.notice)) return null
  if (!Array.isArray(n.tags) || n.tags.length === 0 || n.tags.length > MAX_PADDED_TAGS) return null
  if (!n.tags.every((tag) => typeof tag === 'string' && B64_TAG.test(tag))) return null
  if (!isDay(n.from_day) || !isDay(n.to_day) || /** @type {string} */ (n.to_day) < /** @type {string} */ (n.from_day)) return null
  const g = n.guidance
  if (g === null || typeof g !== 'object' || Array.isArray(g)) return null
  if (Object.keys(g).sort().join(',') !== 'en,ko') return null
  const guidance = /** @type {Record<string, unknown>} */ (g)
  if (!plainText(guidance.ko) || !plainText(guidance.en)) return null
  if (!Number.isSafeInteger(n.published_ms) || /** @type {number} */ (n.published_ms) < 0) return null
  return {
    notice: n.notice,
    tags: /** @type {string[]} */ (n.tags),
    from_day: /** @type {string} */ (n.from_day),
    to_day: /** @type {string} */ (n.to_day),
    guidance: { ko: /** @type {string} */ (guidance.ko), en: /** @type {string} */ (guidance.en) },
    published_ms: /** @type {number} */ (n.published_ms)
  }
}

/**
 * The well-formed notices of a GET /v1/notices answer (the rest are skipped).
 * @param {unknown} body
 * @returns {Notice[]}
 */
export function parseNotices (body) {
  if (body === null || typeof body !== 'object' || !Array.isArray(/** @type {any} */ (body).notices)) return []
  const out = []
  for (const item of /** @type {unknown[]} */ (/** @type {any} */ (body).notices).slice(-MAX_NOTICES)) {
    const notice = checkNotice(item)
    if (notice) out.push(notice)
  }
  return out
}

/**
 * The notices that carry a tag of one of `secrets`.
 * @param {Notice[]} notices
 * @param {Uint8Array[]} secrets the notify secrets this wallet has sealed
 * @returns {Promise<Notice[]>}
 */
export async function matchNotices (notices, secrets) {
  const keys = await Promise.all(secrets.map(tagKey))
  const out = []
  for (const notice of notices) {
    const tags = new Set(notice.tags)
    for (const key of keys) {
      if (tags.has(toBase64Url(await tagWith(key, fromHex(notice.notice))))) {
        out.push(notice)
        break
      }
    }
  }
  return out
}
