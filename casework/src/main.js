/**
 * The case pages' script (aggregator/case_pages): on /staff/cases the "new case" form
 * (POST /v1/cases, then on to the case's page with the sealed answer kept in
 * sessionStorage for that page: sealed blobs only; in another tab, browser or day the
 * page asks the server for the case's kept opening, POST /v1/cases/<case>/opening,
 * audited `case-resumed`, one blob sealed to the HA key that it opens once the key is
 * loaded), on /staff/cases/<case> the work:
 * the HA key file and passphrase (read into memory only, never stored or sent), the
 * visits, exposures and call list (text nodes only: names are hostile data), the CSV
 * export (audit `export` first) and the notice.
 *
 * The page gives its strings and settings as JSON in #case-data ({case, tz, strings});
 * #status[data-state] is `idle`, `busy`, `ok` or `fail` for tests.
 */
import { caseApi, csrfToken } from './api.js'
import { exposureCsv } from './csv.js'
import { KeyFileError, loadAuthorityKey } from './keyfile.js'
import { openCaseOpening, SealError } from './seal.js'
import { fromB64, toB64, toHex } from './bytes.js'
import { dayOf, dayStartMs, noticeBody, traceCase } from './trace.js'

const STORE = 'safecode-case:'
const $ = (id) => document.getElementById(id)
const data = JSON.parse($('case-data').textContent)
const t = (key) => data.strings[key] ?? key
const api = caseApi(csrfToken(document))

function say (state, text, node = $('status')) {
  node.dataset.state = state
  node.textContent = text
}

function cell (text) {
  const td = document.createElement('td')
  td.textContent = text
  return td
}

function fill (tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement('tr')
    tr.append(...cells.map(cell))
    return tr
  }))
}

function refusal (err) {
  return err && err.status ? `${t('refused')} (${err.status} ${err.code})` : t('failed')
}

function when (ms) {
  return new Date(ms).toLocaleString(document.documentElement.lang === 'ko' ? 'ko-KR' : 'en-GB', { timeZone: data.tz, dateStyle: 'short', timeStyle: 'short' })
}

async function newCase (event) {
  event.preventDefault()
  const form = event.target
  const by = form.elements.by.value
  const body = {
    reason: form.elements.reason.value.trim(),
    start_ms: dayStartMs(form.elements.from.value, data.tz),
    end_ms: dayStartMs(form.elements.to.value, data.tz) + 86400000
  }
  body[by] = form.elements[by].value.trim()
  say('busy', t('opening'))
  try {
    const answer = await api.openCase(body)
    sessionStorage.setItem(STORE + answer.case, JSON.stringify(answer))
    window.location.assign(`/staff/cases/${answer.case}`)
  } catch (err) {
    say('fail', refusal(err))
  }
}

async function opening (caseId) {
  const kept = sessionStorage.getItem(STORE + caseId)
  if (kept) return JSON.parse(kept)
  let resumed
  try {
    resumed = await api.resume(caseId)
  } catch (err) {
    if (err.status === 410) return null // no opening kept (or retention deleted it)
    throw err
  }
  if (typeof resumed.sealed_opening !== 'string') return null
  sessionStorage.setItem(STORE + caseId, JSON.stringify(resumed))
  return resumed
}

/** The open answer's lists, from a resumed case's sealed opening (needs the HA key). */
async function unsealed (key, answer) {
  if (typeof answer.sealed_opening !== 'string') return answer
  const kept = await openCaseOpening(key, fromB64(answer.sealed_opening))
  return { ...answer, batches: kept.batches.map(toB64), owners: kept.owners.map(toB64), credentials: kept.credentials.map(toHex) }
}

let result = null

function show (found) {
  result = found
  fill($('visits-body'), found.visits.map((v) => [v.venue, when(v.start_ms), when(v.end_ms)]))
  fill($('exposures-body'), found.rows.map((r) => [r.venue, `${when(r.start_ms)} – ${when(r.end_ms)}`, String(Math.floor(r.overlap_s / 60)), t(r.code_type), r.name ?? (r.phone ? t('no_name') : t('unknown'))]))
  fill($('calls-body'), found.calls.map((c) => [c.name ?? t('no_name'), c.phone, c.language]))
  $('counts').textContent = `${t('count_visits')} ${found.visits.length} · ${t('count_exposures')} ${found.rows.length} · ${t('count_calls')} ${found.calls.length}` + (found.unreadable ? ` · ${t('count_unreadable')} ${found.unreadable}` : '')
  const days = found.rows.map((r) => r.start_ms).concat(found.rows.map((r) => r.end_ms))
  if (days.length) {
    $('from-day').value = dayOf(Math.min(...days), data.tz)
    $('to-day').value = dayOf(Math.max(...days), data.tz)
  }
  $('results').hidden = false
}

async function openWork (event) {
  event.preventDefault()
  const file = $('key-file').files[0]
  const passphrase = $('passphrase').value
  $('passphrase').value = ''
  $('results').hidden = true
  result = null
  say('busy', t('decrypting'))
  let key
  try {
    const sealed = await opening(data.case)
    if (!sealed) return say('fail', t('no_opening'))
    key = await loadAuthorityKey(file ? await file.text() : '', passphrase)
    const lists = await unsealed(key, sealed)
    const found = await traceCase(api, key, data.case, lists, (step) => say('busy', t(`step_${step}`)))
    show(found)
    say('ok', t('decrypted'))
  } catch (err) {
    if (err instanceof KeyFileError || (err instanceof SealError && err.reason === 'key')) {
      await api.audit(data.case, 'decrypt-failed', {}).catch(() => null)
      return say('fail', t(err instanceof KeyFileError && err.reason === 'not-a-key-file' ? 'not_key_file' : 'wrong_key'))
    }
    say('fail', refusal(err))
  } finally {
    key = null
  }
}

async function exportCsv () {
  if (!result) return
  try {
    await api.audit(data.case, 'export', { rows: result.rows.length })
  } catch (err) {
    return say('fail', refusal(err), $('export-status'))
  }
  const blob = new Blob([exposureCsv(result.rows, data.tz)], { type: 'text/csv;charset=utf-8' })
  const a = document.createElement('a')
  a.href = URL.createObjectURL(blob)
  a.download = `case-${data.case.slice(0, 8)}.csv`
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(a.href), 60000)
  say('ok', t('exported'), $('export-status'))
}

/** Guidance is one line of plain text (protocol/notice.py). */
const oneLine = (text) => text.normalize('NFC').replace(/\s+/g, ' ').trim()

async function publish (event) {
  event.preventDefault()
  if (!result) return
  const form = event.target
  say('busy', t('publishing'), $('notice-status'))
  try {
    const body = await noticeBody(result.rows, {
      from_day: form.elements.from_day.value,
      to_day: form.elements.to_day.value,
      guidance: { ko: oneLine(form.elements.guidance_ko.value), en: oneLine(form.elements.guidance_en.value) }
    })
    await api.publishNotice(data.case, body)
    say('ok', `${t('published')} (${body.notice})`, $('notice-status'))
  } catch (err) {
    say('fail', refusal(err), $('notice-status'))
  }
}

if ($('new-case-form')) $('new-case-form').addEventListener('submit', newCase)
if ($('key-form')) {
  $('key-form').addEventListener('submit', openWork)
  $('export-csv').addEventListener('click', exportCsv)
  $('notice-form').addEventListener('submit', publish)
}
