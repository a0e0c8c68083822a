// The whole case without a DOM (src/trace.js) against a fake case API that answers with
// the sealed vectors of protocol/vectors/casework.json, and the API client's headers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { loadAuthorityKey } from '../src/keyfile.js'
import { caseApi, chunks } from '../src/api.js'
import { callList, dayStartMs, noticeBody, traceCase } from '../src/trace.js'
import { fromHex, toB64 } from '../src/bytes.js'
import { noticeTag } from '../src/tags.js'

const V = JSON.parse(await readFile(new URL('../../protocol/vectors/casework.json', import.meta.url), 'utf8'))
const key = await loadAuthorityKey(V.key_file.pem, V.key_file.passphrase)
const b64 = (hex) => toB64(fromHex(hex))
const CASE = 'ab'.repeat(16)

/** A fake /v1/cases: owner 0 is the case's enrolment; exposures h1 (owner 1), h2 (owner 2), h3 (a card). */
function fakeApi (calls) {
  const exposure = (handle, codeType) => ({ venue: 'cafe', case_start_ms: 0, case_end_ms: 3600000, start_ms: 600000, end_ms: 4200000, overlap_s: 3000, code_type: codeType, handle })
  return {
    batches: async (c, enrolments) => { calls.push(['batches', enrolments]); return { batches: [V.batches[1].blob].map(b64) } },
    exposures: async (c, credentials) => { calls.push(['exposures', credentials]); return { case_visits: [{ venue: 'cafe', start_ms: 0, end_ms: 3600000 }], exposures: [exposure('h1', 'checkin'), exposure('h2', 'checkin'), exposure('h3', 'card')], unreadable: 1 } },
    contactsOfHandles: async (c, handles) => {
      calls.push(['handles', handles])
      return { owners: [{ handle: 'h1', owner: b64(V.owners[1].blob) }, { handle: 'h2', owner: b64(V.owners[2].blob) }], contacts: [{ handle: 'h3', contact: b64(V.contacts[2].blob) }] }
    },
    contactsOfEnrolments: async (c, enrolments) => {
      calls.push(['enrolments', enrolments])
      return { contacts: [{ enrolment: enrolments[0], contact: b64(V.contacts[0].blob) }, { enrolment: enrolments[1], contact: b64(V.contacts[1].blob) }] }
    }
  }
}

test('a case by code: owner, batches, exposures, owners, contacts', async () => {
  const calls = []
  const opening = { batches: [b64(V.batches[0].blob)], owners: [b64(V.owners[0].blob)], credentials: ['00'.repeat(8)] }
  const found = await traceCase(fakeApi(calls), key, CASE, opening)
  assert.deepEqual(calls[0], ['batches', [b64(V.owners[0].enrolment)]])
  const credentials = calls[1][1]
  assert.deepEqual(credentials, [...V.batches[0].credentials, ...V.batches[1].credentials, '00'.repeat(8)])
  assert.deepEqual(calls[3], ['enrolments', [V.owners[1].enrolment, V.owners[2].enrolment].map(b64)])
  assert.deepEqual(found.rows.map((r) => [r.handle, r.phone, r.name]), [
    ['h1', V.contacts[0].phone, V.contacts[0].name],
    ['h2', V.contacts[1].phone, null],
    ['h3', V.contacts[2].phone, V.contacts[2].name]
  ])
  assert.equal(found.calls.length, 3)
  assert.equal(found.unreadable, 1)
})

test('the notice carries one sorted tag per notify secret', async () => {
  const rows = V.contacts.slice(0, 3).map((c) => ({ notify: fromHex(c.notify) }))
  rows.push({ notify: fromHex(V.contacts[0].notify) }, { notify: null })
  const body = await noticeBody(rows, { from_day: '2026-12-01', to_day: '2026-12-03', guidance: { ko: '안내', en: 'guidance' } })
  assert.match(body.notice, /^[0-9a-f]{32}$/)
  const expected = await Promise.all(V.contacts.slice(0, 3).map((c) => noticeTag(fromHex(c.notify), fromHex(body.notice))))
  assert.deepEqual(body.tags, expected.map(toB64).sort())
})

test('the call list has one line per person', () => {
  const rows = [{ phone: '+821012345678', name: 'A', language: 'ko' }, { phone: '+821012345678', name: 'A', language: 'ko' }, { phone: null }]
  assert.equal(callList(rows).length, 1)
})

test('days start at local midnight in the zone', () => {
  assert.equal(new Date(dayStartMs('2026-12-03', 'Asia/Seoul')).toISOString(), '2026-12-02T15:00:00.000Z')
  assert.equal(new Date(dayStartMs('2026-03-08', 'America/New_York')).toISOString(), '2026-03-08T05:00:00.000Z')
  assert.equal(new Date(dayStartMs('2026-03-09', 'America/New_York')).toISOString(), '2026-03-09T04:00:00.000Z')
})

test('the API client sends JSON with the CSRF header and reports refusals', async () => {
  const seen = []
  const fetchImpl = async (path, init) => {
    seen.push([path, init])
    return path.endsWith('/audit') ? new Response('{"error":"csrf_refused"}', { status: 400 }) : new Response('{"batches":[]}')
  }
  const api = caseApi('tok', fetchImpl)
  assert.deepEqual(await api.batches(CASE, []), { batches: [] })
  assert.equal(seen[0][0], `/v1/cases/${CASE}/batches`)
  assert.equal(seen[0][1].headers['X-CSRFToken'], 'tok')
  assert.equal(seen[0][1].headers['Content-Type'], 'application/json')
  assert.equal(seen[0][1].credentials, 'same-origin')
  await assert.rejects(api.audit(CASE, 'export', {}), (e) => e.status === 400 && e.code === 'csrf_refused')
  assert.deepEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]])
})

test('no credential: no API call, an empty case', async () => {
  const calls = []
  const found = await traceCase(fakeApi(calls), key, CASE, { batches: [], owners: [], credentials: [] })
  assert.deepEqual(calls, [])
  assert.deepEqual([found.rows, found.calls, found.visits], [[], [], []])
})
