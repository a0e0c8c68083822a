/**
 * The wallet's state and its dealings with the issuer, without any page: enrol, fetch
 * day credentials, pick today's, make codes, change the contact, leave. Storage, fetch
 * and the clock are handed in, so node tests drive it with fakes.
 *
 * Stored (IndexedDB, structured clone; CryptoKeys stay non-extractable):
 *   lang        the interface language
 *   info        the last /v1/wallet/info answer
 *   enrolment   {id, privateKey, publicKey, created}
 *   credentials [{credential, privateKey, revoke, day, notBefore, notAfter}]
 *   batch       {day, retryAt}: the site-local day of the last batch, and when to try again
 *   clock       server clock minus this device's, in seconds
 *   notify      [{secret, until}]: the notify secrets of the contacts this wallet sealed
 *               (until: null for the current one, else when to stop matching it)
 *   notices     [{notice, from_day, to_day, guidance, published_ms, dismissed}]: the
 *               exposure notices that carried this wallet's tag (never sent anywhere)
 *   noticesAt   when the notice list was last fetched (Unix seconds)
 */
import { ApiError, clockOffset, getInfo, getNotices, post } from './api.js'
import { generateKey, publicBytes } from '../protocol/keys.js'
import { request } from '../protocol/signed.js'
import { newNotifySecret, sealContact } from '../protocol/contact.js'
import { parseAuthorityKey } from '../protocol/authorityKey.js'
import { CodeType, present } from '../protocol/presentation.js'
import { equalBytes } from '../protocol/cbor.js'
import { matchNotices, parseNotices } from '../protocol/notice.js'

export const MAX_DAYS = 7
export const MAX_REVOKE = 64
export const REFRESH_BELOW_DAYS = 2
export const BATCH_RETRY_S = 15 * 60
const CLOCK_TOLERANCE_S = 2
/** Fetch the notice list at most this often (and at every start). */
export const NOTICES_EVERY_S = 3 * 3600
/** A replaced contact's secret still matches notices this long (a trace may use the old one). */
export const NOTIFY_KEEP_S = 28 * 86400
/** A matched notice is kept on the phone this long after it was published. */
export const NOTICE_KEEP_S = 28 * 86400
const MAX_SECRETS = 8

/**
 * @typedef {{get(key: string): Promise<any>, set(key: string, value: any): Promise<void>, clear(): Promise<void>}} Store
 * @typedef {{credential: any[], privateKey: CryptoKey, revoke: Uint8Array, day: string, notBefore: number, notAfter: number}} DayCredential
 */

/**
 * The calendar day of `seconds` in time zone `tz`, as YYYY-MM-DD.
 * @param {number} seconds
 * @param {string} tz
 */
export function localDay (seconds, tz) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(new Date(seconds * 1000))
}

/** @param {unknown} c a credential array from the issuer */
function credentialShape (c) {
  return Array.isArray(c) && c.length === 6 && c[0] === 1 &&
    c[1] instanceof Uint8Array && c[1].length === 8 &&
    c[2] instanceof Uint8Array && c[2].length === 32 &&
    Number.isSafeInteger(c[3]) && Number.isSafeInteger(c[4]) && c[4] > c[3] &&
    c[5] instanceof Uint8Array && c[5].length === 64
}

export class Wallet {
  /**
   * @param {{store: Store, fetch: typeof fetch, now?: () => number}} deps now: Unix seconds
   */
  constructor ({ store, fetch, now = () => Date.now() / 1000 }) {
    this.store = store
    this.fetch = fetch
    this.localNow = now
    /** @type {any} */ this.info = null
    /** @type {any} */ this.enrolment = null
    /** @type {DayCredential[]} */ this.credentials = []
    /** @type {{day: string, retryAt: number}|null} */ this.batch = null
    this.clock = 0
    /** @type {{secret: Uint8Array, until: number|null}[]} */ this.notify = []
    /** @type {any[]} */ this.notices = []
    this.noticesAt = 0
  }

  async load () {
    const [info, enrolment, credentials, batch, clock, notify, notices, noticesAt] = await Promise.all(
      ['info', 'enrolment', 'credentials', 'batch', 'clock', 'notify', 'notices', 'noticesAt'].map((k) => this.store.get(k)))
    this.notify = Array.isArray(notify) ? notify : []
    this.notices = Array.isArray(notices) ? notices : []
    this.noticesAt = Number.isFinite(noticesAt) ? noticesAt : 0
    this.info = info || null
    this.enrolment = enrolment || null
    this.credentials = Array.isArray(credentials) ? credentials : []
    this.batch = batch || null
    this.clock = Number.isFinite(clock) ? clock : 0
    return this
  }

  /** Unix seconds, corrected by the server's clock when ours is off. */
  now () {
    return Math.floor(this.localNow() + this.clock)
  }

  get enrolled () {
    return this.enrolment !== null
  }

  /** @param {Response} response */
  async noteClock (response) {
    const offset = clockOffset(response, this.localNow())
    if (offset === null) return
    const clock = Math.abs(offset) > CLOCK_TOLERANCE_S ? offset : 0
    if (clock !== this.clock) {
      this.clock = clock
      await this.store.set('clock', clock)
    }
  }

  /** The issuer's info, fetched (and kept) or the kept one when offline. */
  async fetchInfo () {
    try {
      const { info, response } = await getInfo(this.fetch)
      await this.noteClock(response)
      this.info = info
      await this.store.set('info', info)
    } catch (err) {
      if (!this.info) throw err
    }
    return this.info
  }

  /** The site's time zone (the issuer's, Asia/Seoul until it has said). */
  get tz () {
    return (this.info && this.info.tz) || 'Asia/Seoul'
  }

  /**
   * Seal a contact to the health authority's key, with a fresh notify secret.
   * @param {{phone: string, name?: string|null, lang: string}} who
   * @returns {Promise<{contact: Uint8Array, notify: Uint8Array}>}
   */
  async sealedContact ({ phone, name, lang }) {
    const info = await this.fetchInfo()
    const ha = parseAuthorityKey(info.authority_key)
    const notify = newNotifySecret()
    return { contact: await sealContact(ha, { phone, lang, notify, name: name || null }), notify }
  }

  /**
   * Keep the notify secret of the contact the server now holds; the one it replaces
   * still matches notices for NOTIFY_KEEP_S (a trace opened before the change used it).
   * @param {Uint8Array} secret
   */
  async keepNotifySecret (secret) {
    const now = this.now()
    const older = this.notify
      .map((s) => (s.until === null ? { ...s, until: now + NOTIFY_KEEP_S } : s))
      .filter((s) => s.until > now)
    this.notify = [{ secret, until: null }, ...older].slice(0, MAX_SECRETS)
    await this.store.set('notify', this.notify)
  }

  /** The notify secrets that still match notices. */
  notifySecrets () {
    const now = this.now()
    return this.notify.filter((s) => s.until === null || s.until > now).map((s) => s.secret)
  }

  /** True if the notice list should be fetched now (`force`: at start, whatever the time). */
  noticesDue (force = false) {
    if (!this.enrolled || this.notifySecrets().length === 0) return false
    return force || this.now() - this.noticesAt >= NOTICES_EVERY_S
  }

  /**
   * Fetch the public notice list, compute this wallet's tag for each notice and keep the
   * ones that carry it. Nothing is sent but the GET. Returns the newly matched notices.
   */
  async checkNotices () {
    const secrets = this.notifySecrets()
    let body, response
    try {
      ({ body, response } = await getNotices(this.fetch))
    } catch (err) {
      if (err instanceof ApiError) await this.setNoticesAt(this.now()) // answered: wait as usual
      throw err
    }
    await this.noteClock(response)
    const now = this.now()
    const known = new Set(this.notices.map((n) => n.notice))
    const fresh = (await matchNotices(parseNotices(body), secrets))
      .filter((n) => !known.has(n.notice) && n.published_ms / 1000 > now - NOTICE_KEEP_S)
      .map(({ tags, ...n }) => ({ ...n, dismissed: false }))
    const kept = this.notices.filter((n) => n.published_ms / 1000 > now - NOTICE_KEEP_S)
    this.notices = [...kept, ...fresh].sort((a, b) => a.published_ms - b.published_ms)
    await this.store.set('notices', this.notices)
    await this.setNoticesAt(now)
    return fresh
  }

  /** @param {number} at when the notice list was last fetched (or refused) */
  async setNoticesAt (at) {
    this.noticesAt = at
    await this.store.set('noticesAt', at)
  }

  /** Matched notices not yet dismissed, newest first. */
  openNotices () {
    return this.notices.filter((n) => !n.dismissed).reverse()
  }

  /**
   * Hide a notice from the main screen (it stays in the list of notices).
   * @param {string} id the notice id (hex)
   */
  async dismissNotice (id) {
    this.notices = this.notices.map((n) => (n.notice === id ? { ...n, dismissed: true } : n))
    await this.store.set('notices', this.notices)
  }

  /**
   * First use: make the enrolment key, seal the contact, enrol, fetch the first batch.
   * @param {{phone: string, name?: string|null, lang: string}} who phone in E.164
   */
  async enrol (who) {
    const { contact, notify } = await this.sealedContact(who)
    const pair = await generateKey()
    const key = await publicBytes(pair.publicKey)
    const body = await request('wallet-enrol', { key, phone: who.phone, contact }, pair.privateKey, this.now())
    const { answer, response } = await post(this.fetch, 'enrol', body)
    await this.noteClock(response)
    if (!(answer.enrolment instanceof Uint8Array) || answer.enrolment.length !== 16) {
      throw new ApiError(response.status, 'bad_answer', 'the enrol answer holds no enrolment id')
    }
    this.enrolment = { id: answer.enrolment, privateKey: pair.privateKey, publicKey: pair.publicKey, created: this.now() }
    await this.store.set('enrolment', this.enrolment)
    await this.keepNotifySecret(notify)
    await this.fetchBatch()
  }

  /** How many days, today included, the held credentials still cover. */
  remainingDays () {
    const now = this.now()
    return this.credentials.filter((c) => c.notAfter > now).length
  }

  /** Today's credential, or null. */
  today () {
    const now = this.now()
    const fit = this.credentials.filter((c) => c.notBefore <= now && now < c.notAfter)
    return fit.length ? fit[fit.length - 1] : null
  }

  /** True if the wallet ever held a credential and all have run out. */
  ranOut () {
    return this.credentials.length > 0 && this.remainingDays() === 0
  }

  /** True if a batch should be fetched now: few days left, none fetched today, not backing off. */
  needsBatch () {
    if (!this.enrolled) return false
    const now = this.now()
    if (this.today() && this.remainingDays() >= REFRESH_BELOW_DAYS) return false
    if (this.batch && this.batch.day === localDay(now, this.tz)) return false // one batch a day
    return !(this.batch && now < this.batch.retryAt)
  }

  /** Fetch a batch of day credentials (one per day from today), each with a fresh wallet key. */
  async fetchBatch () {
    const info = await this.fetchInfo()
    const days = Math.max(1, Math.min(MAX_DAYS, Number(info.days_ahead) || MAX_DAYS))
    const pairs = await Promise.all(Array.from({ length: days }, () => generateKey()))
    const keys = await Promise.all(pairs.map((p) => publicBytes(p.publicKey)))
    const body = await request('wallet-batch', { enrolment: this.enrolment.id, keys }, this.enrolment.privateKey, this.now())
    let answer, response
    try {
      ({ answer, response } = await post(this.fetch, 'batch', body))
    } catch (err) {
      if (err instanceof ApiError && err.status === 429) {
        const wait = err.retryAfter ?? BATCH_RETRY_S
        await this.setBatch({ day: (this.batch && this.batch.day) || '', retryAt: this.now() + Math.min(wait, 86400) })
      } else if (err instanceof ApiError && err.reason === 'unknown_enrolment') {
        await this.forget()
      }
      throw err
    }
    await this.noteClock(response)
    const { credentials, revoke } = answer
    const daysOut = Array.isArray(answer.days) ? answer.days : []
    if (!Array.isArray(credentials) || !Array.isArray(revoke) || credentials.length !== revoke.length) {
      throw new ApiError(response.status, 'bad_answer', 'the batch answer is not as expected')
    }
    /** @type {DayCredential[]} */
    const fresh = []
    credentials.forEach((credential, i) => {
      const at = keys.findIndex((k) => credentialShape(credential) && equalBytes(k, credential[2]))
      if (at < 0 || !(revoke[i] instanceof Uint8Array) || revoke[i].length !== 16) return
      fresh.push({
        credential,
        privateKey: pairs[at].privateKey,
        revoke: revoke[i],
        day: typeof daysOut[i] === 'string' ? daysOut[i] : localDay(credential[3], this.tz),
        notBefore: credential[3],
        notAfter: credential[4]
      })
    })
    if (fresh.length === 0) throw new ApiError(response.status, 'bad_answer', 'the batch holds no credential for our keys')
    const now = this.now()
    const newDays = new Set(fresh.map((c) => c.day))
    // Keep held credentials for other days that still run; a new one replaces its day's old one.
    const kept = this.credentials.filter((c) => c.notAfter > now && !newDays.has(c.day))
    this.credentials = [...kept, ...fresh].sort((a, b) => a.notBefore - b.notBefore)
    await this.store.set('credentials', this.credentials)
    await this.setBatch({ day: localDay(now, this.tz), retryAt: 0 })
    return fresh.length
  }

  /** @param {{day: string, retryAt: number}} batch */
  async setBatch (batch) {
    this.batch = batch
    await this.store.set('batch', batch)
  }

  /**
   * A fresh code for today's credential.
   * @param {number} [codeType]
   */
  async code (codeType = CodeType.CHECKIN) {
    const today = this.today()
    if (!today) return null
    const shown = await present(today.privateKey, today.credential, this.now(), codeType)
    return { ...shown, day: today.day, notAfter: today.notAfter }
  }

  /**
   * Replace the contact the health authority holds (a new number, name or language).
   * @param {{phone: string, name?: string|null, lang: string}} who
   */
  async changeContact (who) {
    const { contact, notify } = await this.sealedContact(who)
    const body = await request('wallet-contact', { enrolment: this.enrolment.id, phone: who.phone, contact },
      this.enrolment.privateKey, this.now())
    const { response } = await post(this.fetch, 'contact', body)
    await this.noteClock(response)
    await this.keepNotifySecret(notify)
  }

  /** The visitor leaves: the server deletes the enrolment and revokes every held credential; then wipe. */
  async leave () {
    const now = this.now()
    const revoke = this.credentials
      .filter((c) => c.notAfter > now)
      .slice(0, MAX_REVOKE)
      .map((c) => [c.credential[1], c.revoke])
    const body = await request('wallet-delete', { enrolment: this.enrolment.id, revoke }, this.enrolment.privateKey, now)
    try {
      await post(this.fetch, 'delete', body)
    } catch (err) {
      if (!(err instanceof ApiError && err.reason === 'unknown_enrolment')) throw err
    }
    await this.forget()
  }

  /** Wipe everything this wallet keeps (the language too). */
  async forget () {
    await this.store.clear()
    this.enrolment = null
    this.credentials = []
    this.batch = null
    this.notify = []
    this.notices = []
    this.noticesAt = 0
  }
}
