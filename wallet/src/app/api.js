/**
 * The issuer's HTTP API (/v1/wallet/*, wallet-contract.md): signed CBOR requests,
 * CBOR answers, JSON errors. Same-origin only; no cookies, no referrer.
 */
import { decode } from 'cborg'

export const MAX_BODY = 2048
const MAX_ANSWER = 64 * 1024

/** The server answered with an error (`reason` as in aggregator/api/errors.py). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} reason
   * @param {string} message
   * @param {number|null} retryAfter seconds, from Retry-After
   */
  constructor (status, reason, message, retryAfter = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.reason = reason
    this.retryAfter = retryAfter
  }
}

/** The server could not be reached. */
export class OfflineError extends Error {
  constructor (message = 'offline') {
    super(message)
    this.name = 'OfflineError'
  }
}

const INIT = /** @type {const} */ ({ credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer', redirect: 'error' })

/**
 * @param {typeof fetch} fetchFn
 * @param {string} url
 * @param {RequestInit} init
 */
async function send (fetchFn, url, init) {
  let response
  try {
    response = await fetchFn(url, { ...INIT, ...init })
  } catch (err) {
    throw new OfflineError(String(err && /** @type {Error} */ (err).message))
  }
  if (!response.ok) {
    let reason = `http_${response.status}`
    let message = response.statusText || reason
    try {
      const body = await response.json()
      if (body && typeof body.error === 'string') reason = body.error
      if (body && typeof body.message === 'string') message = body.message
    } catch { /* not JSON: keep the status */ }
    const retry = Number.parseInt(response.headers.get('Retry-After') || '', 10)
    throw new ApiError(response.status, reason, message, Number.isFinite(retry) ? retry : null)
  }
  return response
}

/**
 * The server's clock minus ours, in seconds, from the Date header (null without one).
 * @param {Response} response
 * @param {number} localNow Unix seconds
 */
export function clockOffset (response, localNow) {
  const date = Date.parse(response.headers.get('Date') || '')
  return Number.isFinite(date) ? Math.round(date / 1000 - localNow) : null
}

/**
 * GET /v1/wallet/info.
 * @param {typeof fetch} fetchFn
 */
export async function getInfo (fetchFn) {
  const response = await send(fetchFn, '/v1/wallet/info', { method: 'GET', headers: { Accept: 'application/json' } })
  const info = await response.json()
  if (!info || typeof info.authority_key !== 'string' || typeof info.tz !== 'string') {
    throw new ApiError(response.status, 'bad_answer', 'the info answer is not as expected')
  }
  return { info, response }
}

/**
 * GET /v1/notices, the public list of exposure notices (revalidated with its ETag, so an
 * unchanged list costs a 304). Sends nothing about the wallet.
 * @param {typeof fetch} fetchFn
 */
export async function getNotices (fetchFn) {
  const response = await send(fetchFn, '/v1/notices', { method: 'GET', cache: 'no-cache', headers: { Accept: 'application/json' } })
  let body
  try {
    body = await response.json()
  } catch {
    throw new ApiError(response.status, 'bad_answer', 'the notices answer is not JSON')
  }
  return { body, response }
}

/**
 * POST a signed request; the decoded CBOR answer.
 * @param {typeof fetch} fetchFn
 * @param {string} path e.g. "enrol"
 * @param {Uint8Array} body
 */
export async function post (fetchFn, path, body) {
  if (body.length > MAX_BODY) throw new RangeError(`request over ${MAX_BODY} bytes`)
  const response = await send(fetchFn, `/v1/wallet/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/cbor', Accept: 'application/cbor' },
    body
  })
  const bytes = new Uint8Array(await response.arrayBuffer())
  if (bytes.length > MAX_ANSWER) throw new ApiError(response.status, 'bad_answer', 'answer too large')
  let answer
  try {
    answer = decode(bytes, { strict: true, rejectDuplicateMapKeys: true, allowUndefined: false, tags: [] })
  } catch {
    throw new ApiError(response.status, 'bad_answer', 'the answer is not CBOR')
  }
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) {
    throw new ApiError(response.status, 'bad_answer', 'the answer is not a CBOR map')
  }
  return { answer, response }
}
