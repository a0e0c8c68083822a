/** Shared test helpers: the vectors file and typed values from its JSON form. */
import { readFileSync } from 'node:fs'
import { fromHex } from '../src/protocol/bytes.js'

const here = new URL('.', import.meta.url)
export const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors/wallet.json', here), 'utf8'))

/** `{"hex": ...}` becomes a Uint8Array, arrays and maps walked (protocol/vectors.py from_json). */
export function fromJson (value) {
  if (Array.isArray(value)) return value.map(fromJson)
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value)
    if (keys.length === 1 && keys[0] === 'hex') return fromHex(value.hex)
    return Object.fromEntries(keys.map((k) => [k, fromJson(value[k])]))
  }
  return value
}

const PKCS8_ED25519 = fromHex('302e020100300506032b657004220420')

/** The private CryptoKey for a 32-byte Ed25519 seed (tests only; real keys are generated). */
export async function importSeed (seedHex) {
  const der = new Uint8Array(48)
  der.set(PKCS8_ED25519)
  der.set(fromHex(seedHex), 16)
  return crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign'])
}
