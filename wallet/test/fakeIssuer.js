/**
 * An in-memory issuer that speaks the /v1/wallet contract to the Wallet class through a
 * fake fetch: it checks every signed request's signature, ts and nonce, issues day
 * credentials signed by a real Ed25519 key and keeps what the server would keep.
 */
import { decode } from 'cborg'
import { encode } from '../src/protocol/cbor.js'
import { generateKey, sign, verify, importPublic, publicBytes } from '../src/protocol/keys.js'
import { randomBytes, toHex } from '../src/protocol/bytes.js'

const DAY = 86400
const KST = 9 * 3600

export class FakeIssuer {
  /** @param {{now: () => number, haPublic: string}} opts */
  constructor ({ now, haPublic }) {
    this.now = now
    this.haPublic = haPublic
    this.enrolments = new Map()
    this.nonces = new Set()
    this.revoked = new Set()
    this.offline = false
    this.log = []
  }

  async init () {
    this.issuer = await generateKey()
    this.issuerPublic = await publicBytes(this.issuer.publicKey)
    return this
  }

  /** @param {number} status @param {string} error */
  refuse (status, error, headers = {}) {
    return new Response(JSON.stringify({ error, message: error }), { status, headers: { 'Content-Type': 'application/json', ...headers } })
  }

  /** The fake fetch. */
  fetch = async (url, init = {}) => {
    if (this.offline) throw new TypeError('Failed to fetch')
    const path = String(url)
    const date = new Date(this.now() * 1000).toUTCString()
    if (path === '/v1/wallet/info') {
      return new Response(JSON.stringify({ authority_key: this.haPublic, tz: 'Asia/Seoul', days_ahead: 7, skew_s: 5, window_s: 30 }),
        { headers: { 'Content-Type': 'application/json', Date: date } })
    }
    const kind = { '/v1/wallet/enrol': 'wallet-enrol', '/v1/wallet/batch': 'wallet-batch', '/v1/wallet/contact': 'wallet-contact', '/v1/wallet/delete': 'wallet-delete' }[path]
    if (!kind || init.method !== 'POST') return this.refuse(404, 'not_found')
    if (init.headers['Content-Type'] !== 'application/cbor') return this.refuse(415, 'wrong_content_type')
    const body = init.body
    if (body.length > 2048) return this.refuse(413, 'oversized')
    const map = decode(body, { strict: true })
    this.log.push(map)
    if (map.v !== 1 || map.type !== kind) return this.refuse(400, 'malformed')
    if (Math.abs(map.ts - this.now()) > 120) return this.refuse(400, 'stale')
    const nonce = toHex(map.nonce)
    if (this.nonces.has(nonce)) return this.refuse(409, 'replayed')
    this.nonces.add(nonce)
    const { sig, ...unsigned } = map
    let key
    if (kind === 'wallet-enrol') key = map.key
    else {
      const enrolment = this.enrolments.get(toHex(map.enrolment))
      if (!enrolment) return this.refuse(404, 'unknown_enrolment')
      key = enrolment.key
    }
    if (!await verify(await importPublic(key), kind, encode(unsigned), sig)) return this.refuse(401, 'bad_signature')
    const reply = (value, status = 200) => new Response(encode(value), { status, headers: { 'Content-Type': 'application/cbor', Date: date } })
    if (kind === 'wallet-enrol') {
      if (map.contact.length !== 433) return this.refuse(400, 'malformed')
      const id = randomBytes(16)
      this.enrolments.set(toHex(id), { key: map.key, contact: map.contact, phone: map.phone, days: new Set() })
      return reply({ enrolment: id }, 201)
    }
    const enrolment = this.enrolments.get(toHex(map.enrolment))
    if (kind === 'wallet-batch') {
      const start = Math.floor((this.now() + KST) / DAY) * DAY - KST
      const day = new Date((start + KST) * 1000).toISOString().slice(0, 10)
      if (enrolment.days.has(day)) return this.refuse(429, 'batch_limit', { 'Retry-After': String(start + DAY - this.now()) })
      enrolment.days.add(day)
      const credentials = []
      const revoke = []
      const days = []
      for (const [i, walletKey] of map.keys.entries()) {
        const unsignedCred = [1, randomBytes(8), walletKey, start + i * DAY, start + (i + 1) * DAY]
        credentials.push([...unsignedCred, await sign(this.issuer.privateKey, 'credential', encode(unsignedCred))])
        revoke.push(randomBytes(16))
        days.push(new Date((start + i * DAY + KST) * 1000).toISOString().slice(0, 10))
      }
      return reply({ credentials, revoke, days, tz: 'Asia/Seoul' })
    }
    if (kind === 'wallet-contact') {
      enrolment.contact = map.contact
      enrolment.phone = map.phone
      return reply({ ok: true })
    }
    for (const [id] of map.revoke) this.revoked.add(toHex(id))
    this.enrolments.delete(toHex(map.enrolment))
    return reply({ revoked: map.revoke.length })
  }
}

/** An in-memory Store. */
export function memoryStore () {
  const data = new Map()
  return {
    data,
    get: async (k) => data.get(k),
    set: async (k, v) => { data.set(k, v) },
    clear: async () => { data.clear() }
  }
}
