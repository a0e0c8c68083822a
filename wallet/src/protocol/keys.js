/**
 * Ed25519 in WebCrypto with safecode's domain separation (protocol/keys.py): a
 * signature covers `safecode/v1/` + label + 0x00 + message.
 */
import { concat } from './bytes.js'

const DOMAIN_PREFIX = 'safecode/v1/'
const ED25519 = { name: 'Ed25519' }
const utf8 = new TextEncoder()

/** @param {string} label */
export function domain (label) {
  return concat(utf8.encode(DOMAIN_PREFIX + label), new Uint8Array([0]))
}

/**
 * A fresh key pair; the private key is not extractable.
 * @returns {Promise<CryptoKeyPair>}
 */
export async function generateKey () {
  return /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey(ED25519, false, ['sign', 'verify']))
}

/**
 * The raw 32-byte public key.
 * @param {CryptoKey} publicKey
 */
export async function publicBytes (publicKey) {
  return new Uint8Array(await crypto.subtle.exportKey('raw', publicKey))
}

/**
 * Sign `message` under `label`.
 * @param {CryptoKey} privateKey
 * @param {string} label
 * @param {Uint8Array} message
 */
export async function sign (privateKey, label, message) {
  return new Uint8Array(await crypto.subtle.sign(ED25519, privateKey, concat(domain(label), message)))
}

/**
 * True if `signature` is the key's over label and message.
 * @param {CryptoKey} publicKey
 * @param {string} label
 * @param {Uint8Array} message
 * @param {Uint8Array} signature
 */
export async function verify (publicKey, label, message, signature) {
  return crypto.subtle.verify(ED25519, publicKey, signature, concat(domain(label), message))
}

/**
 * Import a raw 32-byte public key.
 * @param {Uint8Array} raw
 */
export async function importPublic (raw) {
  return crypto.subtle.importKey('raw', raw, ED25519, true, ['verify'])
}

/** True if this browser signs with Ed25519 in WebCrypto. */
export async function supported () {
  try {
    await generateKey()
    return true
  } catch {
    return false
  }
}
