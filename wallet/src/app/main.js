/**
 * The wallet page: one screen at a time in <main id="app">, its name in
 * body[data-state] (loading, unsupported, enrol, enrolling, code, diagnostic,
 * offline-no-credentials, no-credential, expired, settings, notices, busy),
 * body[data-offline] and body[data-notice] (shown: an exposure notice #notice is on the
 * screen; dismissed: the wallet holds notices, none on the screen; none). The code is the
 * canvas #qr.
 */
import { Wallet } from './wallet.js'
import { openStore } from './store.js'
import { LANGUAGES, MESSAGES, pickLanguage, t } from './i18n.js'
import { draw } from './qr.js'
import { h } from './dom.js'
import { ApiError, OfflineError } from './api.js'
import { toE164 } from '../protocol/phone.js'
import { nameProblem } from '../protocol/contact.js'
import { CodeType } from '../protocol/presentation.js'

const RESIGN_S = 10
const REFRESH_EVERY_MS = 60_000
const DEFAULT_COUNTRY = '82'
/** How often to ask whether the notice list is due (Wallet.noticesDue decides). */
const NOTICE_TICK_MS = 10 * 60_000

const root = /** @type {HTMLElement} */ (document.getElementById('app'))
let lang = 'ko'
/** @type {Wallet} */
let wallet
/** @type {number[]} */
let timers = []
/** @type {Promise<unknown>|null} */
let refreshing = null
/** @type {any} */
let wakeLock = null
/** @type {Promise<unknown>|null} */
let checkingNotices = null

/** @param {string} key @param {Record<string, string|number>} [params] */
const m = (key, params) => t(lang, key, params)

function stopTimers () {
  for (const id of timers) clearInterval(id)
  timers = []
  if (wakeLock) wakeLock.release().catch(() => {})
  wakeLock = null
}

/**
 * Show one screen.
 * @param {string} state
 * @param {...(Node|null)} nodes
 */
function show (state, ...nodes) {
  stopTimers()
  document.documentElement.lang = lang
  document.title = m('title')
  root.replaceChildren(...nodes.filter(Boolean))
  document.body.dataset.state = state
  const held = wallet && wallet.notices.length > 0
  document.body.dataset.notice = root.querySelector('#notice') ? 'shown' : held ? 'dismissed' : 'none'
}

function markOnline () {
  document.body.dataset.offline = String(navigator.onLine === false)
}

/** @param {number} seconds @param {string} [style] */
function formatDate (seconds, style = 'full') {
  return new Intl.DateTimeFormat(lang, { dateStyle: /** @type {any} */ (style), timeZone: wallet.tz }).format(new Date(seconds * 1000))
}

/**
 * A site-local day (YYYY-MM-DD) in the reader's language.
 * @param {string} day
 */
function formatDay (day) {
  return new Intl.DateTimeFormat(lang, { dateStyle: 'long', timeZone: 'UTC' }).format(new Date(day + 'T00:00:00Z'))
}

/**
 * One exposure notice. Its guidance is hostile data: it goes in as text (dom.js h()).
 * @param {any} notice a stored notice (Wallet.notices)
 * @param {boolean} banner the dismissible banner #notice on the main screen
 */
function noticeCard (notice, banner) {
  const dismiss = async () => {
    await wallet.dismissNotice(notice.notice)
    route()
  }
  return h('section', { class: 'exposure', id: banner ? 'notice' : null, role: banner ? 'status' : null, dataset: { notice: notice.notice } },
    h('h2', { text: m('noticeTitle') }),
    h('p', { class: 'notice-dates', text: m('noticeDates', { from: formatDay(notice.from_day), to: formatDay(notice.to_day) }) }),
    h('h3', { text: m('noticeWhatToDo') }),
    h('p', { class: 'guidance', text: notice.guidance[lang] || notice.guidance.en }),
    h('p', { class: 'hint', text: m('noticePrivate') }),
    h('p', { class: 'hint', text: m('noticePublished', { date: formatDate(notice.published_ms / 1000, 'medium') }) }),
    banner ? h('button', { type: 'button', id: 'notice-dismiss', onclick: dismiss, text: m('noticeDismiss') }) : null)
}

/** The newest notice not yet dismissed, as a banner (null if none). */
function noticeBanner () {
  const open = wallet.openNotices()
  return open.length ? noticeCard(open[0], true) : null
}

/** The button to the list of every notice this phone holds (null if none). */
function noticesButton () {
  if (!wallet.notices.length) return null
  return h('button', { type: 'button', id: 'notices', class: 'link', onclick: showNotices, text: m('noticesButton', { n: wallet.notices.length }) })
}

/** Every notice this phone holds, dismissed ones too, newest first. */
function showNotices () {
  show('notices', header(),
    h('h2', { text: m('noticesTitle') }),
    ...[...wallet.notices].reverse().map((n) => noticeCard(n, false)),
    h('p', { class: 'hint', text: m('noticesKept') }),
    h('nav', {}, h('button', { type: 'button', id: 'back', onclick: () => route(), text: m('back') })))
}

/**
 * Fetch the notice list when it is due (`force`: at start) and show a new match at once
 * on the main screens. Never while offline; a failure waits for the next tick.
 * @param {boolean} [force]
 */
function checkNoticesInBackground (force = false) {
  if (checkingNotices || navigator.onLine === false || !wallet || !wallet.noticesDue(force)) return
  checkingNotices = wallet.checkNotices()
    .then((fresh) => {
      const state = document.body.dataset.state || ''
      if (fresh.length && ['code', 'no-credential', 'offline-no-credentials', 'expired'].includes(state)) route()
    })
    .catch(() => {})
    .finally(() => { checkingNotices = null })
}

/** @param {unknown} err */
function errorText (err) {
  if (err instanceof OfflineError) return m('networkError')
  if (err instanceof ApiError) return m('serverRefused', { message: err.message })
  return m('serverRefused', { message: String(err && /** @type {Error} */ (err).message) })
}

function header () {
  const other = LANGUAGES.find((l) => l !== lang) || 'en'
  return h('header', {},
    h('h1', { text: m('title') }),
    h('button', { type: 'button', class: 'link', id: 'lang', lang: other, onclick: () => setLanguage(other) }, MESSAGES[other].langName))
}

/** @param {string} next */
async function setLanguage (next) {
  lang = next
  await wallet.store.set('lang', lang)
  if (document.body.dataset.state === 'notices') showNotices()
  else route()
}

/**
 * The phone, name and country fields shared by enrolment and "change phone number".
 * @param {string} prefix
 */
function contactFields (prefix) {
  const cc = h('input', { id: `${prefix}-cc`, name: 'cc', inputmode: 'numeric', autocomplete: 'tel-country-code', value: DEFAULT_COUNTRY, maxlength: 3, size: 3, pattern: '[0-9]{1,3}', required: true })
  const phone = h('input', { id: `${prefix}-phone`, name: 'phone', type: 'tel', inputmode: 'tel', autocomplete: 'tel-national', maxlength: 32, required: true, placeholder: '010-1234-5678' })
  const name = h('input', { id: `${prefix}-name`, name: 'name', autocomplete: 'name', maxlength: 64 })
  const node = h('div', { class: 'fields' },
    h('div', { class: 'row' },
      h('label', { class: 'cc' }, h('span', { text: m('countryLabel') }), h('span', { class: 'plus', text: '+' }), cc),
      h('label', { class: 'grow' }, h('span', { text: m('phoneLabel') }), phone)),
    h('p', { class: 'hint', text: m('phoneHint', { cc: DEFAULT_COUNTRY }) }),
    h('label', {}, h('span', { text: m('nameLabel') }), name))
  const read = () => {
    const e164 = toE164(/** @type {HTMLInputElement} */ (phone).value, /** @type {HTMLInputElement} */ (cc).value.trim())
    if (!e164) return { error: m('phoneInvalid') }
    const typed = /** @type {HTMLInputElement} */ (name).value.trim().normalize('NFC')
    if (typed && nameProblem(typed)) return { error: m('nameInvalid') }
    return { phone: e164, name: typed || null }
  }
  return { node, read }
}

/** @param {string} [notice] */
function showEnrol (notice) {
  const fields = contactFields('enrol')
  const consent = h('input', { type: 'checkbox', id: 'consent', name: 'consent' })
  const select = h('select', { id: 'enrol-lang', onchange: (/** @type {Event} */ e) => setLanguage(/** @type {HTMLSelectElement} */ (e.target).value) },
    ...LANGUAGES.map((l) => h('option', { value: l, selected: l === lang, text: MESSAGES[l].langName })))
  const error = h('p', { class: 'error', role: 'alert', id: 'enrol-error' })
  const form = h('form', {
    id: 'enrol',
    novalidate: true,
    onsubmit: async (/** @type {Event} */ e) => {
      e.preventDefault()
      const read = fields.read()
      if ('error' in read) { error.textContent = read.error; return }
      if (!(/** @type {HTMLInputElement} */ (consent).checked)) { error.textContent = m('consentNeeded'); return }
      const saved = root.firstChild ? [...root.childNodes] : []
      show('enrolling', header(), h('p', { class: 'busy', text: m('enrolling') }))
      try {
        await wallet.enrol({ phone: read.phone, name: read.name, lang })
        route()
      } catch (err) {
        if (wallet.enrolled) { route(); return }
        show('enrol', ...saved)
        error.textContent = errorText(err)
      }
    }
  },
  fields.node,
  h('label', {}, h('span', { text: m('langLabel') }), select),
  h('section', { class: 'consent' },
    h('h2', { text: m('consentTitle') }),
    h('p', { text: m('consentStored') }),
    h('p', { text: m('consentWho') }),
    h('p', { text: m('consentDays') }),
    h('label', { class: 'check' }, consent, h('span', { text: m('consentCheck') }))),
  error,
  h('button', { type: 'submit', class: 'primary', id: 'enrol-submit', text: m('enrolButton') }))
  show('enrol', header(),
    notice ? h('p', { class: 'notice', role: 'status', text: notice }) : null,
    h('h2', { text: m('enrolTitle') }), h('p', { text: m('enrolIntro') }), form)
}

/** Fetch a batch in the background when few days are left (never more than one at a time). */
function refreshInBackground () {
  if (refreshing || navigator.onLine === false || !wallet.needsBatch()) return
  refreshing = wallet.fetchBatch().catch(() => {}).finally(() => { refreshing = null })
}

/** @param {number} codeType */
function showCode (codeType) {
  const diagnostic = codeType === CodeType.DIAGNOSTIC
  const canvas = /** @type {HTMLCanvasElement} */ (h('canvas', { id: 'qr', role: 'img' }))
  const title = h('h2', { id: 'code-title' })
  const count = h('p', { id: 'countdown', class: 'countdown', 'aria-live': 'off' })
  const fill = h('div', { id: 'bar' })
  const bar = h('div', { class: 'bar' }, fill)
  const until = h('p', { class: 'hint', id: 'valid-until' })
  let nextAt = 0
  let day = ''
  let busy = false
  const tick = async () => {
    if (busy) return
    busy = true
    try {
      const now = wallet.now()
      if (now >= nextAt) {
        const code = await wallet.code(codeType)
        if (!code) { route(); return }
        draw(canvas, code.text, Math.min(window.innerWidth - 24, window.innerHeight * 0.62, 560))
        canvas.setAttribute('aria-label', m(diagnostic ? 'diagnosticTitle' : 'codeTitle', { date: code.day }))
        nextAt = now + RESIGN_S
        if (code.day !== day) {
          day = code.day
          title.textContent = diagnostic ? m('diagnosticTitle') : m('codeTitle', { date: formatDate(code.notAfter - 1) })
          const last = wallet.credentials[wallet.credentials.length - 1]
          until.textContent = last ? m('validUntil', { date: formatDate(last.notAfter - 1, 'medium') }) : ''
        }
        document.body.dataset.state = diagnostic ? 'diagnostic' : 'code'
      }
      const left = Math.max(0, nextAt - wallet.now())
      count.textContent = m('nextCode', { s: left })
      fill.style.width = `${(left / RESIGN_S) * 100}%`
    } finally {
      busy = false
    }
  }
  show('busy', header(),
    diagnostic ? null : noticeBanner(),
    title,
    h('div', { class: 'qr-box' }, canvas),
    count, bar,
    h('p', { class: 'hint bright', text: m(diagnostic ? 'diagnosticHint' : 'codeHint') }),
    h('p', { class: 'offline', role: 'status', text: m('offlineBanner') }),
    diagnostic ? null : until,
    h('nav', {},
      diagnostic
        ? h('button', { type: 'button', id: 'back', onclick: () => showCode(CodeType.CHECKIN), text: m('back') })
        : h('button', { type: 'button', id: 'health', onclick: () => showCode(CodeType.DIAGNOSTIC), text: m('healthButton') }),
      diagnostic ? null : noticesButton(),
      h('button', { type: 'button', id: 'settings', class: 'link', onclick: showSettings, text: m('settings') })))
  tick()
  timers.push(setInterval(tick, 1000))
  timers.push(setInterval(refreshInBackground, REFRESH_EVERY_MS))
  refreshInBackground()
  if ('wakeLock' in navigator) {
    /** @type {any} */ (navigator).wakeLock.request('screen').then((/** @type {any} */ lock) => { wakeLock = lock }).catch(() => {})
  }
}

/**
 * No code for today: say why, offer to try again.
 * @param {unknown} err
 */
function showProblem (err) {
  let state = 'no-credential'
  if (err instanceof OfflineError) state = 'offline-no-credentials'
  else if (wallet.ranOut()) state = 'expired'
  const text = { 'no-credential': m('noCredential'), 'offline-no-credentials': m('offlineNoCredentials'), expired: m('expired') }[state]
  show(state, header(),
    noticeBanner(),
    h('p', { class: 'problem', role: 'alert', id: 'problem', text }),
    err instanceof ApiError ? h('p', { class: 'hint', text: errorText(err) }) : null,
    h('nav', {},
      h('button', { type: 'button', class: 'primary', id: 'retry', onclick: () => route(true), text: m('retry') }),
      noticesButton(),
      h('button', { type: 'button', id: 'settings', class: 'link', onclick: showSettings, text: m('settings') })))
}

function showSettings () {
  const fields = contactFields('change')
  const status = h('p', { class: 'notice', role: 'status', id: 'settings-status' })
  const changeForm = h('form', {
    id: 'change',
    novalidate: true,
    onsubmit: async (/** @type {Event} */ e) => {
      e.preventDefault()
      const read = fields.read()
      if ('error' in read) { status.textContent = read.error; return }
      status.textContent = '…'
      try {
        await wallet.changeContact({ phone: read.phone, name: read.name, lang })
        status.textContent = m('contactSaved')
      } catch (err) {
        status.textContent = errorText(err)
      }
    }
  }, fields.node, h('button', { type: 'submit', id: 'change-submit', text: m('changePhoneButton') }))
  const leave = async () => {
    if (!window.confirm(m('leaveConfirm'))) return
    status.textContent = '…'
    try {
      await wallet.leave()
      showEnrol(m('left'))
    } catch (err) {
      status.textContent = err instanceof OfflineError ? m('leaveOffline') : errorText(err)
    }
  }
  show('settings', header(),
    h('h2', { text: m('settingsTitle') }),
    h('section', {},
      h('h3', { text: m('langLabel') }),
      h('div', { class: 'row' }, ...LANGUAGES.map((l) => h('button', { type: 'button', class: l === lang ? 'chosen' : '', 'aria-pressed': String(l === lang), lang: l, onclick: () => { lang = l; wallet.store.set('lang', l).then(showSettings) }, text: MESSAGES[l].langName })))),
    h('section', {}, h('h3', { text: m('changePhoneTitle') }), changeForm),
    h('section', { class: 'danger' },
      h('h3', { text: m('leaveTitle') }),
      h('p', { text: m('leaveText') }),
      h('button', { type: 'button', id: 'leave', class: 'danger', onclick: leave, text: m('leaveButton') })),
    status,
    h('nav', {}, h('button', { type: 'button', id: 'back', onclick: () => route(), text: m('back') })))
}

/**
 * Show what fits the wallet's state: enrolment, today's code, or why there is none.
 * @param {boolean} [retry] try the batch even when it was tried a moment ago
 */
async function route (retry = false) {
  if (!wallet.enrolled) { showEnrol(); return }
  if (wallet.today()) { showCode(CodeType.CHECKIN); return }
  if (retry && wallet.batch) await wallet.setBatch({ ...wallet.batch, retryAt: 0 })
  if (!wallet.needsBatch()) { showProblem(navigator.onLine === false ? new OfflineError() : null); return }
  show('busy', header(), h('p', { class: 'busy', text: m('loading') }))
  try {
    await wallet.fetchBatch()
  } catch (err) {
    if (!wallet.enrolled) { showEnrol(m('unenrolled')); return }
    if (!wallet.today()) { showProblem(err); return }
  }
  route()
}

/** What this browser lacks to keep the wallet's keys (null if nothing). */
async function missingFeature () {
  if (!window.indexedDB || !window.crypto || !crypto.subtle) return 'indexedDB/WebCrypto'
  try {
    await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])
  } catch { return 'Ed25519' }
  try {
    await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])
  } catch { return 'X25519' }
  return null
}

async function start () {
  markOnline()
  window.addEventListener('online', () => { markOnline(); refreshInBackground(); checkNoticesInBackground() })
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') checkNoticesInBackground() })
  window.addEventListener('offline', markOnline)
  lang = pickLanguage(navigator.languages || [navigator.language])
  let store
  try {
    store = openStore()
    wallet = await new Wallet({ store, fetch: (...args) => fetch(...args) }).load()
  } catch {
    show('unsupported', h('p', { class: 'problem', text: m('unsupported') }))
    return
  }
  const saved = await store.get('lang')
  if (LANGUAGES.includes(saved)) lang = saved
  if (!wallet.enrolled) {
    const missing = await missingFeature()
    if (missing) {
      show('unsupported', header(), h('p', { class: 'problem', role: 'alert', dataset: { missing }, text: m('unsupported') }))
      return
    }
  }
  route()
  checkNoticesInBackground(true)
  setInterval(() => checkNoticesInBackground(), NOTICE_TICK_MS)
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/wallet/sw.js', { scope: '/wallet' }).catch(() => {})
  }
}

start()
