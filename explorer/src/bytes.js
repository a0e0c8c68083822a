/** Bytes as the ledger writes them: strict lowercase hex and canonical standard base64. */
import { VerifyError } from './errors.js'

const HEX = /^(?:[0-9a-f]{2})*$/
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Lowercase hex to bytes; `length` (bytes), when given, must match. */
export function fromHex (text, length, what = 'hex') {
  if (typeof text !== 'string' || !HEX.test(text)) throw new VerifyError('malformed', `${what} is not lowercase hex`)
  if (length !== undefined && text.length !== 2 * length) throw new VerifyError('malformed', `${what} is not ${length} bytes`)
  const out = new Uint8Array(text.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16)
  return out
}

export function toHex (bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** Canonical standard base64 (padded; no other spelling of the same bytes) to bytes. */
export function fromBase64 (text, what = 'base64') {
  if (typeof text !== 'string' || !B64.test(text)) throw new VerifyError('malformed', `${what} is not canonical base64`)
  const binary = atob(text)
  const out = Uint8Array.from(binary, (c) => c.charCodeAt(0))
  if (toBase64(out) !== text) throw new VerifyError('malformed', `${what} is not canonical base64`)
  return out
}

export function toBase64 (bytes) {
  return btoa(String.fromCharCode(...bytes))
}

export function utf8 (text) {
  return new TextEncoder().encode(text)
}

export function concat (...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

export function equal (a, b) {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i]
  return diff === 0
}

/** Big-endian unsigned integer of up to 8 bytes, as a BigInt. */
export function readUint (bytes) {
  let n = 0n
  for (const b of bytes) n = (n << 8n) | BigInt(b)
  return n
}

export async function sha256 (...parts) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...parts)))
}
