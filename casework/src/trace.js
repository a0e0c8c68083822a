/**
 * The official's whole case in the browser, without the DOM: open the case's sealed
 * lists with the HA key, ask for the exposures, open the owners and contacts, and
 * build the rows the page shows, the CSV and the notice. Nothing here keeps the key.
 */
import { chunks } from './api.js'
import { fromB64, toB64, toHex } from './bytes.js'
import { openBatchList, openContact, openOwner } from './seal.js'
import { noticeTag, NOTICE_ID_SIZE } from './tags.js'
import { isoInZone } from './csv.js'

/** Most enrolments per batches call, and credentials per exposures call (the API's limits). */
const MAX_ENROLMENTS = 64
const MAX_CREDENTIALS = 256

/** @param {string[]} b64s @param {(blob: Uint8Array) => Promise<any>} open */
function openAll (b64s, open) {
  return Promise.all(b64s.map((b) => open(fromB64(b))))
}

/**
 * Everything about a case the page shows.
 * @param {ReturnType<import('./api.js').caseApi>} api
 * @param {CryptoKey} key
 * @param {string} caseId
 * @param {{batches: string[], owners: string[], credentials: string[]}} opening POST /v1/cases's answer
 * @param {(step: string) => void} [progress]
 */
export async function traceCase (api, key, caseId, opening, progress = () => {}) {
  progress('open')
  const caseEnrolments = await openAll(opening.owners || [], (b) => openOwner(key, b))
  let batches = [...(opening.batches || [])]
  for (const part of chunks([...new Set(caseEnrolments.map(toB64))], MAX_ENROLMENTS)) batches = batches.concat((await api.batches(caseId, part)).batches)
  const lists = await openAll(batches, (b) => openBatchList(key, b))
  const credentials = [...new Set([...lists.flat().map(toHex), ...(opening.credentials || [])])]
  progress('exposures')
  const found = { case_visits: [], exposures: [], unreadable: 0 }
  for (const part of chunks(credentials, MAX_CREDENTIALS)) {
    const answer = await api.exposures(caseId, part)
    found.case_visits.push(...answer.case_visits)
    found.exposures.push(...answer.exposures)
    found.unreadable += answer.unreadable
  }
  progress('contacts')
  const handles = [...new Set(found.exposures.map((e) => e.handle))]
  const byHandle = new Map()
  const ownerOf = new Map()
  for (const part of chunks(handles)) {
    const answer = await api.contactsOfHandles(caseId, part)
    for (const { handle, contact } of answer.contacts) byHandle.set(handle, contact)
    const enrolments = await openAll(answer.owners.map((o) => o.owner), (b) => openOwner(key, b))
    answer.owners.forEach((o, i) => ownerOf.set(o.handle, toB64(enrolments[i])))
  }
  const mine = new Set(caseEnrolments.map(toB64))
  const byEnrolment = new Map()
  for (const part of chunks([...new Set(ownerOf.values())].filter((e) => !mine.has(e)))) {
    for (const { enrolment, contact } of (await api.contactsOfEnrolments(caseId, part)).contacts) byEnrolment.set(enrolment, contact)
  }
  const sealed = new Map()
  for (const h of handles) {
    const blob = byHandle.get(h) ?? byEnrolment.get(ownerOf.get(h))
    if (blob) sealed.set(h, blob)
  }
  const blobs = [...new Set(sealed.values())]
  const opened = new Map((await openAll(blobs, (b) => openContact(key, b))).map((c, i) => [blobs[i], c]))
  const rows = found.exposures
    .filter((e) => !mine.has(ownerOf.get(e.handle)))
    .map((e) => {
      const c = sealed.has(e.handle) ? opened.get(sealed.get(e.handle)) : null
      return { ...e, name: c ? c.name : null, phone: c ? c.phone : null, language: c ? c.lang : null, notify: c ? c.notify : null }
    })
  progress('done')
  return { visits: found.case_visits, rows, unreadable: found.unreadable, calls: callList(rows) }
}

/** One line per person (phone, name, language), in the order first seen. */
export function callList (rows) {
  const seen = new Map()
  for (const r of rows) {
    if (!r.phone) continue
    const id = `${r.phone}\n${r.name ?? ''}\n${r.language}`
    if (!seen.has(id)) seen.set(id, { name: r.name, phone: r.phone, language: r.language })
  }
  return [...seen.values()]
}

/** The local day (`YYYY-MM-DD`) of `ms` in `tz`. */
export function dayOf (ms, tz) {
  return isoInZone(ms, tz).slice(0, 10)
}

/**
 * The notice body for POST /v1/cases/<case>/notices: a fresh id and one tag per
 * distinct notify secret.
 * @param {Array<{notify: Uint8Array|null}>} rows
 * @param {{from_day: string, to_day: string, guidance: {ko: string, en: string}}} fields
 */
export async function noticeBody (rows, fields) {
  const notice = crypto.getRandomValues(new Uint8Array(NOTICE_ID_SIZE))
  const secrets = new Map()
  for (const r of rows) if (r.notify) secrets.set(toHex(r.notify), r.notify)
  const tags = await Promise.all([...secrets.values()].map((s) => noticeTag(s, notice)))
  return { notice: toHex(notice), tags: tags.map(toB64).sort(), ...fields }
}

/** Midnight starting `day` (`YYYY-MM-DD`) in `tz`, as ms. */
export function dayStartMs (day, tz) {
  const [y, m, d] = day.split('-').map(Number)
  const wall = Date.UTC(y, m - 1, d)
  let ms = wall
  for (let i = 0; i < 3; i++) {
    const iso = isoInZone(ms, tz)
    const sign = iso[19] === '-' ? -1 : 1
    const offset = sign * (Number(iso.slice(20, 22)) * 60 + Number(iso.slice(23, 25))) * 60000
    ms = wall - offset
  }
  return ms
}

