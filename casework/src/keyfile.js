/**
 * The health authority's key file (authority/key_file.py): an X25519 private key in
 * PKCS#8, encrypted under a passphrase (authority/pbes2.py): PEM "ENCRYPTED PRIVATE KEY",
 * PBES2 with PBKDF2-HMAC-SHA256 (16-byte salt, 600,000 iterations; older files 2048, as
 * `cryptography`'s BestAvailableEncryption wrote them) and AES-256-CBC. The DER is read
 * with asn1js (strict DER: it must encode back to the same bytes) against a schema;
 * PBKDF2 and AES-CBC are WebCrypto's. The key is
 * imported non-extractable and lives only in memory.
 */
import * as asn1js from 'asn1js'
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core'
import { equalBytes } from './bytes.js'

const OID = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacSha256: '1.2.840.113549.2.9',
  x25519: '1.3.101.110'
}
/** AES-CBC key lengths in bytes, by OID. */
const CIPHERS = { '2.16.840.1.101.3.4.1.2': 16, '2.16.840.1.101.3.4.1.22': 24, '2.16.840.1.101.3.4.1.42': 32 }
const MAX_ITERATIONS = 10_000_000
const MAX_FILE_CHARS = 4096
const PEM = /^-----BEGIN ENCRYPTED PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END ENCRYPTED PRIVATE KEY-----\r?\n?$/

/** Why a key file does not open: `reason` is `not-a-key-file`, `passphrase` or `not-x25519`. */
export class KeyFileError extends Error {
  /** @param {string} reason @param {string} message */
  constructor (reason, message) {
    super(message)
    this.reason = reason
  }
}

const ENCRYPTED = new asn1js.Sequence({
  value: [
    new asn1js.Sequence({
      value: [
        new asn1js.ObjectIdentifier({ name: 'scheme' }),
        new asn1js.Sequence({
          value: [
            new asn1js.Sequence({
              value: [
                new asn1js.ObjectIdentifier({ name: 'kdf' }),
                new asn1js.Sequence({
                  value: [
                    new asn1js.OctetString({ name: 'salt' }),
                    new asn1js.Integer({ name: 'iterations' }),
                    new asn1js.Integer({ name: 'keyLength', optional: true }),
                    new asn1js.Sequence({
                      name: 'prfAlgorithm',
                      optional: true,
                      value: [new asn1js.ObjectIdentifier({ name: 'prf' }), new asn1js.Null({ optional: true })]
                    })
                  ]
                })
              ]
            }),
            new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ name: 'cipher' }), new asn1js.OctetString({ name: 'iv' })] })
          ]
        })
      ]
    }),
    new asn1js.OctetString({ name: 'data' })
  ]
})

const PRIVATE_KEY_INFO = new asn1js.Sequence({
  value: [
    new asn1js.Integer({ name: 'version' }),
    new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ name: 'algorithm' })] }),
    new asn1js.OctetString({ name: 'privateKey' })
  ]
})

/**
 * True if `node` and everything in it uses DER's shortest lengths and no empty integer
 * (asn1js keeps a BER encoding as it came, so encoding it again does not show those).
 * @param {any} node
 */
function isDer (node) {
  const { lenBlock, valueBlock } = node
  if (lenBlock.isIndefiniteForm || (lenBlock.longFormUsed && lenBlock.length < 128)) return false
  if (node instanceof asn1js.Integer && valueBlock.valueHexView.length === 0) return false
  return node instanceof asn1js.Constructed ? valueBlock.value.every(isDer) : true
}

/**
 * The named parts of `der` under `schema`; the whole input must be one element in DER
 * (encoding it again gives the same bytes), else KeyFileError(`reason`).
 * @param {ArrayBuffer} der @param {asn1js.AsnType} schema @param {string} reason
 */
function parse (der, schema, reason) {
  const parsed = asn1js.fromBER(der)
  const again = parsed.offset === der.byteLength ? new Uint8Array(parsed.result.toBER(false)) : null
  if (!again || !equalBytes(again, new Uint8Array(der)) || !isDer(parsed.result)) throw new KeyFileError(reason, 'the key file is not in DER')
  const checked = asn1js.compareSchema(parsed.result, parsed.result, schema)
  if (!checked.verified) throw new KeyFileError(reason, 'the key file is not in the expected form')
  return checked.result
}

/** @param {Uint8Array} bytes */
function exact (bytes) {
  return bytes.slice().buffer
}

/**
 * The DER inside the PEM text, or KeyFileError(`not-a-key-file`).
 * @param {string} text
 */
export function pemBody (text) {
  if (typeof text !== 'string' || text.length > MAX_FILE_CHARS) throw new KeyFileError('not-a-key-file', 'not a key file')
  const match = PEM.exec(text)
  if (!match) throw new KeyFileError('not-a-key-file', 'not an encrypted PKCS#8 PEM file')
  const b64 = match[1].replace(/[\r\n]/g, '')
  try {
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
  } catch {
    throw new KeyFileError('not-a-key-file', 'the PEM body is not base64')
  }
}

/**
 * The PBES2 parameters of an encrypted key file's DER.
 * @param {Uint8Array} der
 * @returns {{salt: Uint8Array, iterations: number, keyBytes: number, iv: Uint8Array, data: Uint8Array}}
 */
export function pbes2Params (der) {
  const r = parse(exact(der), ENCRYPTED, 'not-a-key-file')
  const oid = (name) => r[name].valueBlock.toString()
  if (oid('scheme') !== OID.pbes2 || oid('kdf') !== OID.pbkdf2) throw new KeyFileError('not-a-key-file', 'not PBES2 with PBKDF2')
  if (r.prf && oid('prf') !== OID.hmacSha256) throw new KeyFileError('not-a-key-file', 'PBKDF2 is not HMAC-SHA-256')
  if (!r.prf) throw new KeyFileError('not-a-key-file', 'PBKDF2 with HMAC-SHA-1 is refused')
  const keyBytes = CIPHERS[oid('cipher')]
  if (!keyBytes) throw new KeyFileError('not-a-key-file', 'the cipher is not AES-CBC')
  const iterations = r.iterations.valueBlock.valueDec
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) throw new KeyFileError('not-a-key-file', 'PBKDF2 iteration count out of range')
  if (r.keyLength && r.keyLength.valueBlock.valueDec !== keyBytes) throw new KeyFileError('not-a-key-file', 'PBKDF2 key length does not fit the cipher')
  const bytes = (name) => new Uint8Array(r[name].valueBlock.valueHexView)
  const iv = bytes('iv')
  if (iv.length !== 16) throw new KeyFileError('not-a-key-file', 'the AES-CBC IV is not 16 bytes')
  return { salt: bytes('salt'), iterations, keyBytes, iv, data: bytes('data') }
}

/**
 * The 32 raw bytes of the X25519 private key in a PKCS#8 PrivateKeyInfo.
 * @param {Uint8Array} der
 */
export function x25519FromPkcs8 (der) {
  const r = parse(exact(der), PRIVATE_KEY_INFO, 'passphrase')
  if (r.version.valueBlock.valueDec !== 0) throw new KeyFileError('not-x25519', 'unknown PKCS#8 version')
  if (r.algorithm.valueBlock.toString() !== OID.x25519) throw new KeyFileError('not-x25519', 'the key file holds another kind of key')
  const inner = asn1js.fromBER(exact(new Uint8Array(r.privateKey.valueBlock.valueHexView)))
  if (inner.offset === -1 || !(inner.result instanceof asn1js.OctetString)) throw new KeyFileError('not-x25519', 'the X25519 key is not an octet string')
  const raw = new Uint8Array(inner.result.valueBlock.valueHexView)
  if (raw.length !== 32) throw new KeyFileError('not-x25519', 'the X25519 key is not 32 bytes')
  return raw
}

/**
 * Decrypt the key file's PKCS#8 with the passphrase (KeyFileError `passphrase` if wrong).
 * @param {string} pemText
 * @param {string} passphrase
 * @returns {Promise<Uint8Array>} the 32 raw X25519 private key bytes (the caller drops them)
 */
export async function decryptKeyFile (pemText, passphrase) {
  const p = pbes2Params(pemBody(pemText))
  const subtle = globalThis.crypto.subtle
  const secret = await subtle.importKey('raw', new TextEncoder().encode(passphrase), 'PBKDF2', false, ['deriveKey'])
  const aes = await subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: p.salt, iterations: p.iterations },
    secret,
    { name: 'AES-CBC', length: p.keyBytes * 8 },
    false,
    ['decrypt']
  )
  let plain
  try {
    plain = new Uint8Array(await subtle.decrypt({ name: 'AES-CBC', iv: p.iv }, aes, p.data))
  } catch {
    throw new KeyFileError('passphrase', 'wrong passphrase')
  }
  try {
    return x25519FromPkcs8(plain)
  } finally {
    plain.fill(0)
  }
}

export const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() })

/**
 * The health authority's private key from its file, as a non-extractable CryptoKey
 * for HPKE (keep it in memory only).
 * @param {string} pemText
 * @param {string} passphrase
 */
export async function loadAuthorityKey (pemText, passphrase) {
  const raw = await decryptKeyFile(pemText, passphrase)
  try {
    return await suite.kem.deserializePrivateKey(raw)
  } finally {
    raw.fill(0)
  }
}
