/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, as protocol/note.py
 * reads them: a verifier key `<name>+<key id hex>+<base64(0x01 || public key)>` whose key
 * id is SHA-256(name || 0x0A || 0x01 || key)[:4]; a note is text, a blank line, and lines
 * `— <name> base64(key id || signature)`. Ed25519 is WebCrypto's.
 */
import { fromBase64, readUint, sha256, utf8 } from './bytes.js'
import { VerifyError } from './errors.js'

export const MAX_NOTE_SIZE = 1 << 20
export const MAX_SIGNATURES = 100
export const ALG_ED25519 = 0x01
const SIG_PREFIX = '\u2014 '
const CONTROL = /[\x00-\x09\x0b-\x1f]/ // eslint-disable-line no-control-regex
const NAME = /^[^\s+\x00-\x1f]+$/u // eslint-disable-line no-control-regex

export function isValidName (name) {
  return typeof name === 'string' && NAME.test(name)
}

/** SHA-256(name || 0x0A || algorithm || key)[:4] as a number. */
export async function keyId (name, algorithm, publicKey) {
  const digest = await sha256(utf8(name), Uint8Array.of(0x0a, algorithm), publicKey)
  return Number(readUint(digest.subarray(0, 4)))
}

/**
 * Parse `<name>+<key id>+<base64(algorithm || 32-byte key)>` strictly and check its key id.
 * Returns {name, keyId, publicKey}; throws VerifyError('bad_key').
 */
export async function parseKey (text, algorithm = ALG_ED25519) {
  if (typeof text !== 'string') throw new VerifyError('bad_key', 'a key is text')
  const vkey = text.trim()
  const first = vkey.indexOf('+')
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1)
  if (second < 0) throw new VerifyError('bad_key', 'want <name>+<key id>+<key>')
  const name = vkey.slice(0, first)
  const hexId = vkey.slice(first + 1, second)
  if (!isValidName(name)) throw new VerifyError('bad_key', 'the key name is empty or has spaces')
  if (!/^[0-9a-f]{8}$/.test(hexId)) throw new VerifyError('bad_key', 'the key id is not 8 lowercase hex digits')
  let raw
  try {
    raw = fromBase64(vkey.slice(second + 1), 'key')
  } catch (err) {
    throw new VerifyError('bad_key', err.detail || String(err))
  }
  if (raw.length !== 33 || raw[0] !== algorithm) throw new VerifyError('bad_key', `want 0x0${algorithm} and a 32-byte Ed25519 key`)
  const publicKey = raw.subarray(1)
  const id = await keyId(name, algorithm, publicKey)
  if (id !== parseInt(hexId, 16)) throw new VerifyError('bad_key', `the key id ${hexId} does not match the key`)
  return { name, keyId: id, publicKey }
}

/** Split a note into its text (final newline included) and signature lines, unverified. */
export function parseNote (note) {
  if (typeof note !== 'string') throw new VerifyError('malformed', 'a note is text')
  if (utf8(note).length > MAX_NOTE_SIZE) throw new VerifyError('malformed', 'the note is too large')
  if (CONTROL.test(note)) throw new VerifyError('malformed', 'the note has a control character')
  const split = note.lastIndexOf('\n\n')
  if (split < 0) throw new VerifyError('malformed', 'no blank line before the signatures')
  const text = note.slice(0, split + 1)
  const block = note.slice(split + 2)
  if (!block || !block.endsWith('\n')) throw new VerifyError('malformed', 'missing signatures or final newline')
  const lines = block.slice(0, -1).split('\n')
  if (lines.length > MAX_SIGNATURES) throw new VerifyError('malformed', 'too many signatures')
  return { text, sigs: lines.map(parseSigLine) }
}

function parseSigLine (line) {
  if (!line.startsWith(SIG_PREFIX)) throw new VerifyError('malformed', 'a signature line does not start with an em dash')
  const rest = line.slice(SIG_PREFIX.length)
  const space = rest.indexOf(' ')
  const name = space < 0 ? '' : rest.slice(0, space)
  const b64 = space < 0 ? '' : rest.slice(space + 1)
  if (!isValidName(name) || !b64) throw new VerifyError('malformed', 'bad signature line')
  const raw = fromBase64(b64, 'signature')
  if (raw.length < 5) throw new VerifyError('malformed', 'signature too short')
  return { name, keyId: Number(readUint(raw.subarray(0, 4))), raw, b64 }
}

/** WebCrypto Ed25519: true if `signature` over `message` verifies with the 32-byte key. */
export async function ed25519Verify (publicKey, signature, message) {
  if (signature.length !== 64) return false
  let key
  try {
    key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify'])
  } catch (err) {
    if (err && err.name === 'NotSupportedError') throw new VerifyError('unsupported', 'this browser has no Ed25519')
    throw new VerifyError('bad_key', String(err))
  }
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message)
}

/**
 * Check the note's signature by `verifier` ({name, keyId, publicKey}); return the parsed
 * note. Like protocol.note.open_note: a line by this key that does not verify fails the
 * whole note (`bad_signature`); no line by it is `no_signature`.
 */
export async function verifyNote (note, verifier) {
  const parsed = parseNote(note)
  const message = utf8(parsed.text)
  const mine = parsed.sigs.filter((s) => s.name === verifier.name && s.keyId === verifier.keyId)
  if (mine.length === 0) throw new VerifyError('no_signature', `no signature by ${verifier.name}`)
  for (const sig of mine) {
    if (!(await ed25519Verify(verifier.publicKey, sig.raw.subarray(4), message))) {
      throw new VerifyError('bad_signature', `the signature by ${verifier.name} does not verify`)
    }
  }
  return parsed
}
