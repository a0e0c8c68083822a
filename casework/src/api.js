/**
 * The case API (`/v1/cases...`, docs in /work/case-api.md's endpoints): JSON bodies on
 * the same origin, with the staff session cookie and the page's CSRF token (from
 * `<meta name="csrf-token">`) in `X-CSRFToken`. A refusal is an ApiError with the
 * status and the server's `error` code.
 */
export const MAX_PER_CALL = 500

export class ApiError extends Error {
  /** @param {number} status @param {string} code */
  constructor (status, code) {
    super(`the server answered ${status} ${code}`)
    this.status = status
    this.code = code
  }
}

/** @param {Document} doc */
export function csrfToken (doc) {
  const meta = doc.querySelector('meta[name="csrf-token"]')
  return meta ? meta.getAttribute('content') || '' : ''
}

/**
 * A client bound to a CSRF token and a fetch function.
 * @param {string} token
 * @param {typeof fetch} fetchImpl
 */
export function caseApi (token, fetchImpl = globalThis.fetch.bind(globalThis)) {
  /** @param {string} method @param {string} path @param {unknown} [body] */
  async function call (method, path, body) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', 'X-CSRFToken': token } }
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json'
      init.body = JSON.stringify(body)
    }
    const res = await fetchImpl(path, init)
    let data = null
    try {
      data = await res.json()
    } catch {
      data = null
    }
    if (!res.ok) throw new ApiError(res.status, (data && typeof data.error === 'string') ? data.error : 'error')
    if (data === null || typeof data !== 'object') throw new ApiError(res.status, 'not_json')
    return data
  }
  const post = (path, body) => call('POST', path, body)
  const base = (c) => `/v1/cases/${encodeURIComponent(c)}`
  return {
    openCase: (body) => post('/v1/cases', body),
    summary: (c) => call('GET', base(c)),
    resume: (c) => post(`${base(c)}/opening`, {}),
    batches: (c, enrolments) => post(`${base(c)}/batches`, { enrolments }),
    exposures: (c, credentials) => post(`${base(c)}/exposures`, { credentials }),
    contactsOfHandles: (c, handles) => post(`${base(c)}/contacts`, { handles }),
    contactsOfEnrolments: (c, enrolments) => post(`${base(c)}/contacts`, { enrolments }),
    audit: (c, action, counts) => post(`${base(c)}/audit`, { action, counts }),
    publishNotice: (c, notice) => post(`${base(c)}/notices`, notice)
  }
}

/**
 * `items` in slices of at most MAX_PER_CALL.
 * @template T
 * @param {T[]} items
 */
export function chunks (items, size = MAX_PER_CALL) {
  const out = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
