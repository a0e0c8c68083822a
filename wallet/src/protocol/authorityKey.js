/** The health authority's public key as text: `safecode-ha-x25519:` + 43 base64url characters. */

export const PREFIX = 'safecode-ha-x25519:'
const TEXT = /^safecode-ha-x25519:[A-Za-z0-9_-]{43}$/

/**
 * The 32 raw key bytes, or a TypeError.
 * @param {string} text
 */
export function parseAuthorityKey (text) {
  if (typeof text !== 'string' || !TEXT.test(text)) throw new TypeError('not a health authority key')
  const b64 = text.slice(PREFIX.length).replace(/-/g, '+').replace(/_/g, '/') + '='
  const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
  if (raw.length !== 32) throw new TypeError('health authority key is not 32 bytes')
  return raw
}
